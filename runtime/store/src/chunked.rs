//! Large values as content-defined chunks.
//!
//! A value of [`CHUNKED_FROM`] bytes or more is cut where its content says
//! (FastCDC, about [`AVG_CHUNK`] apart), so that two versions of a large
//! data frame that differ in a few rows share all but the chunks around the
//! change. Each chunk is an ordinary blob (`blobs/<hh>/<chunk hash>`), stored
//! once however many values hold it; the value's manifest, at
//! `chunked/<hh>/<value hash>.json`, lists them in order. The value keeps
//! its identity, the blake3 of all its bytes, and a read checks each chunk
//! against its hash and the whole against the value's.
//!
//! The manifest is written after every chunk it names, in one atomic put,
//! so a write stopped midway leaves only unreferenced chunks: the value is
//! either whole or absent.

use bytes::Bytes;
use fastcdc::v2020::FastCDC;
use mfw_graph::BlobHash;

use crate::delta::{DeltaRef, MAX_DEPTH};

/// Values this large or larger are stored as chunks in a local store (16 MiB
/// in an object store). Smaller ones are one blob: one object, one request.
pub const CHUNKED_FROM: usize = 4 << 20;

/// No chunk but a value's last is smaller than this.
const MIN_CHUNK: usize = 128 << 10;
/// Where FastCDC aims its cuts. Small enough that a change to 1% of a
/// 100 MB data frame's rows, in each of its columns, rewrites well under a
/// tenth of it; large enough that a GB is a few thousand objects.
pub(crate) const AVG_CHUNK: usize = 512 << 10;
/// No chunk is larger than this (below [`CHUNKED_FROM`], so a chunk is
/// never chunked again).
pub(crate) const MAX_CHUNK: usize = 2 << 20;

/// How many chunks (in an object store, packs) a value moves at once, each
/// way.
pub(crate) const CHUNK_CONCURRENCY: usize = 8;

/// Where a store cuts values: the sizes FastCDC aims at and is bounded by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunking {
    /// Values this large or larger are chunked.
    pub(crate) from: usize,
    min: usize,
    avg: usize,
    pub(crate) max: usize,
}

/// A local store's chunks: small, so versions of a value share most of
/// them (files cost little).
pub(crate) const LOCAL: Chunking = Chunking {
    from: CHUNKED_FROM,
    min: MIN_CHUNK,
    avg: AVG_CHUNK,
    max: MAX_CHUNK,
};

/// An object store's chunks: cut as a local store's, so versions share as
/// many, but uploaded packed several MiB to a request (`packed.rs`); a
/// value smaller than a few packs is one object.
pub(crate) const OBJECT_STORE: Chunking = Chunking {
    from: 16 << 20,
    ..LOCAL
};

/// The largest chunk any manifest may name: an object store's chunks were
/// cut up to 8 MiB before they were packed, and those manifests still read.
const LARGEST_CHUNK: u64 = 8 << 20;

impl Chunking {
    /// Where the first chunk of `bytes` ends, as FastCDC cuts a value from
    /// that point. The cut depends only on the next `max` bytes, so a
    /// value written a piece at a time is cut exactly as the whole would
    /// be, provided `bytes` holds at least that many or the value's end.
    pub(crate) fn cut(self, bytes: &[u8]) -> usize {
        FastCDC::new(bytes, self.min, self.avg, self.max)
            .next()
            .map_or(bytes.len(), |chunk| chunk.length)
    }
}

/// `bytes` cut into chunks, in order, each cut when it is asked for (so a
/// writer can store the first while the next is cut); each shares `bytes`.
pub(crate) fn pieces(bytes: Bytes, chunking: Chunking) -> impl Iterator<Item = Bytes> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = start + chunking.cut(&bytes[start..]);
        let piece = bytes.slice(start..end);
        start = end;
        Some(piece)
    })
}

