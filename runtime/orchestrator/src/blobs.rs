//! Artifact values for running tasks, read from the datastore through a
//! bounded in-memory cache.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use mfw_graph::BlobHash;
use mfw_host::{BlobError, BlobRead, BlobSource, BlobWrite, WholeValue};
use mfw_store::{Datastore, ValueReader, ValueWriter};
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

    fn open(&self, hash: &BlobHash) -> Result<Box<dyn BlobRead>, BlobError> {
        if let Some(hit) = self.cached(hash) {
            return Ok(Box::new(WholeValue(Some(hit))));
        }
        let reader = self
            .handle
            .block_on(self.store.value_reader(hash))
            .map_err(BlobError::new)?;
        Ok(Box::new(StoreReader {
            reader,
            handle: self.handle.clone(),
        }))
    }

    fn create(&self) -> Option<Box<dyn BlobWrite>> {
        Some(Box::new(StoreWriter {
            writer: self.store.value_writer(),
            handle: self.handle.clone(),
        }))
    }
}

/// A datastore's [`ValueReader`], driven from the task's thread.
struct StoreReader {
    reader: ValueReader,
    handle: Handle,
}

impl BlobRead for StoreReader {
    fn size(&self) -> u64 {
        self.reader.size()
    }

    fn next_piece(&mut self) -> Result<Option<Bytes>, BlobError> {
        self.handle
            .block_on(self.reader.next_piece())
            .map_err(BlobError::new)
    }
}

/// A datastore's [`ValueWriter`], driven from the task's thread.
struct StoreWriter {
    writer: ValueWriter,
    handle: Handle,
}

impl BlobWrite for StoreWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        self.handle
            .block_on(self.writer.write(bytes))
            .map_err(BlobError::new)
    }

    fn finish(self: Box<Self>) -> Result<BlobHash, BlobError> {
        let StoreWriter { writer, handle } = *self;
        handle.block_on(writer.finish()).map_err(BlobError::new)
    }
}
