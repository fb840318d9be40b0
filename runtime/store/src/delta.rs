//! A large value's new chunks stored as their difference from the value it
//! replaces.
//!
//! Content-defined chunks let two versions of a value share what a change
//! left whole. A data frame with 1% of its rows changed at random has a
//! changed value every few hundred bytes of every column, so every chunk
//! is new, and chunking alone stores the new version again in full. Yet
//! almost every byte is where it was: XORed with the earlier version's
//! bytes at the same offsets, such a chunk is zeros but for the changed
//! values, and deflates to a few percent of its size.
//!
//! So a [`ValueWriter`](crate::ValueWriter) told which value the new one
//! replaces (a task setting an artifact it received) stores each chunk the
//! store lacks as that difference — `zlib(chunk XOR earlier[offset..])`,
//! the earlier bytes read as zeros past its end — when it deflates to at
//! most a quarter of the chunk. The manifest (format v3) names, for such a
//! chunk, the earlier value, the offset, the stored difference's hash and
//! size, and how many differences deep it is. A read checks the stored
//! difference against its hash, reads the earlier value's bytes (each of
//! their chunks checked, themselves perhaps differences), applies it, and
//! checks the chunk against its own hash: a damaged object anywhere along
//! the way is an error naming it, never a wrong value.
//!
//! A chunk is at most [`MAX_DEPTH`] differences away from stored bytes:
//! a writer stores a chunk whole rather than deeper, and a reader refuses
//! a deeper chain (a damaged manifest may loop).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use mfw_graph::BlobHash;

use crate::chunked::ChunkRef;
use crate::{Datastore, StoreError};

/// The most differences a chunk may be away from bytes stored as they are.
pub(crate) const MAX_DEPTH: u8 = 4;

/// A difference is kept only when it is at most this share of the chunk
/// (as a divisor): reading it reads the earlier bytes too.
const SHARE: usize = 4;

/// A chunk stored as its difference from an earlier value's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DeltaRef {
    /// The earlier value.
    pub(crate) base: BlobHash,
    /// Where in it the chunk's bytes are compared.
    pub(crate) offset: u64,
    /// The stored difference: its hash (the blob holding it, or its bytes
    /// in a pack) and size.
    pub(crate) hash: BlobHash,
    pub(crate) size: u64,
    /// How many differences reading it applies (1 when the earlier bytes
    /// are stored as they are).
    pub(crate) depth: u8,
}

/// `chunk`'s difference from `earlier` (its bytes at the chunk's offset,
/// perhaps fewer at the earlier value's end), deflated; `None` when it
/// would not be at most a quarter of the chunk.
pub(crate) fn encode(chunk: &[u8], earlier: &[u8]) -> Option<Vec<u8>> {
    let limit = chunk.len() / SHARE;
    let mut diff = chunk.to_vec();
    for (byte, was) in diff.iter_mut().zip(earlier) {
        *byte ^= was;
    }
    // More changed bytes than the limit cannot deflate under it often
    // enough to be worth deflating.
    if diff.iter().filter(|&&byte| byte != 0).count() > limit {
        return None;
    }
    let mut deflate = ZlibEncoder::new(Vec::with_capacity(limit), Compression::fast());
    deflate.write_all(&diff).ok()?;
    let stored = deflate.finish().ok()?;
    (stored.len() <= limit).then_some(stored)
}

/// The chunk of `size` bytes that `stored` (checked against its hash) is
/// the difference of from `earlier`.
pub(crate) fn decode(stored: &[u8], earlier: &[u8], size: u64) -> Result<Vec<u8>, &'static str> {
    let mut chunk = Vec::new();
    // A stored difference inflating past the chunk's size is damaged:
    // never inflated further than that.
    ZlibDecoder::new(stored)
        .take(size.saturating_add(1))
        .read_to_end(&mut chunk)
        .map_err(|_| "its difference does not inflate")?;
    if chunk.len() as u64 != size {
        return Err("its difference is not its size");
    }
    for (byte, was) in chunk.iter_mut().zip(earlier) {
        *byte ^= was;
    }
    Ok(chunk)
}

