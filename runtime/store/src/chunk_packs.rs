//! A large value's chunks packed into a few large objects, on object stores.
//!
//! On S3 and its kind each object is a request, which the server writes and
//! syncs on its own; a chunk small enough for two versions of a data frame
//! to share most of theirs (about half a MiB) costs more as a request than
//! as bytes. So an object store cuts values as a local store does, and a
//! value's *new* chunks — those the store does not hold yet — are uploaded
//! concatenated, in order, as *packs* of about [`PACK_SIZE`]. A pack is an
//! ordinary blob (`blobs/<hh>/<pack hash>`, named by the blake3 of its
//! bytes, so `mfw doctor` checks it like any blob). The value's manifest
//! says, for each chunk, which pack holds it and where; a read fetches
//! ranges of packs, adjacent chunks in one request.
//!
//! Which chunks the store holds, and where, is the *chunk index*: segments
//! at `chunk-index/<segment hash>`, each listing the chunks of the packs one
//! write uploaded. A writer reads the segments it has not seen yet before
//! each large value, and writes its own segment after its packs and before
//! its manifest. The index is only a hint for writing: a read never needs
//! it, a damaged or missing segment costs only sharing, and a chunk is
//! reused only from a pack that is there (one `HEAD` a pack per process).
//! Once a store has more than [`COMPACT_FROM`] segments, a writer merges
//! them into one and deletes those it merged.
//!
//! ```text
//! chunk-index segment: "mfw chunk index v1\n", then per chunk
//!   chunk hash (32 bytes) | pack hash (32) | offset (u64 LE) | size (u32 LE)
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use mfw_graph::BlobHash;
use object_store::path::Path;
use object_store::{ObjectStoreExt as _, PutMode, PutPayload};
use tokio::task::JoinSet;

use crate::chunked::{CHUNK_CONCURRENCY, ChunkRef, Manifest, PackRef};
use crate::delta::DeltaRef;
use crate::{Datastore, StoreError};

/// A pack is sealed and uploaded once its chunks reach this many bytes.
/// Large enough that a request's cost is small beside its bytes, small
/// enough that a few in flight stay a few tens of MiB.
pub(crate) const PACK_SIZE: usize = 8 << 20;

/// A store with more index segments than this has them merged into one.
pub(crate) const COMPACT_FROM: usize = 64;

/// Where the chunk index's segments are.
pub(crate) const INDEX_PREFIX: &str = "chunk-index";

/// The first bytes of a segment: what it is, so a future layout can tell.
const SEGMENT_HEADER: &[u8] = b"mfw chunk index v1\n";

/// One entry's bytes in a segment.
const ENTRY_LEN: usize = 32 + 32 + 8 + 4;

/// Where a chunk's bytes are: a range of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) pack: BlobHash,
    pub(crate) offset: u64,
    pub(crate) size: u32,
}

/// The chunk index as this process knows it (see the module's comment).
#[derive(Debug, Default)]
pub(crate) struct ChunkIndex {
    /// The segments read or found damaged, by hash.
    seen: HashSet<BlobHash>,
    /// The segments found damaged: never merged away.
    damaged: HashSet<BlobHash>,
    places: HashMap<BlobHash, Place>,
}

impl ChunkIndex {
    fn add(&mut self, entries: impl IntoIterator<Item = (BlobHash, Place)>) {
        for (chunk, place) in entries {
            self.places.entry(chunk).or_insert(place);
        }
    }

    /// Stops using a pack found missing (set aside by `mfw doctor`).
    fn forget_pack(&mut self, pack: &BlobHash) {
        self.places.retain(|_, place| place.pack != *pack);
    }
}

/// A segment's bytes for `entries`.
pub(crate) fn encode_segment<'a>(
    entries: impl IntoIterator<Item = (&'a BlobHash, &'a Place)>,
) -> Bytes {
    let mut out = SEGMENT_HEADER.to_vec();
    for (chunk, place) in entries {
        out.extend_from_slice(chunk.as_bytes());
        out.extend_from_slice(place.pack.as_bytes());
        out.extend_from_slice(&place.offset.to_le_bytes());
        out.extend_from_slice(&place.size.to_le_bytes());
    }
    Bytes::from(out)
}

