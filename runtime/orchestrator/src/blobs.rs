//! Artifact values for running tasks, read from the datastore through a
//! bounded in-memory cache.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use mfw_graph::BlobHash;
use mfw_host::{BlobError, BlobSource};
use mfw_store::Datastore;
use tokio::runtime::Handle;

/// Up to this many bytes of recently used values stay in memory, so fanned
/// out tasks reading the same parent value hit the store once.
const CACHE_BYTES: usize = 256 << 20;

#[derive(Default)]
struct Cache {
    entries: HashMap<BlobHash, Bytes>,
    order: VecDeque<BlobHash>,
    bytes: usize,
}

impl Cache {
    fn insert(&mut self, hash: BlobHash, value: Bytes) {
        if value.len() > CACHE_BYTES / 4 || self.entries.contains_key(&hash) {
            return;
        }
        self.bytes += value.len();
        self.entries.insert(hash, value);
        self.order.push_back(hash);
        while self.bytes > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.entries.remove(&old) {
                self.bytes -= v.len();
            }
        }
    }
}

/// A [`BlobSource`] over a datastore, for tasks running on blocking threads
/// of a tokio runtime.
///
/// ```no_run
/// # fn f(store: mfw_store::Datastore) {
/// let blobs = mfw_orchestrator::StoreBlobs::new(store, tokio::runtime::Handle::current());
/// # }
/// ```
pub struct StoreBlobs {
    store: Datastore,
    handle: Handle,
    cache: Mutex<Cache>,
}

impl StoreBlobs {
    /// Reads from `store`, driving its futures on `handle`.
    pub fn new(store: Datastore, handle: Handle) -> Self {
        Self {
            store,
            handle,
            cache: Mutex::default(),
        }
    }

    /// Keeps a value a task just wrote, for the tasks after it.
    pub fn remember(&self, hash: BlobHash, value: Bytes) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(hash, value);
        }
    }

    /// Reads a value from an async context.
    pub async fn load_async(&self, hash: &BlobHash) -> Result<Bytes, mfw_store::StoreError> {
        if let Some(hit) = self.cached(hash) {
            return Ok(hit);
        }
        let bytes = self.store.get_blob(hash).await?;
        self.remember(*hash, bytes.clone());
        Ok(bytes)
    }

    fn cached(&self, hash: &BlobHash) -> Option<Bytes> {
        self.cache.lock().ok()?.entries.get(hash).cloned()
    }
}

impl BlobSource for StoreBlobs {
    fn load(&self, hash: &BlobHash) -> Result<Bytes, BlobError> {
        if let Some(hit) = self.cached(hash) {
            return Ok(hit);
        }
        let bytes = self
            .handle
            .block_on(self.store.get_blob(hash))
            .map_err(BlobError::new)?;
        self.remember(*hash, bytes.clone());
        Ok(bytes)
    }
}