/// What reading differences keeps at hand: the manifests of the earlier
/// values read, and the last few chunks read of them (a new chunk rarely
/// starts where an earlier one did, so neighbours share one).
#[derive(Default)]
pub(crate) struct Earlier {
    values: HashMap<BlobHash, Arc<Listed>>,
    chunks: VecDeque<(BlobHash, Bytes)>,
}

/// How many earlier chunks, and earlier values' manifests, are kept.
const KEPT_CHUNKS: usize = 4;
const KEPT_VALUES: usize = 16;

/// Shared by the chunks of one read or write in flight.
pub(crate) type EarlierCache = Arc<Mutex<Earlier>>;

/// A chunked value's chunks, with where each starts.
pub(crate) struct Listed {
    chunks: Vec<ChunkRef>,
    starts: Vec<u64>,
}

impl Listed {
    fn of(chunks: Vec<ChunkRef>) -> Self {
        let mut at = 0u64;
        let starts = chunks
            .iter()
            .map(|chunk| {
                let start = at;
                at = at.saturating_add(chunk.size);
                start
            })
            .collect();
        Self { chunks, starts }
    }

    /// The chunks holding bytes `start..start + len`: each one's index,
    /// where it starts, and it.
    fn overlapping(&self, start: u64, len: u64) -> impl Iterator<Item = (usize, u64, &ChunkRef)> {
        let end = start.saturating_add(len);
        let first = self
            .starts
            .partition_point(|&at| at <= start)
            .saturating_sub(1);
        (first..self.chunks.len())
            .map(|index| (index, self.starts[index], &self.chunks[index]))
            .take_while(move |(_, at, _)| *at < end)
            .filter(move |(_, at, chunk)| at.saturating_add(chunk.size) > start)
    }
}

/// The value a new one replaces: its new chunks are stored as their
/// differences from its bytes.
pub(crate) struct Replaced {
    hash: BlobHash,
    listed: Arc<Listed>,
    /// Where each of its chunks is in `listed`, by hash.
    by_hash: HashMap<BlobHash, usize>,
    cache: EarlierCache,
    /// How many new chunks were, and were not, small differences: a value
    /// unlike the one it replaces stops being compared after a few.
    small: AtomicUsize,
    large: AtomicUsize,
}

/// After this many chunks and no small difference, a writer stops
/// comparing: reading the earlier bytes would cost without saving.
const GIVE_UP_AFTER: usize = 8;

impl Replaced {
    /// How the replaced value stores the chunk `hash`, if it has it.
    pub(crate) fn chunk(&self, hash: &BlobHash) -> Option<ChunkRef> {
        self.by_hash
            .get(hash)
            .map(|&index| self.listed.chunks[index])
    }
}

/// What a read or write of a large value returns.
type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

impl Datastore {
    /// The chunked value `hash`, to compare a new value's chunks with;
    /// `None` when it is not one whose manifest reads (a new value is then
    /// stored as it would be without it).
    pub(crate) async fn replaced(&self, hash: BlobHash) -> Option<Replaced> {
        let cache = EarlierCache::default();
        let listed = self.listed(&hash, &cache).await.ok()?;
        let by_hash = (listed.chunks.iter().enumerate())
            .map(|(index, chunk)| (chunk.hash, index))
            .collect();
        Some(Replaced {
            hash,
            listed,
            by_hash,
            cache,
            small: AtomicUsize::new(0),
            large: AtomicUsize::new(0),
        })
    }

