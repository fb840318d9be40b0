//! The compiled-component cache (`~/.cache/mfw/compiled` by default): each
//! component's native code (`.cwasm`) and the graph it exported (`.graph`),
//! named by the component's blake3 and the engine's fingerprint, and the
//! compiled functions the next compiles reuse (`functions/`,
//! `function_cache.rs`).
//!
//! Native code from here runs as it is, so every file is trusted only
//! under a blake3 MAC kept beside it (`<file>.mac`), keyed with a random
//! key the cache made on first use (`compiled.key`, readable by its owner
//! only). A damaged or planted file, or one whose MAC was computed without
//! the key, reads as absent: the component is compiled (or asked) again and
//! the file replaced. The cache is an optimisation, so nothing here fails:
//! what cannot be read or written is only done again.

use std::io::Write;
use std::path::{Path, PathBuf};

use mfw_graph::BlobHash;

/// A cache directory and its key.
pub(crate) struct CompiledCache {
    dir: PathBuf,
    key: [u8; 32],
}

impl CompiledCache {
    /// The cache in `dir`, its key read (or made); `None` if there is no
    /// key to be had, and then nothing is cached.
    pub(crate) fn open(dir: &Path) -> Option<Self> {
        Some(Self {
            dir: dir.to_path_buf(),
            key: read_or_make_key(dir)?,
        })
    }

    /// Where the `kind` (`cwasm`, `graph`) of component `hash` is kept for
    /// an engine with `fingerprint`.
    pub(crate) fn path(&self, hash: &BlobHash, fingerprint: u64, kind: &str) -> PathBuf {
        self.dir
            .join(format!("{}-{fingerprint:016x}.{kind}", hash.to_hex()))
    }

    /// The bytes at `path` if its MAC proves this cache wrote them.
    pub(crate) fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let recorded = std::fs::read_to_string(mac_path(path)).ok()?;
        let recorded = blake3::Hash::from_hex(recorded.trim()).ok()?;
        let bytes = std::fs::read(path).ok()?;
        self.verify(&bytes, &recorded).then_some(bytes)
    }

    /// Keeps `bytes` at `path`, then their MAC: a file whose MAC is missing
    /// or from before is never read.
    pub(crate) fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mac = self.mac(bytes);
        write_atomically(&self.dir, path, bytes)?;
        write_atomically(&self.dir, &mac_path(path), mac.to_hex().as_bytes())
    }

    /// The MAC of `bytes` under this cache's key.
    pub(crate) fn mac(&self, bytes: &[u8]) -> blake3::Hash {
        blake3::keyed_hash(&self.key, bytes)
    }

    /// Whether `mac` is the MAC of `bytes` under this cache's key.
    pub(crate) fn verify(&self, bytes: &[u8], mac: &blake3::Hash) -> bool {
        // blake3's Hash compares in constant time.
        self.mac(bytes) == *mac
    }

    /// Deletes the least recently used components and packs of compiled
    /// functions (`function_cache.rs`), by the modification time that a
    /// load or a lookup refreshes, until together they take at most
    /// `max_bytes`, never one of `keep`. A component goes with its graph.
    /// Without a bound the cache grew by every version of every component
    /// a machine ever ran (Python ones with native packages compile to
    /// hundreds of MB). Failures only leave more on disk.
    pub(crate) fn trim(&self, max_bytes: u64, keep: &[&Path]) {
        let functions = self.dir.join("functions");
        let mut kept: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
        for (dir, kind) in [(&self.dir, "cwasm"), (&functions, "values")] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
                let Ok(meta) = path.metadata() else {
                    continue;
                };
                let Ok(modified) = meta.modified() else {
                    continue;
                };
                let ext = path.extension().and_then(|e| e.to_str());
                if ext == Some(kind) {
                    // A pack's index is small beside its values.
                    kept.push((modified, meta.len(), path));
                } else if ext == Some("pending") && is_stale(modified) {
                    // A pack a compile was writing when its process died.
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let mut total: u64 = kept.iter().map(|(_, len, _)| len).sum();
        kept.sort();
        for (_, len, path) in kept {
            if total <= max_bytes {
                break;
            }
            if keep.contains(&path.as_path()) {
                continue;
            }
            // MACs first: a file without one is never read.
            let companion = if path.extension().is_some_and(|e| e == "cwasm") {
                path.with_extension("graph")
            } else {
                path.with_extension("index")
            };
            let _ = std::fs::remove_file(mac_path(&path));
            let _ = std::fs::remove_file(mac_path(&companion));
            let _ = std::fs::remove_file(companion);
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

/// Whether a file last written at `modified` belongs to no running compile
/// (none takes a day).
fn is_stale(modified: std::time::SystemTime) -> bool {
    modified
        .elapsed()
        .is_ok_and(|age| age > std::time::Duration::from_secs(24 * 3600))
}

/// Where the MAC of the cache file at `path` is kept.
pub(crate) fn mac_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".mac");
    PathBuf::from(name)
}

/// The cache's key in `dir`, made on first use (readable by its owner
/// only), or `None` if it can be neither read nor made.
fn read_or_make_key(dir: &Path) -> Option<[u8; 32]> {
    let path = dir.join("compiled.key");
    if let Ok(key) = std::fs::read(&path) {
        return key.try_into().ok();
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).ok()?;
    std::fs::create_dir_all(dir).ok()?;
    let mut file = tempfile::NamedTempFile::new_in(dir).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .ok()?;
    }
    file.write_all(&key).ok()?;
    // Another process may have made it first: theirs is the key.
    if file.persist_noclobber(&path).is_err() {
        return std::fs::read(&path).ok()?.try_into().ok();
    }
    Some(key)
}

