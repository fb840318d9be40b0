//! A local read-through cache of blobs for remote datastores: blobs are
//! immutable and named by their hash, so a cached copy is as good as the
//! original once verified. Bounded in size; the least recently used go
//! first.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;

use crate::BlobHash;

/// Blobs cached on local disk, under a size budget.
#[derive(Debug)]
pub struct BlobCache {
    dir: PathBuf,
    budget: u64,
    /// Bytes written since the last eviction check.
    since_check: Mutex<u64>,
}

impl BlobCache {
    /// A cache in `dir` holding up to `budget` bytes.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let cache = mfw_store::BlobCache::new(dir.path().to_path_buf(), 1 << 20);
    /// let hash = mfw_store::BlobHash::of(b"x");
    /// cache.put(&hash, b"x");
    /// assert_eq!(cache.get(&hash).as_deref(), Some(&b"x"[..]));
    /// ```
    pub fn new(dir: PathBuf, budget: u64) -> Self {
        Self {
            dir,
            budget,
            since_check: Mutex::new(0),
        }
    }

    fn path(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    /// The cached bytes of `hash`, verified; a damaged copy is dropped.
    pub fn get(&self, hash: &BlobHash) -> Option<Bytes> {
        let path = self.path(hash);
        let bytes = std::fs::read(&path).ok()?;
        if BlobHash::of(&bytes) != *hash {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // Reading marks it recently used.
        let _ = std::fs::File::options()
            .append(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Some(Bytes::from(bytes))
    }

    /// Keeps a copy of `bytes` (whose hash is `hash`). Best effort: a cache
    /// that cannot be written is only a slower cache.
    pub fn put(&self, hash: &BlobHash, bytes: &[u8]) {
        if bytes.len() as u64 > self.budget / 4 {
            return;
        }
        let path = self.path(hash);
        if path.exists() {
            return;
        }
        let Some(parent) = path.parent() else { return };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let staging = parent.join(format!(".{}.{}", hash.short(), std::process::id()));
        if std::fs::write(&staging, bytes).is_ok() && std::fs::rename(&staging, &path).is_err() {
            let _ = std::fs::remove_file(&staging);
        }
        let check = match self.since_check.lock() {
            Ok(mut written) => {
                *written += bytes.len() as u64;
                let due = *written > self.budget / 10;
                if due {
                    *written = 0;
                }
                due
            }
            Err(_) => false,
        };
        if check {
            evict(&self.dir, self.budget);
        }
    }
}

/// Deletes the least recently used blobs until the cache fits `budget`.
fn evict(dir: &Path, budget: u64) {
    let mut files = Vec::new();
    for shard in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for entry in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(meta) = entry.metadata() {
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((used, meta.len(), entry.path()));
            }
        }
    }
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    if total <= budget {
        return;
    }
    files.sort();
    for (_, len, path) in files {
        if total <= budget * 9 / 10 {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_budget_dropping_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path().to_path_buf(), 10_000);
        let blobs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 1000]).collect();
        for blob in &blobs {
            cache.put(&BlobHash::of(blob), blob);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        evict(dir.path(), 10_000);
        let kept = blobs
            .iter()
            .filter(|b| cache.get(&BlobHash::of(b)).is_some())
            .count();
        assert!(kept <= 10, "kept {kept}");
        assert!(
            cache.get(&BlobHash::of(&blobs[39])).is_some(),
            "the newest stays"
        );
        assert!(
            cache.get(&BlobHash::of(&blobs[0])).is_none(),
            "the oldest went"
        );
    }

    #[test]
    fn a_damaged_copy_is_not_returned() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path().to_path_buf(), 1 << 20);
        let hash = BlobHash::of(b"value");
        cache.put(&hash, b"value");
        std::fs::write(cache.path(&hash), b"other").unwrap();
        assert!(cache.get(&hash).is_none());
    }
}