    /// `piece`, at `offset` in a new value, as its difference from the
    /// value that value replaces, when that is small: its reference and its
    /// stored bytes. `None` when it is not, or the earlier bytes cannot be
    /// read (the chunk is then stored as it is: a damaged earlier value
    /// never stops a write).
    pub(crate) async fn difference(
        &self,
        replaced: &Replaced,
        offset: u64,
        piece: &Bytes,
    ) -> Option<(DeltaRef, Bytes)> {
        if replaced.small.load(Ordering::Relaxed) == 0
            && replaced.large.load(Ordering::Relaxed) >= GIVE_UP_AFTER
        {
            return None;
        }
        let len = piece.len() as u64;
        let deepest = replaced
            .listed
            .overlapping(offset, len)
            .map(|(_, _, chunk)| chunk.depth())
            .max()
            .unwrap_or(0);
        let depth = deepest.checked_add(1).filter(|&depth| depth <= MAX_DEPTH)?;
        let earlier = self
            .value_range(replaced.hash, offset, len, 0, &replaced.cache)
            .await
            .ok()?;
        let piece = piece.clone();
        let encoded = tokio::task::spawn_blocking(move || {
            encode(&piece, &earlier).map(|stored| (BlobHash::of(&stored), stored))
        })
        .await
        .ok()?;
        let counter = if encoded.is_some() {
            &replaced.small
        } else {
            &replaced.large
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (hash, stored) = encoded?;
        let delta = DeltaRef {
            base: replaced.hash,
            offset,
            hash,
            size: stored.len() as u64,
            depth,
        };
        Some((delta, Bytes::from(stored)))
    }

    /// The chunks of the chunked value `hash`, kept in `cache`.
    async fn listed(
        &self,
        hash: &BlobHash,
        cache: &EarlierCache,
    ) -> Result<Arc<Listed>, StoreError> {
        if let Some(listed) = cache.lock().ok().and_then(|c| c.values.get(hash).cloned()) {
            return Ok(listed);
        }
        let listed = Arc::new(Listed::of(self.read_manifest(hash).await?.chunks));
        if let Ok(mut cache) = cache.lock() {
            if cache.values.len() >= KEPT_VALUES {
                cache.values.clear();
            }
            cache.values.insert(*hash, listed.clone());
        }
        Ok(listed)
    }

    /// Bytes `start..start + len` of the value `hash` (fewer past its
    /// end), each chunk they come from checked; read `level` differences
    /// deep.
    fn value_range<'a>(
        &'a self,
        hash: BlobHash,
        start: u64,
        len: u64,
        level: u8,
        cache: &'a EarlierCache,
    ) -> Pending<'a, Vec<u8>> {
        Box::pin(async move {
            let listed = match self.listed(&hash, cache).await {
                Ok(listed) => listed,
                // A value stored whole.
                Err(StoreError::MissingBlob { .. }) => {
                    let whole = self.get_verified(&Self::blob_path(&hash), &hash).await?;
                    let from = usize::try_from(start)
                        .unwrap_or(usize::MAX)
                        .min(whole.len());
                    let to = usize::try_from(start.saturating_add(len))
                        .unwrap_or(usize::MAX)
                        .min(whole.len());
                    return Ok(whole[from..to].to_vec());
                }
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            let end = start.saturating_add(len);
            for (index, at, chunk) in listed.overlapping(start, len) {
                let bytes = self
                    .chunk_bytes(chunk, level, cache)
                    .await
                    .map_err(|source| StoreError::BadChunk {
                        hash,
                        index,
                        count: listed.chunks.len(),
                        store: self.location().to_string(),
                        source: Box::new(source),
                    })?;
                let from = usize::try_from(start.saturating_sub(at)).unwrap_or(usize::MAX);
                let to = usize::try_from(end - at)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                out.extend_from_slice(&bytes[from.min(to)..to]);
            }
            Ok(out)
        })
    }

