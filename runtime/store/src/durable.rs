//! Durability of a local store: what was written reaches the disk.
//!
//! Writes are atomic already (a temporary file renamed into place), which
//! holds against a killed process but not a machine crash. Flushing each
//! file as it is written would cost a millisecond task about as much again,
//! so writes are remembered and flushed together by [`Datastore::sync`]:
//! `mfw run` does so while the run goes on and before it returns. After a
//! crash, what had not reached the disk is missing or fails its blake3
//! check, and a resume runs the tasks it belonged to again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{Datastore, StoreError};

/// Files written since the last [`Datastore::sync`].
#[derive(Debug, Default)]
pub(crate) struct Unsynced(Mutex<Vec<PathBuf>>);

impl Unsynced {
    pub(crate) fn add(&self, path: PathBuf) {
        if let Ok(mut paths) = self.0.lock() {
            paths.push(path);
        }
    }

    fn take(&self) -> Vec<PathBuf> {
        self.0
            .lock()
            .map(|mut paths| std::mem::take(&mut *paths))
            .unwrap_or_default()
    }
}

/// From how many files one `syncfs` of the store's file system replaces a
/// `fsync` each: on ext4, 3,000 small files took 0.71-0.80 s one by one
/// and 0.03 s with `syncfs` (2026-12-03). `syncfs` also writes back what
/// other programs wrote to that file system, so a few files are still
/// flushed one by one.
const SYNC_FILE_SYSTEM_AT: usize = 64;

/// Flushes `files` (written in the store at `root`) and the directories
/// holding them (their entries, made by renames); a file renamed away since
/// is skipped. Many files on the root's file system are flushed by one
/// `syncfs`, which reports writeback errors on Linux 5.8 and later.
fn flush(root: &Path, files: Vec<PathBuf>) -> Result<usize, (PathBuf, std::io::Error)> {
    let flushed = files.len();
    let files = if files.len() >= SYNC_FILE_SYSTEM_AT {
        elsewhere_after_syncfs(root, files)?
    } else {
        files
    };
    let mut dirs = BTreeSet::new();
    for file in files {
        match std::fs::File::open(&file).and_then(|f| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err((file, e)),
        }
        if let Some(dir) = file.parent() {
            dirs.insert(dir.to_path_buf());
        }
    }
    for dir in dirs {
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| (dir, e))?;
    }
    Ok(flushed)
}

/// Flushes the file system holding `root` with `syncfs`, and returns the
/// files it does not cover: those under a directory on another file system
/// (a mount inside the store). Where `syncfs` is missing, all of them.
#[cfg(target_os = "linux")]
fn elsewhere_after_syncfs(
    root: &Path,
    files: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;

    let root_dir = std::fs::File::open(root).map_err(|e| (root.to_path_buf(), e))?;
    let device = root_dir
        .metadata()
        .map_err(|e| (root.to_path_buf(), e))?
        .dev();
    // Which directories are on the root's file system, each asked once.
    let mut covered: BTreeMap<PathBuf, bool> = BTreeMap::new();
    let mut elsewhere = Vec::new();
    for file in files {
        let Some(dir) = file.parent() else {
            elsewhere.push(file);
            continue;
        };
        let here = *covered.entry(dir.to_path_buf()).or_insert_with(|| {
            // A directory gone since holds nothing left to flush.
            std::fs::metadata(dir).map_or(true, |meta| meta.dev() == device)
        });
        if !here {
            elsewhere.push(file);
        }
    }
    rustix::fs::syncfs(&root_dir).map_err(|e| (root.to_path_buf(), e.into()))?;
    Ok(elsewhere)
}

#[cfg(not(target_os = "linux"))]
fn elsewhere_after_syncfs(
    _root: &Path,
    files: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    Ok(files)
}

impl Datastore {
    /// Remembers that `path` (in the store) was written, for the next
    /// [`Datastore::sync`]. Object stores make writes durable themselves.
    pub(crate) fn written(&self, path: &object_store::path::Path) {
        if let (Some(root), Some(unsynced)) = (&self.local_root, &self.unsynced) {
            unsynced.add(root.join(path.as_ref()));
        }
    }

    /// Flushes everything written through this handle (and its clones)
    /// since the last call to the disk; returns how many files were written
    /// (one since replaced counts too: its replacement is flushed). A no-op
    /// for object stores.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// store.put_blob(bytes::Bytes::from_static(b"value")).await.unwrap();
    /// assert_eq!(store.sync().await.unwrap(), 1);
    /// assert_eq!(store.sync().await.unwrap(), 0);
    /// # });
    /// ```
    pub async fn sync(&self) -> Result<usize, StoreError> {
        let Some(unsynced) = &self.unsynced else {
            return Ok(0);
        };
        let files = unsynced.take();
        if files.is_empty() {
            return Ok(0);
        }
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        let location = self.location.to_string();
        let failed = |path: PathBuf, source: std::io::Error| StoreError::Sync {
            path: path.display().to_string(),
            store: location.clone(),
            source,
        };
        match tokio::task::spawn_blocking(move || flush(&root, files)).await {
            Ok(Ok(flushed)) => Ok(flushed),
            Ok(Err((path, source))) => Err(failed(path, source)),
            Err(join) => Err(failed(
                PathBuf::from(self.location()),
                std::io::Error::other(join.to_string()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_files(dir: &Path, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let sub = dir.join(format!("{}", i % 4));
                std::fs::create_dir_all(&sub).expect("dir");
                let path = sub.join(format!("{i}.json"));
                std::fs::write(&path, b"{}").expect("write");
                path
            })
            .collect()
    }

    #[test]
    fn many_files_and_a_few_are_flushed_and_counted_alike() {
        let root = tempfile::tempdir().expect("temp dir");
        for n in [3, SYNC_FILE_SYSTEM_AT, 500] {
            let mut files = write_files(root.path(), n);
            // Renamed away since it was written: nothing to flush.
            std::fs::remove_file(&files[0]).expect("remove");
            files.push(root.path().join("never/written.json"));
            let flushed = flush(root.path(), files).map_err(|(path, e)| format!("{path:?}: {e}"));
            assert_eq!(flushed, Ok(n + 1), "{n} files written");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn files_on_another_file_system_are_flushed_one_by_one() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().expect("temp dir");
        let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
            eprintln!("SKIPPED: no /dev/shm to hold a second file system");
            return;
        };
        let dev = |p: &Path| std::fs::metadata(p).expect("stat").dev();
        if dev(root.path()) == dev(other.path()) {
            eprintln!("SKIPPED: the temporary directory is on /dev/shm's file system");
            return;
        }
        let mut files = write_files(root.path(), SYNC_FILE_SYSTEM_AT);
        let elsewhere = write_files(other.path(), 2);
        files.extend(elsewhere.iter().cloned());
        assert_eq!(
            elsewhere_after_syncfs(root.path(), files).expect("syncfs"),
            elsewhere
        );
    }
}
