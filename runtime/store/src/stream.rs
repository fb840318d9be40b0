//! Values written and read a piece at a time, so that neither side holds a
//! large value whole: a [`ValueWriter`] cuts chunks as bytes arrive and
//! uploads them as it goes; a [`ValueReader`] fetches a few chunks ahead of
//! its reader. Either way a value is stored and named exactly as
//! [`Datastore::put_blob`] would store it.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use mfw_graph::BlobHash;
use tokio::task::{JoinHandle, JoinSet};

use crate::chunked::{CHUNK_CONCURRENCY, ChunkRef, Manifest};
#[cfg(test)]
use crate::chunked::{CHUNKED_FROM, MAX_CHUNK};
use crate::{Datastore, ManifestProblem, StoreError};

/// A value being stored as it is written. Call [`ValueWriter::finish`]:
/// a writer dropped before leaves no value, only chunks no record names.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
/// let mut writer = store.value_writer();
/// writer.write(b"hello, ").await.unwrap();
/// writer.write(b"world").await.unwrap();
/// let hash = writer.finish().await.unwrap();
/// assert_eq!(&store.get_blob(&hash).await.unwrap()[..], b"hello, world");
/// # });
/// ```
pub struct ValueWriter {
    store: Datastore,
    hasher: blake3::Hasher,
    /// Bytes not yet in a chunk (all of them, while the value is small).
    pending: BytesMut,
    len: u64,
    /// The chunks cut so far, once the value is large enough to be chunked.
    chunks: Option<Vec<ChunkRef>>,
    /// Each chunk in flight: hashed, then stored, off the writer's thread;
    /// gives back its index among the chunks and its hash.
    uploads: JoinSet<Result<(usize, BlobHash), StoreError>>,
}

impl Datastore {
    /// A writer of one new value; see [`ValueWriter`].
    pub fn value_writer(&self) -> ValueWriter {
        ValueWriter {
            store: self.clone(),
            hasher: blake3::Hasher::new(),
            pending: BytesMut::new(),
            len: 0,
            chunks: None,
            uploads: JoinSet::new(),
        }
    }

    /// A reader of the value `hash`, a piece at a time; see
    /// [`ValueReader`].
    pub async fn value_reader(&self, hash: &BlobHash) -> Result<ValueReader, StoreError> {
        if let Some(cache) = &self.cache
            && let Some(bytes) = cache.get(hash)
        {
            return Ok(ValueReader::whole(self, *hash, bytes));
        }
        match self.get_verified(&Self::blob_path(hash), hash).await {
            Ok(bytes) => Ok(ValueReader::whole(self, *hash, bytes)),
            Err(StoreError::MissingBlob { .. }) => self.chunked_reader(hash).await,
            Err(other) => Err(other),
        }
    }
}

impl Datastore {
    /// A reader of the chunked value `hash` (`MissingBlob` without a
    /// manifest).
    pub(crate) async fn chunked_reader(&self, hash: &BlobHash) -> Result<ValueReader, StoreError> {
        let manifest = self.read_manifest(hash).await?;
        Ok(ValueReader {
            store: self.clone(),
            hash: *hash,
            size: manifest.size,
            whole: None,
            chunks: manifest.chunks.into(),
            count: 0,
            fetching: VecDeque::new(),
            hasher: blake3::Hasher::new(),
            ended: false,
        })
    }
}