    /// The bytes of `chunk`, read `level` differences deep, checked
    /// against its hash.
    pub(crate) fn chunk_bytes<'a>(
        &'a self,
        chunk: &'a ChunkRef,
        level: u8,
        cache: &'a EarlierCache,
    ) -> Pending<'a, Bytes> {
        Box::pin(async move {
            let kept = cache.lock().ok().and_then(|c| {
                c.chunks
                    .iter()
                    .find(|(hash, _)| *hash == chunk.hash)
                    .map(|(_, bytes)| bytes.clone())
            });
            if let Some(bytes) = kept {
                return Ok(bytes);
            }
            let stored = match chunk.pack {
                Some(pack) => {
                    let range = pack.offset..pack.offset.saturating_add(chunk.stored_size());
                    let bytes = self.get_pack_range(&pack.hash, range).await?;
                    let want = chunk.delta.map_or(chunk.hash, |delta| delta.hash);
                    let actual = BlobHash::of(&bytes);
                    if actual != want {
                        return Err(StoreError::CorruptBlob {
                            hash: want,
                            actual,
                            store: self.location().to_string(),
                        });
                    }
                    bytes
                }
                None => {
                    self.get_verified(&Self::blob_path(&chunk.blob()), &chunk.blob())
                        .await?
                }
            };
            let bytes = match chunk.delta {
                None => stored,
                Some(delta) => self.apply(chunk, delta, stored, level, cache).await?,
            };
            if let Ok(mut cache) = cache.lock() {
                if cache.chunks.len() >= KEPT_CHUNKS {
                    cache.chunks.pop_front();
                }
                cache.chunks.push_back((chunk.hash, bytes.clone()));
            }
            Ok(bytes)
        })
    }

    /// `chunk` from its stored difference (checked) and the earlier
    /// value's bytes, checked against its hash.
    async fn apply(
        &self,
        chunk: &ChunkRef,
        delta: DeltaRef,
        stored: Bytes,
        level: u8,
        cache: &EarlierCache,
    ) -> Result<Bytes, StoreError> {
        let bad = |reason| StoreError::BadDelta {
            chunk: chunk.hash,
            base: delta.base,
            store: self.location().to_string(),
            reason,
        };
        if level >= MAX_DEPTH {
            return Err(bad("it is more than 4 differences from stored bytes"));
        }
        let earlier = self
            .value_range(delta.base, delta.offset, chunk.size, level + 1, cache)
            .await
            .map_err(|source| StoreError::BadBase {
                chunk: chunk.hash,
                base: delta.base,
                store: self.location().to_string(),
                source: Box::new(source),
            })?;
        let size = chunk.size;
        let rebuilt = tokio::task::spawn_blocking(move || {
            decode(&stored, &earlier, size).map(|bytes| (BlobHash::of(&bytes), bytes))
        })
        .await
        .map_err(|source| StoreError::Interrupted {
            what: "applying a difference",
            store: self.location().to_string(),
            source,
        })?;
        let (actual, bytes) = rebuilt.map_err(bad)?;
        if actual != chunk.hash {
            return Err(StoreError::CorruptBlob {
                hash: chunk.hash,
                actual,
                store: self.location().to_string(),
            });
        }
        Ok(Bytes::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::tests::noise;

    #[test]
    fn scattered_changes_store_a_small_difference_that_gives_the_chunk_back() {
        let earlier = noise(512 << 10, 3);
        let mut chunk = earlier.to_vec();
        for at in (0..chunk.len()).step_by(800) {
            chunk[at] ^= 0x5a;
        }
        let stored = encode(&chunk, &earlier).expect("a small difference");
        assert!(stored.len() < chunk.len() / 50, "{} bytes", stored.len());
        assert_eq!(
            decode(&stored, &earlier, chunk.len() as u64).unwrap(),
            chunk
        );
        // Past the earlier value's end its bytes are zeros.
        let short = &earlier[..1000];
        let mut tail = chunk[..2000].to_vec();
        tail[1000..].fill(0);
        let stored = encode(&tail, short).unwrap();
        assert_eq!(decode(&stored, short, 2000).unwrap(), tail);
    }

    #[test]
    fn unrelated_bytes_are_not_stored_as_a_difference() {
        let earlier = noise(512 << 10, 3);
        let other = noise(512 << 10, 4);
        assert!(encode(&other, &earlier).is_none());
        assert!(encode(&other, &[]).is_none());
    }

    mod in_a_store {
        use std::sync::Arc;

        use bytes::Bytes;
        use futures::TryStreamExt as _;
        use mfw_graph::BlobHash;
        use object_store::memory::InMemory;
        use object_store::path::Path;
        use object_store::{ObjectStore as _, ObjectStoreExt as _};

        use crate::chunked::Manifest;
        use crate::chunked::tests::noise;
        use crate::delta::MAX_DEPTH;
        use crate::{Datastore, StoreError};

        /// `bytes` with one byte in every 800 changed: every chunk changes.
        fn scattered(bytes: &[u8], round: u8) -> Bytes {
            let mut changed = bytes.to_vec();
            for at in (usize::from(round) * 7..changed.len()).step_by(800) {
                changed[at] = changed[at].wrapping_add(1 + round);
            }
            Bytes::from(changed)
        }

        async fn write(store: &Datastore, bytes: &Bytes, replaces: Option<BlobHash>) -> BlobHash {
            let mut writer = store.value_writer_replacing(replaces);
            for piece in bytes.chunks(1 << 20) {
                writer.write(piece).await.unwrap();
            }
            writer.finish().await.unwrap()
        }

        /// Every object's path and size under `prefix`.
        async fn objects(store: &Arc<dyn object_store::ObjectStore>) -> Vec<(Path, u64)> {
            let listed: Vec<_> = store
                .list(Some(&Path::from("blobs")))
                .try_collect()
                .await
                .unwrap();
            listed.into_iter().map(|m| (m.location, m.size)).collect()
        }

        async fn manifest(store: &Datastore, hash: &BlobHash) -> Manifest {
            store.read_manifest(hash).await.unwrap()
        }

        /// `store` as another process opens it.
        fn reopen(store: &Datastore, backend: &Arc<dyn object_store::ObjectStore>) -> Datastore {
            if store.is_remote() {
                Datastore::with_backend(backend.clone(), store.location())
            } else {
                Datastore::open(store.location()).unwrap()
            }
        }

        /// A store on a directory, or an object store in memory (packed).
        fn stores() -> Vec<(
            Option<tempfile::TempDir>,
            Datastore,
            Arc<dyn object_store::ObjectStore>,
        )> {
            let dir = tempfile::tempdir().unwrap();
            let local: Arc<dyn object_store::ObjectStore> = Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap(),
            );
            let store = Datastore::open(dir.path().to_str().unwrap()).unwrap();
            let bucket: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
            let remote = Datastore::with_backend(bucket.clone(), "memory://bucket");
            vec![(Some(dir), store, local), (None, remote, bucket)]
        }

        /// A local store holding an 8 MiB value and a version of it changed
        /// a little everywhere: the store's directory, the store, the
        /// value, the version's bytes and the version.
        async fn two_versions(
            seed: u64,
        ) -> (tempfile::TempDir, Datastore, BlobHash, Bytes, BlobHash) {
            let (dir, store, _backend) = stores().remove(0);
            let first = noise(8 << 20, seed);
            let earlier = write(&store, &first, None).await;
            let second = scattered(&first, 1);
            let later = write(&store, &second, Some(earlier)).await;
            (dir.expect("a local store"), store, earlier, second, later)
        }

        #[tokio::test]
        async fn a_version_changed_everywhere_a_little_stores_a_little_and_reads_back() {
            for (_dir, store, backend) in stores() {
                let size = 24 << 20;
                let first = noise(size, 21);
                let earlier = write(&store, &first, None).await;
                let before = objects(&backend).await;
                let second = scattered(&first, 1);
                let hash = write(&store, &second, Some(earlier)).await;
                assert_eq!(hash, BlobHash::of(&second));
                let new: u64 = objects(&backend)
                    .await
                    .into_iter()
                    .filter(|object| !before.contains(object))
                    .map(|(_, size)| size)
                    .sum();
                assert!(new <= size as u64 / 20, "{new} new bytes of {size}");
                let listed = manifest(&store, &hash).await;
                assert!(
                    listed.chunks.iter().all(|c| c.delta.is_some()),
                    "{listed:?}"
                );
                // Read by a process that never saw it written.
                let again = reopen(&store, &backend);
                assert_eq!(again.get_blob(&hash).await.unwrap(), second);
                let mut reader = again.value_reader(&hash).await.unwrap();
                let mut read = Vec::new();
                while let Some(piece) = reader.next_piece().await.unwrap() {
                    read.extend_from_slice(&piece);
                }
                assert_eq!(read, second);
                assert!(again.examine(true).await.unwrap().problems.is_empty());
            }
        }

        #[tokio::test]
        async fn a_value_set_again_unchanged_stores_nothing_and_keeps_its_manifest() {
            for (_dir, store, backend) in stores() {
                let first = noise(24 << 20, 4);
                let earlier = write(&store, &first, None).await;
                let second = scattered(&first, 1);
                let hash = write(&store, &second, Some(earlier)).await;
                let listed = manifest(&store, &hash).await;
                let before = objects(&backend).await;
                // A later step setting again the value it received.
                assert_eq!(write(&store, &second, Some(hash)).await, hash);
                let again = reopen(&store, &backend);
                assert_eq!(write(&again, &second, Some(hash)).await, hash);
                assert_eq!(objects(&backend).await, before);
                // The same version written again from the same earlier
                // value (a retried task) keeps the manifest there.
                assert_eq!(write(&again, &second, Some(earlier)).await, hash);
                assert_eq!(manifest(&again, &hash).await, listed);
                assert_eq!(again.get_blob(&hash).await.unwrap(), second);
                // Half of it changed: what did not change is stored as
                // the earlier version stores it.
                let mut third = second.to_vec();
                third[12 << 20..].copy_from_slice(&noise(12 << 20, 9));
                let third = Bytes::from(third);
                let newest = write(&again, &third, Some(hash)).await;
                let kept = manifest(&again, &newest)
                    .await
                    .chunks
                    .iter()
                    .filter(|c| listed.chunks.contains(c))
                    .count();
                assert!(
                    kept * 3 >= listed.chunks.len(),
                    "{kept} of {}",
                    listed.chunks.len()
                );
                assert_eq!(again.get_blob(&newest).await.unwrap(), third);
            }
        }

        #[tokio::test]
        async fn chunks_whose_earlier_pack_was_set_aside_are_stored_again() {
            let (_dir, store, backend) = stores().remove(1);
            let first = noise(24 << 20, 6);
            let earlier = write(&store, &first, None).await;
            // `mfw doctor --repair` set the earlier value's packs aside.
            for (path, _) in objects(&backend).await {
                backend.delete(&path).await.unwrap();
            }
            let mut second = first.to_vec();
            second[12 << 20..].copy_from_slice(&noise(12 << 20, 7));
            let second = Bytes::from(second);
            let again = reopen(&store, &backend);
            let hash = write(&again, &second, Some(earlier)).await;
            assert_eq!(
                reopen(&store, &backend).get_blob(&hash).await.unwrap(),
                second
            );
        }

        #[tokio::test]
        async fn a_damaged_difference_is_not_reused_by_the_next_version() {
            let (dir, store, _, second, middle) = two_versions(14).await;
            let stored = manifest(&store, &middle).await.chunks[0]
                .delta
                .unwrap()
                .hash;
            let hex = stored.to_hex();
            let file = dir.path().join("blobs").join(&hex[..2]).join(&hex);
            let mut damaged = std::fs::read(&file).unwrap();
            let last = damaged.len() - 1;
            damaged[last] ^= 1;
            std::fs::write(&file, damaged).unwrap();
            // The next version keeps the first chunk unchanged.
            let mut third = second.to_vec();
            third[6 << 20..].copy_from_slice(&noise(2 << 20, 15));
            let third = Bytes::from(third);
            let again = Datastore::open(store.location()).unwrap();
            let newest = write(&again, &third, Some(middle)).await;
            assert_ne!(
                manifest(&again, &newest).await.chunks[0]
                    .delta
                    .map(|d| d.hash),
                Some(stored)
            );
            assert_eq!(again.get_blob(&newest).await.unwrap(), third);
        }

        #[tokio::test]
        async fn versions_of_versions_stay_within_the_depth_and_read_back() {
            for (_dir, store, _backend) in stores() {
                let mut bytes = noise(18 << 20, 5);
                let mut hash = write(&store, &bytes, None).await;
                let mut versions = vec![(hash, bytes.clone())];
                for round in 1..=(MAX_DEPTH + 2) {
                    bytes = scattered(&bytes, round);
                    hash = write(&store, &bytes, Some(hash)).await;
                    let depth = manifest(&store, &hash)
                        .await
                        .chunks
                        .iter()
                        .map(|c| c.depth())
                        .max()
                        .unwrap_or(0);
                    assert!(depth <= MAX_DEPTH, "round {round}: {depth} deep");
                    if round == MAX_DEPTH + 1 {
                        // One more difference would be too deep: stored whole.
                        assert!(depth < MAX_DEPTH, "round {round}: {depth}");
                    }
                    versions.push((hash, bytes.clone()));
                }
                for (hash, bytes) in versions {
                    assert_eq!(store.get_blob(&hash).await.unwrap(), bytes);
                }
            }
        }

        #[tokio::test]
        async fn a_damaged_earlier_value_is_named_on_read_and_never_stops_a_write() {
            let (dir, store, earlier, second, hash) = two_versions(8).await;
            let chunk = manifest(&store, &earlier).await.chunks[1].hash.to_hex();
            let file = dir.path().join("blobs").join(&chunk[..2]).join(&chunk);
            let mut damaged = std::fs::read(&file).unwrap();
            damaged[10] ^= 1;
            std::fs::write(&file, damaged).unwrap();
            let again = Datastore::open(store.location()).unwrap();
            let err = again.get_blob(&hash).await.unwrap_err();
            let StoreError::BadChunk { source, .. } = &err else {
                panic!("{err}");
            };
            let StoreError::BadBase { base, source, .. } = source.as_ref() else {
                panic!("{source}");
            };
            assert_eq!(*base, earlier);
            assert!(
                matches!(source.as_ref(), StoreError::BadChunk { hash, index: 1, .. } if *hash == earlier),
                "{source}"
            );
            let problems = again.examine(true).await.unwrap().problems;
            assert!(
                problems.iter().any(|p| p.path.contains(&hash.to_hex())),
                "{problems:?}"
            );
            // A third version of the damaged one is stored as it is.
            let third = scattered(&second, 2);
            let newest = write(&again, &third, Some(earlier)).await;
            assert_eq!(again.get_blob(&newest).await.unwrap(), third);
        }

        #[tokio::test]
        async fn a_quick_doctor_names_every_value_whose_earlier_value_is_gone() {
            let (dir, store, earlier, second, middle) = two_versions(12).await;
            let newest = write(&store, &scattered(&second, 2), Some(middle)).await;
            assert!(store.examine(false).await.unwrap().problems.is_empty());
            let hex = earlier.to_hex();
            std::fs::remove_file(dir.path().join(format!("chunked/{}/{hex}.json", &hex[..2])))
                .unwrap();
            let problems = Datastore::open(store.location())
                .unwrap()
                .examine(false)
                .await
                .unwrap()
                .problems;
            let named = |hash: &BlobHash| {
                problems
                    .iter()
                    .find(|p| p.path.contains(&hash.to_hex()))
                    .map(|p| p.reason.clone())
            };
            let reason = named(&middle).expect("the value after it");
            assert!(
                reason.contains(&format!("{earlier}, which is missing")),
                "{reason}"
            );
            let reason = named(&newest).expect("the value after that");
            assert!(
                reason.contains(&format!("{middle}, which is damaged")),
                "{reason}"
            );
        }

        #[tokio::test]
        async fn unrelated_bytes_and_a_missing_earlier_value_store_chunks_as_they_are() {
            let (_dir, store, _backend) = stores().remove(0);
            let earlier = write(&store, &noise(8 << 20, 1), None).await;
            let other = noise(8 << 20, 2);
            let hash = write(&store, &other, Some(earlier)).await;
            assert!(
                manifest(&store, &hash)
                    .await
                    .chunks
                    .iter()
                    .all(|c| c.delta.is_none())
            );
            let missing = BlobHash::of(b"never stored");
            let third = noise(8 << 20, 3);
            let hash = write(&store, &third, Some(missing)).await;
            assert_eq!(store.get_blob(&hash).await.unwrap(), third);
        }
    }

    #[test]
    fn a_difference_of_the_wrong_size_or_not_deflated_is_refused() {
        let earlier = noise(4096, 1);
        let stored = encode(&earlier, &earlier).unwrap();
        assert_eq!(
            decode(&stored, &earlier, 4095),
            Err("its difference is not its size")
        );
        assert_eq!(
            decode(&stored, &earlier, 4097),
            Err("its difference is not its size")
        );
        assert_eq!(
            decode(b"not zlib", &earlier, 4096),
            Err("its difference does not inflate")
        );
    }
}
