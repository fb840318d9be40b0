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
use std::path::PathBuf;
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

/// Flushes each file, then each directory that holds one (its entry, made
/// by the rename); a file renamed away since is skipped.
fn flush(files: Vec<PathBuf>) -> Result<usize, (PathBuf, std::io::Error)> {
    let mut dirs = BTreeSet::new();
    let mut flushed = 0;
    for file in files {
        match std::fs::File::open(&file).and_then(|f| f.sync_all()) {
            Ok(()) => flushed += 1,
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

impl Datastore {
    /// Remembers that `path` (in the store) was written, for the next
    /// [`Datastore::sync`]. Object stores make writes durable themselves.
    pub(crate) fn written(&self, path: &object_store::path::Path) {
        if let (Some(root), Some(unsynced)) = (&self.local_root, &self.unsynced) {
            unsynced.add(root.join(path.as_ref()));
        }
    }

    /// Flushes everything written through this handle (and its clones)
    /// since the last call to the disk; returns how many files. A no-op for
    /// object stores.
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
        let location = self.location.to_string();
        let failed = |path: PathBuf, source: std::io::Error| StoreError::Sync {
            path: path.display().to_string(),
            store: location.clone(),
            source,
        };
        match tokio::task::spawn_blocking(move || flush(files)).await {
            Ok(Ok(flushed)) => Ok(flushed),
            Ok(Err((path, source))) => Err(failed(path, source)),
            Err(join) => Err(failed(
                PathBuf::from(self.location()),
                std::io::Error::other(join.to_string()),
            )),
        }
    }
}