/// Replaces `path` with `bytes` by renaming a file written beside it, so a
/// reader sees the old file or the new one, never a part.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CompiledCache, mac_path};
    use mfw_graph::BlobHash;
    use std::time::{Duration, SystemTime};

    #[test]
    fn a_file_reads_back_only_under_its_own_mac() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = CompiledCache::open(dir.path()).expect("a cache");
        let path = cache.path(&BlobHash::of(b"component"), 7, "graph");
        assert_eq!(cache.read(&path), None, "nothing written yet");
        cache.write(&path, b"the graph").expect("write");
        assert_eq!(cache.read(&path).as_deref(), Some(&b"the graph"[..]));

        // Edited with its MAC kept, or with a MAC made without the key.
        std::fs::write(&path, b"another graph").expect("edit");
        assert_eq!(cache.read(&path), None);
        let unkeyed = blake3::hash(b"another graph").to_hex();
        std::fs::write(mac_path(&path), unkeyed.as_bytes()).expect("forge");
        assert_eq!(cache.read(&path), None);

        // Another process opening the same directory shares the key.
        cache.write(&path, b"the graph").expect("write");
        let again = CompiledCache::open(dir.path()).expect("a cache");
        assert_eq!(again.read(&path).as_deref(), Some(&b"the graph"[..]));
    }

    #[test]
    fn the_compiled_cache_keeps_the_most_recently_used_within_its_bound() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = CompiledCache::open(dir.path()).expect("a cache");
        let now = SystemTime::now();
        let write = |name: &str, len: usize, age_secs: u64| {
            let path = dir.path().join(format!("{name}.cwasm"));
            cache.write(&path, &vec![0u8; len]).expect("write");
            cache
                .write(&path.with_extension("graph"), b"{}")
                .expect("write graph");
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open");
            file.set_modified(now - Duration::from_secs(age_secs))
                .expect("set time");
            path
        };
        let kept = |path: &std::path::Path| {
            let graph = path.with_extension("graph");
            [path, &mac_path(path), &graph, &mac_path(&graph)].map(|p| p.exists())
        };
        let oldest = write("a", 400, 300);
        let older = write("b", 400, 200);
        let recent = write("c", 400, 100);
        // Just written but, by its clock, older than everything: still kept.
        let new = write("d", 400, 1000);

        cache.trim(900, &[&new]);

        assert_eq!(kept(&oldest), [false; 4]);
        assert_eq!(kept(&older), [false; 4]);
        assert_eq!(kept(&recent), [true; 4]);
        assert_eq!(kept(&new), [true; 4]);
        assert!(dir.path().join("compiled.key").exists());

        cache.trim(0, &[&new]);
        assert_eq!(kept(&recent), [false; 4]);
        assert_eq!(kept(&new), [true; 4]);
    }

    #[test]
    fn trimming_takes_the_least_recently_used_packs_of_functions_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = CompiledCache::open(dir.path()).expect("a cache");
        let functions = dir.path().join("functions");
        std::fs::create_dir_all(&functions).expect("mkdir");
        let now = SystemTime::now();
        let age = |path: &std::path::Path, secs: u64| {
            let file = std::fs::File::options()
                .write(true)
                .open(path)
                .expect("open");
            file.set_modified(now - Duration::from_secs(secs))
                .expect("set time");
        };
        let pack = |name: &str, secs: u64| {
            let values = functions.join(format!("{name}.values"));
            std::fs::write(&values, vec![0u8; 400]).expect("values");
            cache
                .write(&values.with_extension("index"), b"index")
                .expect("index");
            age(&values, secs);
            values
        };
        let old = pack("old", 300);
        let component = dir.path().join("c.cwasm");
        cache.write(&component, &[0u8; 400]).expect("write");
        age(&component, 200);
        let recent = pack("recent", 100);
        // A pack a dead compile left half written, and one being written.
        let dead = functions.join("x.pending");
        std::fs::write(&dead, b"half").expect("pending");
        age(&dead, 2 * 24 * 3600);
        let live = functions.join("y.pending");
        std::fs::write(&live, b"half").expect("pending");

        cache.trim(900, &[&recent]);

        let index = old.with_extension("index");
        assert!(!old.exists() && !index.exists() && !mac_path(&index).exists());
        assert!(component.exists() && recent.exists());
        assert!(!dead.exists() && live.exists());
        cache.trim(0, &[&recent]);
        assert!(!component.exists() && recent.exists());
    }
}
