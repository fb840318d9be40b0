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

    fn create(&self, replaces: Option<BlobHash>) -> Option<Box<dyn BlobWrite>> {
        Some(Box::new(StoreWriter::new(
            self.store.value_writer_replacing(replaces),
            self.handle.clone(),
        )))
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

/// How many of a guest's pieces may wait for the datastore's writer.
const PIECES_AHEAD: usize = 4;

/// A datastore's [`ValueWriter`], fed from the task's thread: the writer
/// runs as its own task, so hashing, cutting and uploading a value overlap
/// with the guest producing it. A few pieces wait at most (the guest waits
/// when they do), which bounds what is held.
struct StoreWriter {
    pieces: Option<tokio::sync::mpsc::Sender<Bytes>>,
    writer: Option<tokio::task::JoinHandle<Result<BlobHash, mfw_store::StoreError>>>,
    handle: Handle,
}

impl StoreWriter {
    fn new(mut writer: ValueWriter, handle: Handle) -> Self {
        let (pieces, mut received) = tokio::sync::mpsc::channel::<Bytes>(PIECES_AHEAD);
        let writer = handle.spawn(async move {
            while let Some(piece) = received.recv().await {
                writer.write(&piece).await?;
            }
            writer.finish().await
        });
        Self {
            pieces: Some(pieces),
            writer: Some(writer),
            handle,
        }
    }

    /// Waits for the writer's task: its hash, or why it stopped.
    fn ended(&mut self) -> Result<BlobHash, BlobError> {
        self.pieces = None;
        let Some(writer) = self.writer.take() else {
            return Err(BlobError::new("the value was already finished"));
        };
        match self.handle.block_on(writer) {
            Ok(result) => result.map_err(BlobError::new),
            Err(join) => Err(BlobError::new(format!("storing the value stopped: {join}"))),
        }
    }
}

impl BlobWrite for StoreWriter {
    fn write(&mut self, bytes: Vec<u8>) -> Result<(), BlobError> {
        let sent = match &self.pieces {
            Some(pieces) => pieces.blocking_send(Bytes::from(bytes)).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped early: its error says why.
        match self.ended() {
            Ok(_) => Err(BlobError::new("the value's writer ended before its value")),
            Err(e) => Err(e),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<BlobHash, BlobError> {
        self.ended()
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        // Not finished: nothing is stored but chunks no record names.
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
    }
}