/// The entries of a segment, `None` when it is not one.
pub(crate) fn decode_segment(bytes: &[u8]) -> Option<Vec<(BlobHash, Place)>> {
    let body = bytes.strip_prefix(SEGMENT_HEADER)?;
    if body.len() % ENTRY_LEN != 0 {
        return None;
    }
    let hash = |b: &[u8]| Some(BlobHash::from_bytes(b.try_into().ok()?));
    body.chunks_exact(ENTRY_LEN)
        .map(|entry| {
            let (chunk, rest) = entry.split_at(32);
            let (pack, rest) = rest.split_at(32);
            let (offset, size) = rest.split_at(8);
            Some((
                hash(chunk)?,
                Place {
                    pack: hash(pack)?,
                    offset: u64::from_le_bytes(offset.try_into().ok()?),
                    size: u32::from_le_bytes(size.try_into().ok()?),
                },
            ))
        })
        .collect()
}

impl Datastore {
    pub(crate) fn segment_path(hash: &BlobHash) -> Path {
        Path::from(format!("{INDEX_PREFIX}/{}", hash.to_hex()))
    }

    /// Reads the index segments this process has not seen yet, and merges
    /// them all into one when there are many.
    pub(crate) async fn refresh_chunk_index(&self) -> Result<(), StoreError> {
        let listed: Vec<_> = self
            .backend
            .list(Some(&Path::from(INDEX_PREFIX)))
            .try_collect()
            .await
            .map_err(|e| self.explain(e))?;
        let listed: Vec<(Path, BlobHash)> = listed
            .into_iter()
            .filter_map(|meta| {
                let hash = meta.location.filename()?.parse().ok()?;
                Some((meta.location, hash))
            })
            .collect();
        let unseen: Vec<(Path, BlobHash)> = {
            let index = self.chunk_index.lock().map_err(|_| self.poisoned())?;
            listed
                .iter()
                .filter(|(_, hash)| !index.seen.contains(hash))
                .cloned()
                .collect()
        };
        let read: Vec<(BlobHash, Result<Bytes, StoreError>)> = futures::stream::iter(unseen)
            .map(|(path, hash)| async move {
                if let Some(cache) = &self.cache
                    && let Some(bytes) = cache.get(&hash)
                {
                    return (hash, Ok(bytes));
                }
                let read = self.get_verified(&path, &hash).await;
                if let (Some(cache), Ok(bytes)) = (&self.cache, &read) {
                    cache.put(&hash, bytes);
                }
                (hash, read)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        {
            let mut index = self.chunk_index.lock().map_err(|_| self.poisoned())?;
            for (hash, bytes) in read {
                match bytes {
                    // Merged away since it was listed: its entries are in
                    // the segment that merged it.
                    Err(StoreError::MissingBlob { .. }) => continue,
                    // The backend failing is not damage.
                    Err(StoreError::Backend { source, .. }) => return Err(self.explain(source)),
                    Ok(bytes) => match decode_segment(&bytes) {
                        Some(entries) => index.add(entries),
                        None => {
                            index.damaged.insert(hash);
                        }
                    },
                    // Damaged: only sharing is lost; `mfw doctor` reports it.
                    Err(_) => {
                        index.damaged.insert(hash);
                    }
                }
                index.seen.insert(hash);
            }
        }
        if listed.len() > COMPACT_FROM {
            self.compact_chunk_index(&listed).await?;
        }
        Ok(())
    }

    /// Writes every entry this process knows as one segment, then deletes
    /// the listed segments it has read (a damaged one stays, for `mfw
    /// doctor`).
    async fn compact_chunk_index(&self, listed: &[(Path, BlobHash)]) -> Result<(), StoreError> {
        let (merged, read): (Bytes, Vec<Path>) = {
            let index = self.chunk_index.lock().map_err(|_| self.poisoned())?;
            let mut entries: Vec<_> = index.places.iter().collect();
            // The same entries give the same segment, whoever merges them.
            entries.sort_by_key(|(chunk, _)| **chunk);
            let read = listed
                .iter()
                .filter(|(_, hash)| index.seen.contains(hash) && !index.damaged.contains(hash))
                .map(|(path, _)| path.clone())
                .collect();
            (encode_segment(entries), read)
        };
        let hash = BlobHash::of(&merged);
        self.put_content(&Self::segment_path(&hash), merged, PutMode::Create)
            .await?;
        if let Ok(mut index) = self.chunk_index.lock() {
            index.seen.insert(hash);
        }
        let merged_path = Self::segment_path(&hash);
        for path in read.into_iter().filter(|path| *path != merged_path) {
            match self.backend.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.explain(e)),
            }
        }
        Ok(())
    }

