//! Values written and read a piece at a time, so that neither side holds a
//! large value whole: a [`ValueWriter`] cuts chunks as bytes arrive and
//! uploads them as it goes; a [`ValueReader`] fetches a few chunks ahead of
//! its reader. Either way a value is stored and named exactly as
//! [`Datastore::put_blob`] would store it.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mfw_graph::BlobHash;
use tokio::task::{JoinHandle, JoinSet};

use crate::chunk_packs::{Packer, Storing};
use crate::chunked::{CHUNK_CONCURRENCY, ChunkRef, Manifest};
#[cfg(test)]
use crate::chunked::{CHUNKED_FROM, MAX_CHUNK};
use crate::delta::{DeltaRef, EarlierCache, Replaced};
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
    /// An object store's chunks are packed (`chunk_packs.rs`).
    packer: Option<Packer>,
    /// Each chunk in flight: hashed, then stored, off the writer's thread.
    uploads: JoinSet<Result<ChunkDone, StoreError>>,
    /// The value this one replaces (`delta.rs`), once chunking starts.
    replaces: Option<BlobHash>,
    replaced: Option<Arc<Replaced>>,
    /// Where the next chunk starts in the value.
    offset: u64,
}

/// A chunk a writer handed off, stored or to be packed.
struct ChunkDone {
    index: usize,
    hash: BlobHash,
    /// For the packer: its bytes, and how to store them.
    to_pack: Option<(Bytes, Storing)>,
    /// Stored as this difference.
    delta: Option<DeltaRef>,
}

/// A request for a span of chunks: their bytes, or which of them failed
/// and why.
type SpanFetch = JoinHandle<Result<Vec<Bytes>, (usize, StoreError)>>;

impl Datastore {
    /// A writer of one new value; see [`ValueWriter`].
    pub fn value_writer(&self) -> ValueWriter {
        self.value_writer_replacing(None)
    }