impl ValueWriter {
    /// Appends `bytes` to the value. Full chunks are uploaded in the
    /// background, at most a few at once: this waits when that many are
    /// in flight, which bounds the memory a writer holds.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(bytes);
        self.pending.extend_from_slice(bytes);
        self.len += bytes.len() as u64;
        if self.chunks.is_none() && self.pending.len() >= self.store.chunking().from {
            self.chunks = Some(Vec::new());
        }
        if self.chunks.is_some() {
            // A cut needs the next `max` bytes to be where a cut of the
            // whole value would be.
            let chunking = self.store.chunking();
            while self.pending.len() >= chunking.max {
                let end = chunking.cut(&self.pending);
                let piece = self.pending.split_to(end).freeze();
                self.upload(piece).await?;
            }
        }
        Ok(())
    }

    /// How many bytes were written.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    async fn upload(&mut self, piece: Bytes) -> Result<(), StoreError> {
        let Some(chunks) = &mut self.chunks else {
            return Ok(());
        };
        let index = chunks.len();
        // Its hash is filled in when its upload ends.
        chunks.push(ChunkRef {
            hash: BlobHash::from_bytes([0; 32]),
            size: piece.len() as u64,
        });
        while self.uploads.len() >= CHUNK_CONCURRENCY {
            self.join_one().await?;
        }
        let store = self.store.clone();
        self.uploads.spawn(async move {
            let hash = BlobHash::of(&piece);
            store.put_chunk(hash, piece).await?;
            Ok((index, hash))
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), StoreError> {
        let (index, hash) = match self.uploads.join_next().await {
            Some(Ok(result)) => result?,
            Some(Err(join)) => {
                return Err(StoreError::Interrupted {
                    what: "storing a chunk",
                    store: self.store.location().to_string(),
                    source: join,
                });
            }
            None => return Ok(()),
        };
        if let Some(chunk) = self.chunks.as_mut().and_then(|c| c.get_mut(index)) {
            chunk.hash = hash;
        }
        Ok(())
    }

    /// Ends the value: stores what is left and, for a large value, its
    /// manifest once every chunk is stored. Returns the value's hash.
    pub async fn finish(mut self) -> Result<BlobHash, StoreError> {
        let hash = BlobHash::from_bytes(*self.hasher.finalize().as_bytes());
        if self.chunks.is_none() {
            let bytes = std::mem::take(&mut self.pending).freeze();
            self.store.put_blob_with_hash(hash, bytes).await?;
            return Ok(hash);
        }
        while !self.pending.is_empty() {
            let end = self.store.chunking().cut(&self.pending);
            let piece = self.pending.split_to(end).freeze();
            self.upload(piece).await?;
        }
        while !self.uploads.is_empty() {
            self.join_one().await?;
        }
        let manifest = Manifest::of(self.len, self.chunks.take().unwrap_or_default());
        self.store.put_manifest(&hash, &manifest).await?;
        Ok(hash)
    }
}

/// A stored value read a piece at a time, each checked against its hash
/// and the whole against the value's at the end; a few chunks are fetched
/// ahead.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
/// let hash = store.put_blob(bytes::Bytes::from(vec![7u8; 10 << 20])).await.unwrap();
/// let mut reader = store.value_reader(&hash).await.unwrap();
/// assert_eq!(reader.size(), 10 << 20);
/// let mut read = 0;
/// while let Some(piece) = reader.next_piece().await.unwrap() {
///     read += piece.len();
/// }
/// assert_eq!(read, 10 << 20);
/// # });
/// ```
pub struct ValueReader {
    store: Datastore,
    hash: BlobHash,
    size: u64,
    /// A value stored whole, until it is read.
    whole: Option<Bytes>,
    /// The chunks not yet fetched, and how many were.
    chunks: VecDeque<ChunkRef>,
    count: usize,
    fetching: VecDeque<(ChunkRef, JoinHandle<Result<Bytes, StoreError>>)>,
    hasher: blake3::Hasher,
    /// The end was reached (and, for chunks, the whole checked).
    ended: bool,
}

impl ValueReader {
    fn whole(store: &Datastore, hash: BlobHash, bytes: Bytes) -> Self {
        Self {
            store: store.clone(),
            hash,
            size: bytes.len() as u64,
            whole: Some(bytes),
            chunks: VecDeque::new(),
            count: 0,
            fetching: VecDeque::new(),
            hasher: blake3::Hasher::new(),
            ended: false,
        }
    }