    fn poisoned(&self) -> StoreError {
        StoreError::Open {
            location: self.location.to_string(),
            reason: "a thread writing to it panicked (its chunk index is unusable)".to_string(),
        }
    }

    /// Where the store holds `chunk`, if its index says so and the pack
    /// is there.
    async fn stored_place(&self, chunk: &BlobHash) -> Result<Option<Place>, StoreError> {
        let place = self
            .chunk_index
            .lock()
            .map_err(|_| self.poisoned())?
            .places
            .get(chunk)
            .copied();
        let Some(place) = place else {
            return Ok(None);
        };
        if self.is_known(&place.pack) {
            return Ok(Some(place));
        }
        match self.backend.head(&Self::blob_path(&place.pack)).await {
            Ok(meta) if meta.size >= place.offset + u64::from(place.size) => {
                self.remember(place.pack);
                Ok(Some(place))
            }
            // Set aside, or not the pack the index says: never reused.
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {
                if let Ok(mut index) = self.chunk_index.lock() {
                    index.forget_pack(&place.pack);
                }
                Ok(None)
            }
            Err(e) => Err(self.explain(e)),
        }
    }

    /// Whether the store holds `chunk` already: in an object store
    /// (`packed`), in a pack its chunk index knows; else as a blob.
    pub(crate) async fn holds_chunk(
        &self,
        chunk: &BlobHash,
        packed: bool,
    ) -> Result<bool, StoreError> {
        if packed {
            return Ok(self.stored_place(chunk).await?.is_some());
        }
        self.holds_blob(chunk).await
    }

