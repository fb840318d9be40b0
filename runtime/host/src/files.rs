//! A component's own data files: what its packages read from disk when
//! first called (`tzdata`'s zone files, a package's metadata), which a
//! snapshot of imported modules cannot hold.
//!
//! The build stores them in the component's `mfw-files` custom section, an
//! mfw-encoding map from relative path to bytes. The host unpacks them once
//! per component and gives each task a read-only view of them at the path
//! the build ran the code from (`/0`), so a package finds its files where
//! it left them. A task sees nothing else of the host through this: the
//! files come from the component itself.

use std::path::{Component as PathPart, Path, PathBuf};

use mfw_encoding::Value;

/// The custom section that holds a component's data files.
pub const FILES_SECTION: &str = "mfw-files";

/// Where a task sees the files: the directory componentize-py ran the app
/// from at build time (its first Python path entry, `/0`).
pub(crate) const GUEST_DIR: &str = "0";

/// The most files and bytes a section may unpack to, so a hostile
/// component cannot fill the disk beyond its own size by much.
const MAX_FILES: usize = 200_000;

/// Why a component's data files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The section is not a map of relative paths to bytes.
    #[error("its {FILES_SECTION} section is malformed: {0}")]
    Malformed(String),
    /// Unpacking failed.
    #[error("cannot unpack its data files into {path}: {source}")]
    Unpack {
        /// The directory being written.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

/// The unpacked files of one component: a directory under the cache, or a
/// temporary one removed with the component.
#[derive(Debug)]
pub(crate) enum FilesDir {
    Cached(PathBuf),
    Temporary(tempfile::TempDir),
}

impl FilesDir {
    pub(crate) fn path(&self) -> &Path {
        match self {
            FilesDir::Cached(path) => path,
            FilesDir::Temporary(dir) => dir.path(),
        }
    }
}

/// Unpacks the data files of `bytes` (a component whose blake3 is `hash`)
/// under `cache`/files/`hash`, or a temporary directory without a cache.
/// `None` when the component has no such section.
pub(crate) fn unpack(
    bytes: &[u8],
    hash: &str,
    cache: Option<&Path>,
) -> Result<Option<FilesDir>, FilesError> {
    let Some(section) = crate::contract::custom_section(bytes, FILES_SECTION) else {
        return Ok(None);
    };
    let files = parse(&section)?;
    let unpack_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FilesError::Unpack { path, source }
    };
    let Some(cache) = cache else {
        let dir = tempfile::tempdir().map_err(unpack_error(&std::env::temp_dir()))?;
        write_all(dir.path(), &files).map_err(unpack_error(dir.path()))?;
        return Ok(Some(FilesDir::Temporary(dir)));
    };
    let root = cache.join("files");
    let done = root.join(hash);
    if done.is_dir() {
        return Ok(Some(FilesDir::Cached(done)));
    }
    std::fs::create_dir_all(&root).map_err(unpack_error(&root))?;
    // Unpacked beside, then renamed into place whole: a run killed midway
    // leaves no half directory under the final name.
    let staging = tempfile::Builder::new()
        .prefix(&format!("{hash}."))
        .tempdir_in(&root)
        .map_err(unpack_error(&root))?;
    write_all(staging.path(), &files).map_err(unpack_error(staging.path()))?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &done) {
        // Another process unpacked the same component first: same content.
        let _ = std::fs::remove_dir_all(&staged);
        if !done.is_dir() {
            return Err(FilesError::Unpack {
                path: done,
                source: e,
            });
        }
    }
    Ok(Some(FilesDir::Cached(done)))
}

/// The section's files, each path checked to stay inside the directory.
fn parse(section: &[u8]) -> Result<Vec<(PathBuf, Vec<u8>)>, FilesError> {
    let value = mfw_encoding::decode(section).map_err(|e| FilesError::Malformed(e.to_string()))?;
    let Value::Map(entries) = value else {
        return Err(FilesError::Malformed(format!(
            "expected a map, found a {}",
            value.kind()
        )));
    };
    if entries.len() > MAX_FILES {
        return Err(FilesError::Malformed(format!(
            "{} files, more than the {MAX_FILES} allowed",
            entries.len()
        )));
    }
    entries
        .into_iter()
        .map(|(path, content)| match (path, content) {
            (Value::Text(path), Value::Bytes(content)) => Ok((checked(&path)?, content)),
            (path, _) => Err(FilesError::Malformed(format!(
                "entry {path} is not a path with bytes"
            ))),
        })
        .collect()
}