    /// The value's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next piece of the value, `None` at its end. The end is reported
    /// only once the whole value has hashed to its name.
    pub async fn next_piece(&mut self) -> Result<Option<Bytes>, StoreError> {
        if let Some(bytes) = self.whole.take() {
            return Ok(Some(bytes));
        }
        if self.ended {
            return Ok(None);
        }
        while self.fetching.len() < CHUNK_CONCURRENCY
            && let Some(chunk) = self.chunks.pop_front()
        {
            let store = self.store.clone();
            let hash = chunk.hash;
            let fetch = tokio::spawn(async move {
                store
                    .get_verified(&Datastore::blob_path(&hash), &hash)
                    .await
            });
            self.fetching.push_back((chunk, fetch));
        }
        let Some((chunk, fetch)) = self.fetching.pop_front() else {
            self.ended = true;
            if self.count > 0 {
                let hasher = std::mem::take(&mut self.hasher);
                self.store.check_whole(&self.hash, hasher)?;
            }
            return Ok(None);
        };
        let index = self.count;
        self.count += 1;
        let total = index + 1 + self.fetching.len() + self.chunks.len();
        let bad_chunk = |source: StoreError| StoreError::BadChunk {
            hash: self.hash,
            index,
            count: total,
            store: self.store.location().to_string(),
            source: Box::new(source),
        };
        let piece = match fetch.await {
            Ok(result) => result.map_err(bad_chunk)?,
            Err(join) => {
                return Err(bad_chunk(StoreError::Interrupted {
                    what: "reading a chunk",
                    store: self.store.location().to_string(),
                    source: join,
                }));
            }
        };
        if piece.len() as u64 != chunk.size {
            return Err(StoreError::BadManifest {
                hash: self.hash,
                path: Datastore::manifest_path(&self.hash).to_string(),
                store: self.store.location().to_string(),
                source: ManifestProblem::Size {
                    said: chunk.size,
                    sum: piece.len() as u64,
                },
            });
        }
        self.hasher.update(&piece);
        Ok(Some(piece))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        crate::chunked::tests::noise(len, seed).to_vec()
    }

    fn store() -> (tempfile::TempDir, Datastore) {
        let dir = tempfile::tempdir().unwrap();
        let store = Datastore::open(dir.path().to_str().unwrap()).unwrap();
        (dir, store)
    }

    async fn read_all(store: &Datastore, hash: &BlobHash) -> Result<Vec<u8>, StoreError> {
        let mut reader = store.value_reader(hash).await?;
        let mut out = Vec::new();
        while let Some(piece) = reader.next_piece().await? {
            out.extend_from_slice(&piece);
        }
        assert_eq!(out.len() as u64, reader.size());
        Ok(out)
    }

    #[tokio::test]
    async fn a_value_written_in_pieces_is_stored_as_the_whole_would_be() {
        let sizes = [
            0,
            CHUNKED_FROM - 1,
            CHUNKED_FROM,
            CHUNKED_FROM + 1,
            3 * MAX_CHUNK + 5,
            20 << 20,
        ];
        for (seed, size) in sizes.into_iter().enumerate() {
            let bytes = noise(size, seed as u64 + 3);
            let (whole_dir, whole) = store();
            let expected = whole.put_blob(Bytes::from(bytes.clone())).await.unwrap();
            for piece in [1000, 65_536, 3 << 20] {
                let (dir, store) = store();
                let mut writer = store.value_writer();
                for p in bytes.chunks(piece) {
                    writer.write(p).await.unwrap();
                }
                assert_eq!(writer.len(), size as u64);
                let hash = writer.finish().await.unwrap();
                assert_eq!(hash, expected, "{size} bytes in pieces of {piece}");
                // The same objects, byte for byte.
                let manifest = |root: &std::path::Path| {
                    std::fs::read(root.join(Datastore::manifest_path(&hash).as_ref())).ok()
                };
                assert_eq!(manifest(dir.path()), manifest(whole_dir.path()));
                assert_eq!(read_all(&store, &hash).await.unwrap(), bytes);
            }
        }
    }

    #[tokio::test]
    async fn a_writer_dropped_before_it_finishes_leaves_no_value() {
        let (_dir, store) = store();
        let bytes = noise(CHUNKED_FROM * 2, 8);
        let mut writer = store.value_writer();
        writer.write(&bytes).await.unwrap();
        drop(writer);
        let hash = BlobHash::of(&bytes);
        assert!(!store.has_blob(&hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_reader_holds_a_few_chunks_and_names_a_damaged_one() {
        let (dir, store) = store();
        let bytes = noise(24 << 20, 2);
        let hash = store.put_blob(Bytes::from(bytes.clone())).await.unwrap();
        let mut reader = store.value_reader(&hash).await.unwrap();
        while let Some(piece) = reader.next_piece().await.unwrap() {
            assert!(piece.len() <= MAX_CHUNK);
        }
        let manifest = store.read_manifest(&hash).await.unwrap();
        let chunk = manifest.chunks[5].hash;
        let file = dir.path().join(Datastore::blob_path(&chunk).as_ref());
        std::fs::write(&file, b"damaged").unwrap();
        let error = read_all(&store, &hash).await.unwrap_err();
        assert!(
            matches!(error, StoreError::BadChunk { index: 5, .. }),
            "{error:?}"
        );
    }
}