/// What a manifest says it is, so a future layout can tell its own apart:
/// v1 names chunks stored each as a blob, v2 may place them in packs, v3
/// may store them as differences from an earlier value (`delta.rs`).
const FORMAT: &str = "mfw chunked value v1";
const FORMAT_PACKED: &str = "mfw chunked value v2";
const FORMAT_DELTA: &str = "mfw chunked value v3";

/// A chunked value's manifest: its chunks in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: String,
    /// The value's size in bytes: the sum of its chunks' sizes.
    pub(crate) size: u64,
    pub(crate) chunks: Vec<ChunkRef>,
}

/// One chunk of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChunkRef {
    pub(crate) hash: BlobHash,
    pub(crate) size: u64,
    /// The pack that holds its stored bytes (an object store's), else
    /// the blob `hash` (or, for a difference, the blob `delta.hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pack: Option<PackRef>,
    /// When it is stored as its difference from an earlier value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) delta: Option<DeltaRef>,
}

/// Where in a pack a chunk's bytes start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct PackRef {
    /// The pack, a blob.
    pub(crate) hash: BlobHash,
    /// The chunk's first byte in it.
    pub(crate) offset: u64,
}

impl ChunkRef {
    /// The blob that holds this chunk's stored bytes.
    pub(crate) fn blob(&self) -> BlobHash {
        match (self.pack, self.delta) {
            (Some(pack), _) => pack.hash,
            (None, Some(delta)) => delta.hash,
            (None, None) => self.hash,
        }
    }

    /// How many bytes store it: its own, or its difference's.
    pub(crate) fn stored_size(&self) -> u64 {
        self.delta.map_or(self.size, |delta| delta.size)
    }

    /// How many differences reading it applies.
    pub(crate) fn depth(&self) -> u8 {
        self.delta.map_or(0, |delta| delta.depth)
    }
}

/// Why a large value's manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestProblem {
    /// It is not a manifest's JSON.
    #[error("it does not parse: {0}")]
    Parse(#[source] serde_json::Error),
    /// It is another layout's.
    #[error(
        "its format is `{0}`, not `{FORMAT}`, `{FORMAT_PACKED}` or `{FORMAT_DELTA}` (written by \
         a newer mfw?)"
    )]
    Format(String),
    /// A v1 manifest places a chunk in a pack.
    #[error("its chunk {0} is in a pack, which its format does not allow")]
    PackInV1(usize),
    #[error("its chunk {0} is a difference, which its format does not allow")]
    DeltaBeforeV3(usize),
    #[error("its chunk {index} is {depth} differences deep, more than {MAX_DEPTH}")]
    TooDeep { index: usize, depth: u8 },
    /// Its sizes disagree (with each other, or with a chunk read).
    #[error("it says {said} bytes where there are {sum}")]
    Size {
        /// What it says.
        said: u64,
        /// What its chunks hold.
        sum: u64,
    },
    /// It names a chunk larger than a write makes.
    #[error("its chunk {index} is {size} bytes, more than any chunk")]
    ChunkSize {
        /// Which chunk, from 0.
        index: usize,
        /// The size it claims.
        size: u64,
    },
}

impl Manifest {
    /// The manifest of `bytes`, cut into chunks: each chunk's hash and
    /// bytes (shared with `bytes`, not copied).
    #[cfg(test)]
    pub(crate) fn split(bytes: &Bytes, chunking: Chunking) -> (Self, Vec<(BlobHash, Bytes)>) {
        let chunks: Vec<(BlobHash, Bytes)> = pieces(bytes.clone(), chunking)
            .map(|piece| (BlobHash::of(&piece), piece))
            .collect();
        let manifest = Manifest::of(
            bytes.len() as u64,
            chunks.iter().map(|(hash, piece)| ChunkRef {
                hash: *hash,
                size: piece.len() as u64,
                pack: None,
                delta: None,
            }),
        );
        (manifest, chunks)
    }