/// `path` if it is relative and names only ordinary parts (no `..`, no
/// root, no empty or current-directory parts).
fn checked(path: &str) -> Result<PathBuf, FilesError> {
    let parsed = Path::new(path);
    let ordinary = !path.is_empty()
        && !path.contains('\0')
        && !path.ends_with('/')
        && !path.contains("//")
        && parsed
            .components()
            .all(|part| matches!(part, PathPart::Normal(_)))
        && !path.split('/').any(|part| part == "." || part.is_empty());
    if ordinary {
        Ok(parsed.to_path_buf())
    } else {
        Err(FilesError::Malformed(format!(
            "path {path:?} is not a relative path inside the component's directory"
        )))
    }
}

fn write_all(dir: &Path, files: &[(PathBuf, Vec<u8>)]) -> std::io::Result<()> {
    for (relative, content) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // create_new: a path given twice, or one that is also a directory,
        // is an error rather than a silent overwrite.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::io::Write::write_all(&mut file, content)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(entries: Vec<(Value, Value)>) -> Vec<u8> {
        mfw_encoding::encode(&Value::Map(entries))
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn paths_that_could_leave_the_directory_are_refused() {
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "a/./b",
            "",
            "a//b",
            "a/",
            ".",
            "a\0b",
        ] {
            let err = checked(bad).unwrap_err();
            assert!(
                err.to_string().contains("not a relative path"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            checked("tzdata/zoneinfo/UTC").unwrap(),
            Path::new("tzdata/zoneinfo/UTC")
        );
    }

    #[test]
    fn a_section_unpacks_once_into_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let files = section(vec![
            (text("pkg/data.txt"), Value::Bytes(b"hello".to_vec())),
            (
                text("pkg-1.0.dist-info/METADATA"),
                Value::Bytes(b"Name: pkg".to_vec()),
            ),
        ]);
        let dir = unpack_section(&files, "h1", Some(cache.path())).unwrap();
        assert_eq!(dir.path(), cache.path().join("files/h1"));
        assert_eq!(
            std::fs::read(dir.path().join("pkg/data.txt")).unwrap(),
            b"hello"
        );
        // A second load finds it unpacked.
        std::fs::write(dir.path().join("marker"), "").unwrap();
        let again = unpack_section(&files, "h1", Some(cache.path())).unwrap();
        assert!(again.path().join("marker").exists());
    }

    #[test]
    fn malformed_sections_are_refused_and_leave_nothing() {
        let cache = tempfile::tempdir().unwrap();
        for bad in [
            mfw_encoding::encode(&Value::Array(vec![])),
            section(vec![(text("../x"), Value::Bytes(vec![]))]),
            section(vec![(text("x"), Value::Integer(1))]),
            section(vec![
                (text("a"), Value::Bytes(vec![])),
                (text("a/b"), Value::Bytes(vec![])),
            ]),
        ] {
            assert!(unpack_section(&bad, "h2", Some(cache.path())).is_err());
        }
        let left: Vec<_> = std::fs::read_dir(cache.path().join("files"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.iter().all(|n| n != "h2"), "{left:?}");
    }

    /// `unpack` for a bare section (the tests have no component around it).
    fn unpack_section(
        section: &[u8],
        hash: &str,
        cache: Option<&Path>,
    ) -> Result<FilesDir, FilesError> {
        let mut component = wasm_encoder::Component::new();
        component.section(&wasm_encoder::CustomSection {
            name: FILES_SECTION.into(),
            data: section.into(),
        });
        unpack(&component.finish(), hash, cache).map(|dir| dir.expect("a section"))
    }
}