    /// A writer of a new version of the value `replaces` (say, an artifact
    /// a task received and sets again): the chunks of a large value that
    /// the store lacks are stored as their differences from `replaces`'s
    /// bytes at the same place when those are small, so a data frame with
    /// a few rows changed anywhere costs about those rows. The value reads
    /// back the same either way.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let first: Vec<u8> = (0..8u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    /// let earlier = store.put_blob(first.clone().into()).await.unwrap();
    /// let mut second = first;
    /// for at in (0..second.len()).step_by(1000) {
    ///     second[at] ^= 1; // a change every 1000 bytes: every chunk is new
    /// }
    /// let mut writer = store.value_writer_replacing(Some(earlier));
    /// writer.write(&second).await.unwrap();
    /// let hash = writer.finish().await.unwrap();
    /// assert_eq!(store.get_blob(&hash).await.unwrap(), second);
    /// # });
    /// ```
    pub fn value_writer_replacing(&self, replaces: Option<BlobHash>) -> ValueWriter {
        ValueWriter {
            store: self.clone(),
            hasher: blake3::Hasher::new(),
            pending: BytesMut::new(),
            len: 0,
            chunks: None,
            packer: None,
            uploads: JoinSet::new(),
            replaces,
            replaced: None,
            offset: 0,
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
            ready: VecDeque::new(),
            hasher: blake3::Hasher::new(),
            ended: false,
            earlier: EarlierCache::default(),
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
            if self.store.is_remote() {
                self.packer = Some(Packer::new(&self.store).await?);
            }
            if let Some(earlier) = self.replaces {
                self.replaced = self.store.replaced(earlier).await.map(Arc::new);
            }
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
            pack: None,
            delta: None,
        });
        let offset = self.offset;
        self.offset += piece.len() as u64;
        while self.uploads.len() >= CHUNK_CONCURRENCY {
            self.join_one().await?;
        }
        let store = self.store.clone();
        let packed = self.packer.is_some();
        let replaced = self.replaced.clone();
        self.uploads.spawn(async move {
            let hash = BlobHash::of(&piece);
            // A chunk the value it replaces stores as a difference (which no
            // lookup by hash finds) is stored as that value stores it,
            // while that is there: the difference checked in a local store,
            // its pack in an object store. (Other chunks it has are found
            // by hash below, and a damaged one is written again.)
            let before = replaced
                .as_ref()
                .and_then(|r| r.chunk(&hash))
                .and_then(|before| Some((before, before.delta?)));
            if let Some((before, delta)) = before {
                match before.pack {
                    None if !packed => {
                        let path = Datastore::blob_path(&delta.hash);
                        if store.get_verified(&path, &delta.hash).await.is_ok() {
                            return Ok(ChunkDone {
                                index,
                                hash,
                                to_pack: None,
                                delta: Some(delta),
                            });
                        }
                    }
                    Some(pack) if packed && store.holds_blob(&pack.hash).await? => {
                        let storing = Storing::AsBefore(pack, delta);
                        return Ok(ChunkDone {
                            index,
                            hash,
                            to_pack: Some((piece, storing)),
                            delta: None,
                        });
                    }
                    _ => {}
                }
            }
            // Only a chunk the store lacks is worth comparing.
            let difference = match &replaced {
                Some(replaced) if !store.holds_chunk(&hash, packed).await? => {
                    store.difference(replaced, offset, &piece).await
                }
                _ => None,
            };
            if packed {
                let storing = match difference {
                    Some((delta, stored)) => Storing::Difference(delta, stored),
                    None => Storing::AsItIs,
                };
                return Ok(ChunkDone {
                    index,
                    hash,
                    to_pack: Some((piece, storing)),
                    delta: None,
                });
            }
            let delta = match difference {
                Some((delta, stored)) => {
                    store.put_chunk(delta.hash, stored).await?;
                    Some(delta)
                }
                None => {
                    store.put_chunk(hash, piece).await?;
                    None
                }
            };
            Ok(ChunkDone {
                index,
                hash,
                to_pack: None,
                delta,
            })
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<(), StoreError> {
        let done = match self.uploads.join_next().await {
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
        if let (Some(packer), Some((piece, storing))) = (&mut self.packer, done.to_pack) {
            packer.add(done.index, done.hash, piece, storing).await?;
        } else if let Some(chunk) = self.chunks.as_mut().and_then(|c| c.get_mut(done.index)) {
            chunk.hash = done.hash;
            chunk.delta = done.delta;
        }
        Ok(())
    }

    /// Ends the value: stores what is left and, for a large value, its
    /// manifest once every chunk is stored. Returns the value's hash.
    pub async fn finish(mut self) -> Result<BlobHash, StoreError> {
        let hash = BlobHash::from_bytes(*self.hasher.finalize().as_bytes());
        // The value it replaces, unchanged: stored already.
        if self.replaced.is_some() && self.replaces == Some(hash) {
            return Ok(hash);
        }
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
        let manifest = match self.packer.take() {
            Some(packer) => packer.finish(self.len).await?,
            None => Manifest::of(self.len, self.chunks.take().unwrap_or_default()),
        };
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
    /// Requests in flight, each for a span of chunks.
    fetching: VecDeque<(Vec<ChunkRef>, SpanFetch)>,
    /// Chunks fetched and not yet handed out.
    ready: VecDeque<(ChunkRef, Bytes)>,
    hasher: blake3::Hasher,
    /// The end was reached (and, for chunks, the whole checked).
    ended: bool,
    /// For chunks stored as differences: what reading earlier values keeps.
    earlier: EarlierCache,
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
            ready: VecDeque::new(),
            hasher: blake3::Hasher::new(),
            ended: false,
            earlier: EarlierCache::default(),
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
        while self.fetching.len() < CHUNK_CONCURRENCY && !self.chunks.is_empty() {
            let span = self.next_span();
            let store = self.store.clone();
            let chunks = span.clone();
            let earlier = self.earlier.clone();
            self.fetching
                .push_back((span, tokio::spawn(fetch_span(store, chunks, earlier))));
        }
        if self.ready.is_empty() {
            let Some((span, fetch)) = self.fetching.pop_front() else {
                self.ended = true;
                if self.count > 0 {
                    let hasher = std::mem::take(&mut self.hasher);
                    self.store.check_whole(&self.hash, hasher)?;
                }
                return Ok(None);
            };
            let pieces = match fetch.await {
                Ok(Ok(pieces)) => pieces,
                Ok(Err((at, error))) => {
                    return Err(self.bad_chunk(self.count + at, span.len(), error));
                }
                Err(join) => {
                    let error = StoreError::Interrupted {
                        what: "reading a chunk",
                        store: self.store.location().to_string(),
                        source: join,
                    };
                    return Err(self.bad_chunk(self.count, span.len(), error));
                }
            };
            self.ready.extend(span.into_iter().zip(pieces));
        }
        let Some((chunk, piece)) = self.ready.pop_front() else {
            return Ok(None);
        };
        self.count += 1;
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

    /// The next chunks to fetch in one request: one chunk stored as its
    /// own blob, or those adjacent in one pack, up to [`SPAN`] bytes.
    fn next_span(&mut self) -> Vec<ChunkRef> {
        let mut span: Vec<ChunkRef> = Vec::new();
        while let Some(next) = self.chunks.front() {
            // A difference is read alone (with what it is applied to).
            if !span.is_empty() && (next.delta.is_some() || span[0].delta.is_some()) {
                break;
            }
            let joins = match (span.last(), span.first()) {
                (None, _) => true,
                (Some(last), Some(first)) => match (last.pack, next.pack) {
                    (Some(at), Some(then)) => {
                        at.hash == then.hash
                            && at.offset.checked_add(last.size) == Some(then.offset)
                            // Offsets come from a stored manifest: no overflow.
                            && then.offset.saturating_add(next.size)
                                <= first
                                    .pack
                                    .map_or(0, |p| p.offset)
                                    .saturating_add(SPAN as u64)
                    }
                    _ => false,
                },
                _ => false,
            };
            if !joins {
                break;
            }
            span.extend(self.chunks.pop_front());
        }
        span
    }

    /// The error that chunk `index` cannot be read, with `in_hand` chunks
    /// (its span's) taken from the queues.
    fn bad_chunk(&self, index: usize, in_hand: usize, source: StoreError) -> StoreError {
        let count = self.count
            + in_hand
            + self.ready.len()
            + self
                .fetching
                .iter()
                .map(|(span, _)| span.len())
                .sum::<usize>()
            + self.chunks.len();
        StoreError::BadChunk {
            hash: self.hash,
            index,
            count,
            store: self.store.location().to_string(),
            source: Box::new(source),
        }
    }
}

/// At most this many bytes of adjacent chunks are read in one request.
const SPAN: usize = 4 << 20;

/// The bytes of `span`'s chunks, each checked against its hash; on error,
/// which chunk of the span and why.
async fn fetch_span(
    store: Datastore,
    span: Vec<ChunkRef>,
    earlier: EarlierCache,
) -> Result<Vec<Bytes>, (usize, StoreError)> {
    let (Some(first), Some(last)) = (span.first(), span.last()) else {
        return Ok(Vec::new());
    };
    if first.delta.is_some() {
        let piece = store
            .chunk_bytes(first, 0, &earlier)
            .await
            .map_err(|error| (0, error))?;
        return Ok(vec![piece]);
    }
    let (Some(start), Some(end)) = (first.pack, last.pack) else {
        // A chunk stored as its own blob.
        let piece = store
            .get_verified(&Datastore::blob_path(&first.hash), &first.hash)
            .await
            .map_err(|error| (0, error))?;
        return Ok(vec![piece]);
    };
    let range = start.offset..end.offset.saturating_add(last.size);
    let bytes = store
        .get_pack_range(&start.hash, range)
        .await
        .map_err(|error| (0, error))?;
    let mut pieces = Vec::with_capacity(span.len());
    for (at, chunk) in span.iter().enumerate() {
        let from = chunk.pack.map_or(0, |p| p.offset - start.offset) as usize;
        let to = from.saturating_add(chunk.size as usize).min(bytes.len());
        let piece = bytes.slice(from.min(to)..to);
        let actual = BlobHash::of(&piece);
        if actual != chunk.hash {
            return Err((
                at,
                StoreError::CorruptBlob {
                    hash: chunk.hash,
                    actual,
                    store: store.location().to_string(),
                },
            ));
        }
        pieces.push(piece);
    }
    Ok(pieces)
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
            matches!(error, StoreError::BadChunk { index: 5, count, .. } if count == manifest.chunks.len()),
            "{error:?}"
        );
    }
}