    /// The manifest of a value of `size` bytes made of `chunks`.
    pub(crate) fn of(size: u64, chunks: impl IntoIterator<Item = ChunkRef>) -> Self {
        let chunks: Vec<ChunkRef> = chunks.into_iter().collect();
        // Readers older than packs refuse a manifest they cannot follow.
        let packed = chunks.iter().any(|chunk| chunk.pack.is_some());
        let deltas = chunks.iter().any(|chunk| chunk.delta.is_some());
        Manifest {
            format: if deltas {
                FORMAT_DELTA
            } else if packed {
                FORMAT_PACKED
            } else {
                FORMAT
            }
            .to_string(),
            size,
            chunks,
        }
    }

    pub(crate) fn to_json(&self) -> Bytes {
        // A struct of strings and numbers always serializes.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses and checks a stored manifest: the sizes it claims decide how
    /// much a read allocates, so they must add up and each chunk be one a
    /// write could have made.
    pub(crate) fn parse(json: &[u8]) -> Result<Self, ManifestProblem> {
        let manifest: Manifest = serde_json::from_slice(json).map_err(ManifestProblem::Parse)?;
        let (packed, deltas) = match manifest.format.as_str() {
            FORMAT => (false, false),
            FORMAT_PACKED => (true, false),
            FORMAT_DELTA => (true, true),
            _ => return Err(ManifestProblem::Format(manifest.format)),
        };
        let mut sum: u64 = 0;
        for (index, chunk) in manifest.chunks.iter().enumerate() {
            if chunk.pack.is_some() && !packed {
                return Err(ManifestProblem::PackInV1(index));
            }
            if chunk.delta.is_some() && !deltas {
                return Err(ManifestProblem::DeltaBeforeV3(index));
            }
            if chunk.depth() > MAX_DEPTH {
                return Err(ManifestProblem::TooDeep {
                    index,
                    depth: chunk.depth(),
                });
            }
            if chunk.size > LARGEST_CHUNK || chunk.stored_size() > LARGEST_CHUNK {
                return Err(ManifestProblem::ChunkSize {
                    index,
                    size: chunk.size,
                });
            }
            sum = sum.saturating_add(chunk.size);
        }
        if sum != manifest.size {
            return Err(ManifestProblem::Size {
                said: manifest.size,
                sum,
            });
        }
        Ok(manifest)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `len` bytes no run of which repeats, seeded.
    pub(crate) fn noise(len: usize, seed: u64) -> Bytes {
        // xorshift: incompressible enough for FastCDC to find its cuts.
        let mut state = seed | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn chunks_cover_the_value_in_order_within_their_bounds() {
        let bytes = noise(CHUNKED_FROM * 3 + 12345, 7);
        let (manifest, chunks) = Manifest::split(&bytes, LOCAL);
        let joined: Vec<u8> = chunks.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        assert_eq!(joined, bytes.to_vec());
        assert!(chunks.len() > 3, "{} chunks", chunks.len());
        for (i, (hash, piece)) in chunks.iter().enumerate() {
            assert_eq!(*hash, BlobHash::of(piece));
            assert!(piece.len() <= MAX_CHUNK);
            assert!(piece.len() >= MIN_CHUNK || i == chunks.len() - 1);
        }
        assert_eq!(Manifest::parse(&manifest.to_json()).unwrap(), manifest);
    }

    #[test]
    fn the_same_bytes_cut_the_same_way_and_a_local_change_keeps_the_other_chunks() {
        let bytes = noise(16 << 20, 3);
        let (first, _) = Manifest::split(&bytes, LOCAL);
        assert_eq!(Manifest::split(&bytes, LOCAL).0, first);
        let mut changed = bytes.to_vec();
        for b in &mut changed[8 << 20..(8 << 20) + 1000] {
            *b = !*b;
        }
        let (second, _) = Manifest::split(&Bytes::from(changed), LOCAL);
        let kept: std::collections::HashSet<_> = first.chunks.iter().map(|c| c.hash).collect();
        let new: u64 = second
            .chunks
            .iter()
            .filter(|c| !kept.contains(&c.hash))
            .map(|c| c.size)
            .sum();
        assert!(new <= 2 * MAX_CHUNK as u64, "{new} new bytes");
    }

    #[test]
    fn manifests_whose_sizes_do_not_add_up_are_refused() {
        let bytes = noise(CHUNKED_FROM, 1);
        let (mut manifest, _) = Manifest::split(&bytes, LOCAL);
        manifest.size += 1;
        let err = Manifest::parse(&manifest.to_json()).unwrap_err();
        assert!(matches!(err, ManifestProblem::Size { .. }), "{err}");
        manifest.size -= 1;
        manifest.chunks[0].size = u64::MAX / 2;
        let err = Manifest::parse(&manifest.to_json()).unwrap_err();
        assert!(matches!(err, ManifestProblem::ChunkSize { .. }), "{err}");
        let err = Manifest::parse(b"{}").unwrap_err();
        assert!(matches!(err, ManifestProblem::Parse(_)), "{err}");
    }

    mod in_a_store {
        use super::super::{CHUNKED_FROM, MAX_CHUNK};
        use super::noise;
        use crate::{Datastore, ProblemKind, StoreError};
        use bytes::Bytes;
        use mfw_graph::BlobHash;

        fn store() -> (tempfile::TempDir, Datastore) {
            let dir = tempfile::tempdir().unwrap();
            let store = Datastore::open(dir.path().to_str().unwrap()).unwrap();
            (dir, store)
        }

        fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
            let mut out = Vec::new();
            let mut todo = vec![dir.to_path_buf()];
            while let Some(d) = todo.pop() {
                for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        todo.push(path);
                    } else {
                        out.push(path);
                    }
                }
            }
            out
        }

        fn manifest_file(dir: &tempfile::TempDir, hash: &BlobHash) -> std::path::PathBuf {
            let hex = hash.to_hex();
            dir.path()
                .join("chunked")
                .join(&hex[..2])
                .join(format!("{hex}.json"))
        }

        #[tokio::test]
        async fn values_around_the_chunking_sizes_read_back_whole() {
            let (dir, store) = store();
            let sizes = [
                CHUNKED_FROM - 1,
                CHUNKED_FROM,
                CHUNKED_FROM + 1,
                3 * MAX_CHUNK + 1,
                4 * MAX_CHUNK,
                20 << 20,
            ];
            for (seed, size) in sizes.into_iter().enumerate() {
                let bytes = noise(size, seed as u64 + 11);
                let hash = store.put_blob(bytes.clone()).await.unwrap();
                assert_eq!(hash, BlobHash::of(&bytes));
                assert_eq!(
                    manifest_file(&dir, &hash).exists(),
                    size >= CHUNKED_FROM,
                    "{size} bytes"
                );
                // A fresh handle, which knows nothing of what was written.
                let again = Datastore::open(store.location()).unwrap();
                assert!(again.has_blob(&hash).await.unwrap());
                assert_eq!(again.get_blob(&hash).await.unwrap(), bytes, "{size} bytes");
                // Storing it again changes nothing.
                let before = files_under(dir.path()).len();
                again.put_blob(bytes).await.unwrap();
                assert_eq!(files_under(dir.path()).len(), before);
            }
            assert!(store.examine(true).await.unwrap().problems.is_empty());
        }

        #[tokio::test]
        async fn a_value_changed_in_one_percent_of_its_bytes_stores_few_new_ones() {
            let (dir, store) = store();
            let size = 32 << 20;
            let bytes = noise(size, 5);
            store.put_blob(bytes.clone()).await.unwrap();
            let before: std::collections::HashSet<_> =
                files_under(&dir.path().join("blobs")).into_iter().collect();
            let mut changed = bytes.to_vec();
            let at = size / 3;
            for b in &mut changed[at..at + size / 100] {
                *b = b.wrapping_add(1);
            }
            let changed = Bytes::from(changed);
            let hash = store.put_blob(changed.clone()).await.unwrap();
            let new: u64 = files_under(&dir.path().join("blobs"))
                .into_iter()
                .filter(|path| !before.contains(path))
                .map(|path| std::fs::metadata(path).unwrap().len())
                .sum();
            assert!(new <= size as u64 / 10, "{new} new bytes of {size}");
            assert_eq!(store.get_blob(&hash).await.unwrap(), changed);
        }

        #[tokio::test]
        async fn a_damaged_chunk_is_found_on_read_and_by_doctor() {
            let (dir, store) = store();
            let bytes = noise(CHUNKED_FROM * 2, 9);
            let hash = store.put_blob(bytes).await.unwrap();
            let manifest: super::super::Manifest =
                serde_json::from_slice(&std::fs::read(manifest_file(&dir, &hash)).unwrap())
                    .unwrap();
            let chunk = manifest.chunks[2].hash.to_hex();
            let file = dir.path().join("blobs").join(&chunk[..2]).join(&chunk);
            let mut damaged = std::fs::read(&file).unwrap();
            damaged[100] ^= 1;
            std::fs::write(&file, damaged).unwrap();
            let again = Datastore::open(store.location()).unwrap();
            let error = again.get_blob(&hash).await.unwrap_err();
            assert!(
                matches!(&error, StoreError::BadChunk { index: 2, source, .. }
                    if matches!(**source, StoreError::CorruptBlob { .. })),
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
                kinds.contains(&(
                    ProblemKind::CorruptBlob,
                    format!("blobs/{}/{chunk}", &chunk[..2])
                )),
                "{kinds:?}"
            );
            let manifest_path = format!("chunked/{}/{}.json", &hash.to_hex()[..2], hash.to_hex());
            assert!(
                kinds.contains(&(ProblemKind::CorruptBlob, manifest_path)),
                "{kinds:?}"
            );
            // Set aside, the value is missing: a resume runs its task again.
            again.repair(&found).await.unwrap();
            assert!(!again.has_blob(&hash).await.unwrap());
        }

        #[tokio::test]
        async fn a_value_whose_manifest_was_not_written_is_absent() {
            // What a write stopped after its chunks leaves.
            let (dir, store) = store();
            let bytes = noise(CHUNKED_FROM + 7, 4);
            let hash = store.put_blob(bytes.clone()).await.unwrap();
            std::fs::remove_file(manifest_file(&dir, &hash)).unwrap();
            let again = Datastore::open(store.location()).unwrap();
            assert!(!again.has_blob(&hash).await.unwrap());
            assert!(matches!(
                again.get_blob(&hash).await,
                Err(StoreError::MissingBlob { .. })
            ));
            // Writing it again completes it.
            again.put_blob(bytes.clone()).await.unwrap();
            assert_eq!(again.get_blob(&hash).await.unwrap(), bytes);
        }

        #[tokio::test]
        async fn a_manifest_that_lies_about_its_sizes_is_an_error_not_a_crash() {
            let (dir, store) = store();
            let hash = BlobHash::of(b"never stored");
            let chunk = store.put_blob(Bytes::from_static(b"x")).await.unwrap();
            let chunks: Vec<_> = (0..1000)
                .map(|_| serde_json::json!({"hash": chunk, "size": MAX_CHUNK}))
                .collect();
            let huge = serde_json::json!({
                "format": "mfw chunked value v1",
                "size": 1000 * MAX_CHUNK as u64,
                "chunks": chunks,
            });
            let file = manifest_file(&dir, &hash);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, serde_json::to_vec(&huge).unwrap()).unwrap();
            // 2 GB reserved, then the first chunk is shorter than claimed.
            let error = store.get_blob(&hash).await.unwrap_err();
            assert!(
                matches!(
                    error,
                    StoreError::BadManifest { .. } | StoreError::TooLarge { .. }
                ),
                "{error:?}"
            );
        }
    }
}