    /// Whether the blob `hash` (a chunk, a difference or a pack) is there.
    pub(crate) async fn holds_blob(&self, hash: &BlobHash) -> Result<bool, StoreError> {
        if self.is_known(hash) {
            return Ok(true);
        }
        match self.backend.head(&Self::blob_path(hash)).await {
            Ok(_) => {
                self.remember(*hash);
                Ok(true)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// Uploads one pack of concatenated chunks under its hash, `hash`.
    async fn put_pack(&self, hash: BlobHash, pieces: Vec<Bytes>) -> Result<(), StoreError> {
        // A pack already there is left (reads check what they use).
        let payload: PutPayload = pieces.into_iter().collect();
        self.put_content(&Self::blob_path(&hash), payload, PutMode::Create)
            .await?;
        self.remember(hash);
        Ok(())
    }
}

/// How a chunk handed to a [`Packer`] is stored.
pub(crate) enum Storing {
    /// As its own bytes, unless the store holds it.
    AsItIs,
    /// As its difference from the value its value replaces, given with
    /// the bytes that store it (`delta.rs`), unless the store holds it.
    Difference(DeltaRef, Bytes),
    /// As the difference the value its value replaces stores it as, at
    /// that place in a pack.
    AsBefore(PackRef, DeltaRef),
}

/// One chunk of the value being packed: where its stored bytes are, and,
/// when those are its difference from an earlier value, that.
#[derive(Debug, Clone, Copy)]
struct Placed {
    chunk: BlobHash,
    size: u64,
    place: Place,
    delta: Option<DeltaRef>,
}

/// Packs one large value's chunks as they come (see the module's comment):
/// [`Packer::add`] each chunk, then [`Packer::finish`] for the manifest.
pub(crate) struct Packer {
    store: Datastore,
    /// Chunks handed over ahead of an earlier one, by index: packed in
    /// order, so the same value always makes the same packs.
    waiting: BTreeMap<usize, (BlobHash, Bytes, Storing)>,
    /// Each chunk of the value so far, in order, and where it is. A chunk
    /// in a pack of this write has a placeholder pack hash until the pack
    /// is hashed.
    chunks: Vec<Placed>,
    /// This write's chunks (their first index in `chunks`), so one
    /// repeated in the value is stored once.
    here: HashMap<BlobHash, usize>,
    /// The pack being filled: its pieces and their size.
    open: Vec<Bytes>,
    open_len: usize,
    /// For each pack of this write, by number (the last is the open one),
    /// which of `chunks` are in it, until it is hashed.
    members: Vec<Vec<usize>>,
    /// Which pack each chunk waiting for its pack's hash is in.
    pack_of: HashMap<usize, usize>,
    /// The chunks this write's packs hold, for its index segment.
    new_places: BTreeMap<BlobHash, Place>,
    /// Each pack in flight: hashed, then uploaded; gives back its number
    /// and hash.
    uploads: JoinSet<Result<(usize, BlobHash), StoreError>>,
}

impl Packer {
    /// A packer for a new value in `store`, which reads the chunk index's
    /// new segments first.
    pub(crate) async fn new(store: &Datastore) -> Result<Self, StoreError> {
        store.refresh_chunk_index().await?;
        Ok(Self {
            store: store.clone(),
            waiting: BTreeMap::new(),
            chunks: Vec::new(),
            here: HashMap::new(),
            open: Vec::new(),
            open_len: 0,
            members: vec![Vec::new()],
            pack_of: HashMap::new(),
            new_places: BTreeMap::new(),
            uploads: JoinSet::new(),
        })
    }

    /// Takes the value's chunk number `index` (from 0, each once, in any
    /// order), whose hash is `chunk`, stored as `storing` says.
    pub(crate) async fn add(
        &mut self,
        index: usize,
        chunk: BlobHash,
        piece: Bytes,
        storing: Storing,
    ) -> Result<(), StoreError> {
        self.waiting.insert(index, (chunk, piece, storing));
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() != self.chunks.len() {
                break;
            }
            let (chunk, piece, storing) = entry.remove();
            self.place(chunk, piece, storing).await?;
        }
        Ok(())
    }

    async fn place(
        &mut self,
        chunk: BlobHash,
        piece: Bytes,
        storing: Storing,
    ) -> Result<(), StoreError> {
        let index = self.chunks.len();
        if let Some(&earlier) = self.here.get(&chunk) {
            let placed = self.chunks[earlier];
            if let Some(&pack) = self.pack_of.get(&earlier) {
                self.join_pack(index, pack);
            }
            self.chunks.push(placed);
            return Ok(());
        }
        let size = piece.len() as u64;
        let stored_place = match storing {
            Storing::AsBefore(pack, delta) => Some((
                Place {
                    pack: pack.hash,
                    offset: pack.offset,
                    size: u32::try_from(delta.size).unwrap_or(u32::MAX),
                },
                Some(delta),
            )),
            _ => self
                .store
                .stored_place(&chunk)
                .await?
                .map(|place| (place, None)),
        };
        let (place, delta) = match stored_place {
            Some(found) => found,
            None => {
                let (stored, delta) = match storing {
                    Storing::Difference(delta, stored) => (stored, Some(delta)),
                    _ => (piece, None),
                };
                let place = Place {
                    // Filled in when the pack is hashed.
                    pack: BlobHash::from_bytes([0; 32]),
                    offset: self.open_len as u64,
                    // A chunk is at most a few MiB (`chunked::MAX_CHUNK`).
                    size: u32::try_from(stored.len()).unwrap_or(u32::MAX),
                };
                self.open_len += stored.len();
                self.open.push(stored);
                self.join_pack(index, self.members.len() - 1);
                (place, delta)
            }
        };
        self.here.insert(chunk, index);
        self.chunks.push(Placed {
            chunk,
            size,
            place,
            delta,
        });
        if self.open_len >= PACK_SIZE {
            self.seal().await?;
        }
        Ok(())
    }

    /// Records that chunk `index` is in this write's pack number `pack`.
    fn join_pack(&mut self, index: usize, pack: usize) {
        if let Some(members) = self.members.get_mut(pack) {
            members.push(index);
            self.pack_of.insert(index, pack);
        }
    }

    /// Hashes and uploads the open pack off this task, waiting while
    /// enough are in flight.
    async fn seal(&mut self) -> Result<(), StoreError> {
        if self.open.is_empty() {
            return Ok(());
        }
        while self.uploads.len() >= CHUNK_CONCURRENCY {
            self.join_one().await?;
        }
        let pieces = std::mem::take(&mut self.open);
        self.open_len = 0;
        let number = self.members.len() - 1;
        self.members.push(Vec::new());
        let store = self.store.clone();
        self.uploads.spawn(async move {
            let hashed = pieces.clone();
            let hash = tokio::task::spawn_blocking(move || {
                let mut hasher = blake3::Hasher::new();
                for piece in &hashed {
                    hasher.update(piece);
                }
                BlobHash::from_bytes(*hasher.finalize().as_bytes())
            })
            .await
            .map_err(|source| StoreError::Interrupted {
                what: "hashing a pack",
                store: store.location().to_string(),
                source,
            })?;
            store.put_pack(hash, pieces).await?;
            Ok((number, hash))
        });
        Ok(())
    }

    /// Waits for one pack's upload, and fills in its chunks' places.
    async fn join_one(&mut self) -> Result<(), StoreError> {
        let (number, pack) = match self.uploads.join_next().await {
            Some(Ok(done)) => done?,
            Some(Err(join)) => {
                return Err(StoreError::Interrupted {
                    what: "uploading a pack",
                    store: self.store.location().to_string(),
                    source: join,
                });
            }
            None => return Ok(()),
        };
        let members = self.members.get_mut(number).map(std::mem::take);
        for member in members.unwrap_or_default() {
            self.pack_of.remove(&member);
            if let Some(placed) = self.chunks.get_mut(member) {
                placed.place.pack = pack;
                // The index lists where a chunk's own bytes are, which a
                // difference's are not.
                if placed.delta.is_none() {
                    self.new_places.insert(placed.chunk, placed.place);
                }
            }
        }
        Ok(())
    }

    /// Uploads what is left, then the index segment of this write's packs:
    /// the manifest of the value, `size` bytes in all, is the caller's to
    /// store.
    pub(crate) async fn finish(mut self, size: u64) -> Result<Manifest, StoreError> {
        self.seal().await?;
        while !self.uploads.is_empty() {
            self.join_one().await?;
        }
        if !self.new_places.is_empty() {
            let segment = encode_segment(&self.new_places);
            let hash = BlobHash::of(&segment);
            self.store
                .put_content(&Datastore::segment_path(&hash), segment, PutMode::Create)
                .await?;
            if let Ok(mut index) = self.store.chunk_index.lock() {
                index.seen.insert(hash);
                index.add(std::mem::take(&mut self.new_places));
            }
        }
        let chunks = self.chunks.iter().map(|placed| ChunkRef {
            hash: placed.chunk,
            size: placed.size,
            pack: Some(PackRef {
                hash: placed.place.pack,
                offset: placed.place.offset,
            }),
            delta: placed.delta,
        });
        Ok(Manifest::of(size, chunks))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use futures::TryStreamExt as _;
    use mfw_graph::BlobHash;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStore, ObjectStoreExt as _};

    use super::*;
    use crate::chunked::tests::noise;
    use crate::chunked::{MAX_CHUNK, OBJECT_STORE};
    use crate::{Datastore, ProblemKind, StoreError};

    /// An object store in memory, and a handle on it as a process opens it.
    fn bucket() -> Arc<InMemory> {
        Arc::new(InMemory::new())
    }

    fn open(bucket: &Arc<InMemory>) -> Datastore {
        Datastore::with_backend(bucket.clone(), "memory://bucket")
    }

    /// Every object under `prefix`, with its size.
    async fn objects(bucket: &Arc<InMemory>, prefix: &str) -> Vec<(Path, u64)> {
        let listed: Vec<_> = bucket
            .list(Some(&Path::from(prefix)))
            .try_collect()
            .await
            .unwrap();
        listed.into_iter().map(|m| (m.location, m.size)).collect()
    }

    #[test]
    fn a_segment_reads_back_and_anything_else_is_refused() {
        let place = |n: u8| Place {
            pack: BlobHash::of(&[n]),
            offset: u64::from(n) << 33,
            size: 3 << 20,
        };
        let entries = vec![
            (BlobHash::of(b"a"), place(1)),
            (BlobHash::of(b"b"), place(2)),
        ];
        let bytes = encode_segment(entries.iter().map(|(c, p)| (c, p)));
        assert_eq!(decode_segment(&bytes), Some(entries));
        assert_eq!(decode_segment(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode_segment(b"something else"), None);
        assert_eq!(decode_segment(SEGMENT_HEADER), Some(Vec::new()));
    }

    #[tokio::test]
    async fn values_around_the_pack_and_chunk_sizes_are_packed_and_read_back_whole() {
        let bucket = bucket();
        let store = open(&bucket);
        let from = OBJECT_STORE.from;
        let sizes = [
            from - 1,
            from,
            from + 1,
            3 * PACK_SIZE + 1,
            3 * PACK_SIZE + MAX_CHUNK,
            40 << 20,
        ];
        for (seed, size) in sizes.into_iter().enumerate() {
            let bytes = noise(size, seed as u64 + 21);
            let before = objects(&bucket, "blobs").await.len();
            let hash = store.put_blob(bytes.clone()).await.unwrap();
            let made = objects(&bucket, "blobs").await.len() - before;
            if size < from {
                assert_eq!(made, 1, "{size} bytes: one object");
                continue;
            }
            // Packs of at least PACK_SIZE but the last, not a chunk apiece.
            assert!(
                made <= size.div_ceil(PACK_SIZE),
                "{size} bytes: {made} packs"
            );
            let manifest = store.read_manifest(&hash).await.unwrap();
            assert!(manifest.chunks.len() > made, "{size} bytes");
            assert!(manifest.chunks.iter().all(|c| c.pack.is_some()));
            // Another process, which knows nothing of what was written.
            let again = open(&bucket);
            assert!(again.has_blob(&hash).await.unwrap());
            assert_eq!(again.get_blob(&hash).await.unwrap(), bytes, "{size} bytes");
            // Storing it again, from there, uploads nothing.
            let all = objects(&bucket, "").await.len();
            again.put_blob(bytes).await.unwrap();
            assert_eq!(objects(&bucket, "").await.len(), all, "{size} bytes");
        }
        assert!(store.examine(true).await.unwrap().problems.is_empty());
    }

    #[tokio::test]
    async fn a_new_version_changed_in_one_percent_uploads_few_new_bytes() {
        let bucket = bucket();
        let size = 48 << 20;
        let bytes = noise(size, 5);
        open(&bucket).put_blob(bytes.clone()).await.unwrap();
        let before: Vec<_> = objects(&bucket, "blobs").await;
        let mut changed = bytes.to_vec();
        let at = size / 3;
        for b in &mut changed[at..at + size / 100] {
            *b = b.wrapping_add(1);
        }
        let changed = Bytes::from(changed);
        // Written by another process: it learns the chunks from the index.
        let store = open(&bucket);
        let hash = store.put_blob(changed.clone()).await.unwrap();
        let new: u64 = objects(&bucket, "blobs")
            .await
            .into_iter()
            .filter(|object| !before.contains(object))
            .map(|(_, size)| size)
            .sum();
        assert!(new <= size as u64 / 10, "{new} new bytes of {size}");
        assert_eq!(open(&bucket).get_blob(&hash).await.unwrap(), changed);
    }

    #[tokio::test]
    async fn a_value_streamed_in_pieces_makes_the_packs_the_whole_would() {
        let bytes = noise(OBJECT_STORE.from + 3 * PACK_SIZE / 2, 6);
        let whole = bucket();
        let expected = open(&whole).put_blob(bytes.clone()).await.unwrap();
        for piece in [4096, 1 << 20, 5 << 20] {
            let streamed = bucket();
            let store = open(&streamed);
            let mut writer = store.value_writer();
            for p in bytes.chunks(piece) {
                writer.write(p).await.unwrap();
            }
            assert_eq!(writer.finish().await.unwrap(), expected);
            assert_eq!(
                objects(&streamed, "").await,
                objects(&whole, "").await,
                "pieces of {piece}"
            );
            let mut reader = store.value_reader(&expected).await.unwrap();
            let mut read = Vec::new();
            while let Some(piece) = reader.next_piece().await.unwrap() {
                read.extend_from_slice(&piece);
            }
            assert_eq!(read, bytes.to_vec());
        }
    }

    #[tokio::test]
    async fn a_value_repeating_a_chunk_stores_it_once() {
        let bucket = bucket();
        let store = open(&bucket);
        let part = noise(4 << 20, 8).to_vec();
        let bytes = Bytes::from(part.repeat(6));
        let hash = store.put_blob(bytes.clone()).await.unwrap();
        let stored: u64 = objects(&bucket, "blobs")
            .await
            .iter()
            .map(|(_, size)| size)
            .sum();
        // The repeats share their chunks but those around each seam.
        assert!(stored < 2 * part.len() as u64, "{stored} bytes stored");
        assert_eq!(open(&bucket).get_blob(&hash).await.unwrap(), bytes);
    }

    #[tokio::test]
    async fn a_damaged_pack_is_named_on_read_set_aside_by_doctor_and_never_reused() {
        let bucket = bucket();
        let store = open(&bucket);
        let bytes = noise(OBJECT_STORE.from + PACK_SIZE, 9);
        let hash = store.put_blob(bytes.clone()).await.unwrap();
        let manifest = store.read_manifest(&hash).await.unwrap();
        let damaged_chunk = manifest.chunks.len() - 1;
        let pack = manifest.chunks[damaged_chunk].blob();
        let path = Datastore::blob_path(&pack);
        let mut pack_bytes = bucket
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let last = pack_bytes.len() - 1;
        pack_bytes[last] ^= 1;
        bucket
            .put(&path, Bytes::from(pack_bytes).into())
            .await
            .unwrap();

        let again = open(&bucket);
        let error = again.get_blob(&hash).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::BadChunk { index, count, source, .. }
                if *index == damaged_chunk && *count == manifest.chunks.len()
                    && matches!(**source, StoreError::CorruptBlob { .. })),
            "{error:?}"
        );
        assert!(error.to_string().contains(&hash.to_hex()), "{error}");

        let found = again.examine(true).await.unwrap();
        let kinds: Vec<_> = found
            .problems
            .iter()
            .map(|p| (p.kind, p.path.clone()))
            .collect();
        assert!(
            kinds.contains(&(ProblemKind::CorruptBlob, path.to_string())),
            "{kinds:?}"
        );
        again.repair(&found).await.unwrap();
        assert!(!again.has_blob(&hash).await.unwrap());

        // Written again, by a process whose index names the pack set aside:
        // its chunks are uploaded anew, not pointed at what is gone.
        let writer = open(&bucket);
        writer.put_blob(bytes.clone()).await.unwrap();
        assert_eq!(open(&bucket).get_blob(&hash).await.unwrap(), bytes);
    }

    #[tokio::test]
    async fn a_damaged_segment_costs_only_sharing_and_doctor_names_it() {
        let bucket = bucket();
        let named = BlobHash::of(b"what the segment held");
        let path = Datastore::segment_path(&named);
        bucket
            .put(&path, Bytes::from_static(b"garbage").into())
            .await
            .unwrap();
        let store = open(&bucket);
        let bytes = noise(OBJECT_STORE.from + 1, 10);
        let hash = store.put_blob(bytes.clone()).await.unwrap();
        assert_eq!(open(&bucket).get_blob(&hash).await.unwrap(), bytes);
        let found = store.examine(true).await.unwrap();
        let kinds: Vec<_> = found
            .problems
            .iter()
            .map(|p| (p.kind, p.path.clone()))
            .collect();
        assert_eq!(kinds, vec![(ProblemKind::CorruptBlob, path.to_string())]);
    }

    #[tokio::test]
    async fn many_segments_are_merged_into_one_that_keeps_every_entry() {
        let bucket = bucket();
        let mut expected = Vec::new();
        for n in 0..(COMPACT_FROM + 2) as u64 {
            let chunk = BlobHash::of(&n.to_le_bytes());
            let place = Place {
                pack: BlobHash::of(b"pack"),
                offset: n * 1000,
                size: 1000,
            };
            expected.push((chunk, place));
            let segment = encode_segment([(&chunk, &place)]);
            let path = Datastore::segment_path(&BlobHash::of(&segment));
            bucket.put(&path, segment.into()).await.unwrap();
        }
        let store = open(&bucket);
        store.refresh_chunk_index().await.unwrap();
        let left = objects(&bucket, INDEX_PREFIX).await;
        assert_eq!(left.len(), 1, "{left:?}");
        let merged = bucket.get(&left[0].0).await.unwrap().bytes().await.unwrap();
        let mut entries = decode_segment(&merged).unwrap();
        entries.sort_by_key(|(chunk, _)| *chunk);
        expected.sort_by_key(|(chunk, _)| *chunk);
        assert_eq!(entries, expected);
        // Another process reads the one segment.
        let again = open(&bucket);
        again.refresh_chunk_index().await.unwrap();
        assert_eq!(
            again.chunk_index.lock().unwrap().places.len(),
            expected.len()
        );
    }

    #[tokio::test]
    async fn a_manifest_placing_chunks_anywhere_in_a_pack_is_an_error_not_a_crash() {
        let bucket = bucket();
        let store = open(&bucket);
        let pack = store
            .put_blob(Bytes::from_static(b"a small pack"))
            .await
            .unwrap();
        let hash = BlobHash::of(b"never stored");
        for (first, second) in [
            (u64::MAX - 3, 0),
            (u64::MAX - 7, u64::MAX - 3),
            (u64::MAX - 3, u64::MAX),
            (0, 4),
            (100, 104),
        ] {
            let chunk = |offset: u64| {
                serde_json::json!({"hash": BlobHash::of(b"abcd"), "size": 4,
                    "pack": {"hash": pack, "offset": offset}})
            };
            let manifest = serde_json::json!({
                "format": "mfw chunked value v2",
                "size": 8,
                "chunks": [chunk(first), chunk(second)],
            });
            let json = Bytes::from(serde_json::to_vec(&manifest).unwrap());
            bucket
                .put(&Datastore::manifest_path(&hash), json.into())
                .await
                .unwrap();
            let error = open(&bucket).get_blob(&hash).await.unwrap_err();
            assert!(
                matches!(
                    error,
                    StoreError::BadChunk { .. } | StoreError::Backend { .. }
                ),
                "{first}, {second}: {error:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_value_chunked_before_packs_still_reads() {
        // What an object store held before chunks were packed: each chunk
        // its own blob, named by a v1 manifest.
        let bucket = bucket();
        let bytes = noise(20 << 20, 12);
        let (manifest, chunks) = crate::chunked::Manifest::split(&bytes, crate::chunked::LOCAL);
        for (hash, piece) in chunks {
            bucket
                .put(&Datastore::blob_path(&hash), piece.into())
                .await
                .unwrap();
        }
        let hash = BlobHash::of(&bytes);
        let json = manifest.to_json();
        assert!(String::from_utf8_lossy(&json).contains("\"mfw chunked value v1\""));
        bucket
            .put(&Datastore::manifest_path(&hash), json.into())
            .await
            .unwrap();
        assert_eq!(open(&bucket).get_blob(&hash).await.unwrap(), bytes);
        assert!(
            open(&bucket)
                .examine(true)
                .await
                .unwrap()
                .problems
                .is_empty()
        );
    }
}
