//! The mfw datastore: artifacts stored once by their blake3 hash, and small
//! JSON records for runs and tasks, on any `object_store` backend.
//!
//! Layout (see `docs/datastore.md`):
//!
//! ```text
//! blobs/<hh>/<hash>                          artifact values and logs, by blake3
//! chunked/<hh>/<hash>.json                   a large value's chunks (blobs), in order
//! components/<hash>.wasm                     every component a run used
//! flows/<Flow>/runs/<run>/run.json           parameters, components, status
//! flows/<Flow>/runs/<run>/tasks/<step>/<task>.json
//! ```
//!
//! Every write is a single atomic put (write then rename, or a conditional
//! put), so a reader never sees half a record and a killed run leaves only
//! whole files behind.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
//! let hash = store.put_blob(bytes::Bytes::from_static(b"\x01")).await.unwrap();
//! assert_eq!(&store.get_blob(&hash).await.unwrap()[..], b"\x01");
//! # });
//! ```

mod cache;
mod chunk_packs;
mod chunked;
mod delta;
mod doctor;
mod durable;
mod inline;
mod meta;
mod packs;
mod remote;
mod stream;

use std::collections::{BTreeMap, HashSet};
use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

pub use cache::BlobCache;
pub use chunked::{CHUNKED_FROM, ManifestProblem};
pub use doctor::{Examination, Problem, ProblemKind, STAGING_AGE};
pub use meta::{
    Attempt, Batch, BatchInput, BatchTask, CARD_PREFIX, CacheEntry, CacheSegment, CacheVariant,
    ComponentRecord, Deployment, KubernetesDeployment, LiveLog, RunRecord, RunStatus, RunTrigger,
    TaskError, TaskRecord, TaskStatus, now_millis, split_cards, task_order,
};
pub use mfw_graph::{BlobHash, ForeachFrame, HashParseError};
pub use stream::{ValueReader, ValueWriter};

/// What can go wrong with the datastore. Messages name the object and the
/// store, so a user can find both.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The datastore location cannot be used.
    #[error("cannot open datastore `{location}`: {reason}")]
    Open {
        /// What the user gave.
        location: String,
        /// Why it failed and what to do.
        reason: String,
    },
    /// The backend failed.
    #[error("datastore {store}: {source}")]
    Backend {
        /// The datastore's location.
        store: String,
        /// The backend's error.
        #[source]
        source: object_store::Error,
    },
    /// Work a read or write had handed to another thread (hashing,
    /// moving a chunk) stopped before it finished: it panicked, or the
    /// runtime is shutting down. Nothing partial is visible.
    #[error("datastore {store}: {what} stopped before it finished")]
    Interrupted {
        /// What stopped, e.g. "hashing a chunk".
        what: &'static str,
        /// The datastore's location.
        store: String,
        /// Why it stopped.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A blob that metadata refers to is not in the store.
    #[error("blob {hash} is missing from datastore {store}")]
    MissingBlob {
        /// The missing blob.
        hash: BlobHash,
        /// The datastore's location.
        store: String,
    },
    /// A blob whose bytes do not hash to its name.
    #[error("blob {hash} in datastore {store} is corrupt: its content hashes to {actual}")]
    CorruptBlob {
        /// The blob's name.
        hash: BlobHash,
        /// What its bytes hash to.
        actual: BlobHash,
        /// The datastore's location.
        store: String,
    },
    /// A large value whose manifest (the list of its chunks) is damaged.
    #[error(
        "blob {hash} in datastore {store} cannot be read: its manifest {path} is damaged \
         ({source}); `mfw doctor` lists every damaged object"
    )]
    BadManifest {
        /// The value.
        hash: BlobHash,
        /// The manifest's path in the store.
        path: String,
        /// The datastore's location.
        store: String,
        /// What is wrong with it.
        #[source]
        source: ManifestProblem,
    },
    /// A large value one of whose chunks is missing or damaged.
    #[error("blob {hash} in datastore {store} cannot be read: its chunk {index} of {count}")]
    BadChunk {
        /// The value.
        hash: BlobHash,
        /// Which chunk, from 0.
        index: usize,
        /// How many chunks the value has.
        count: usize,
        /// The datastore's location.
        store: String,
        /// Why the chunk cannot be read (missing, corrupt, the backend).
        #[source]
        source: Box<StoreError>,
    },
    /// A chunk stored as its difference from an earlier value, which
    /// cannot be applied.
    #[error(
        "chunk {chunk} in datastore {store}, stored as its difference from value {base}, cannot \
         be read: {reason}"
    )]
    BadDelta {
        /// The chunk.
        chunk: BlobHash,
        /// The earlier value.
        base: BlobHash,
        /// The datastore's location.
        store: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A chunk stored as its difference from an earlier value that cannot
    /// be read.
    #[error(
        "chunk {chunk} in datastore {store} is stored as its difference from value {base}, \
         which cannot be read"
    )]
    BadBase {
        /// The chunk.
        chunk: BlobHash,
        /// The earlier value.
        base: BlobHash,
        /// The datastore's location.
        store: String,
        /// Why the earlier value cannot be read.
        #[source]
        source: Box<StoreError>,
    },
    /// A large value too large to hold in this process's memory.
    #[error("blob {hash} in datastore {store} is {size} bytes, more than this process can hold")]
    TooLarge {
        /// The value.
        hash: BlobHash,
        /// Its size.
        size: u64,
        /// The datastore's location.
        store: String,
    },
    /// A flow name that may not name a flow's directory in the store.
    #[error(
        "`{}` is not a valid flow name: use letters, digits and `_`, starting with a letter",
        .0.escape_debug()
    )]
    InvalidFlowName(String),
    /// A run that does not exist.
    #[error("run {flow}/{run_id} not found in datastore {store}")]
    RunNotFound {
        /// The flow.
        flow: String,
        /// The run.
        run_id: String,
        /// The datastore's location.
        store: String,
    },
    /// A task that does not exist.
    #[error("task {flow}/{run_id}/{step}/{task_id} not found in datastore {store}")]
    TaskNotFound {
        /// The flow.
        flow: String,
        /// The run.
        run_id: String,
        /// The step.
        step: String,
        /// The task.
        task_id: String,
        /// The datastore's location.
        store: String,
    },
    /// Written data could not be flushed to disk.
    #[error("cannot flush {path} in datastore {store} to disk")]
    Sync {
        /// The file or directory.
        path: String,
        /// The datastore's location.
        store: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A record that does not parse.
    #[error(
        "{path} in datastore {store} is not a valid mfw record ({reason}); `mfw doctor` lists \
         every damaged object"
    )]
    BadRecord {
        /// The object.
        path: String,
        /// The datastore's location.
        store: String,
        /// What the parser said.
        reason: String,
    },
}

/// An object in the store that cannot be read as what it should be (a
/// truncated record, say). Listings leave such objects out and name them,
/// so one damaged object never blocks the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// The object's path in the store.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Damaged {
    /// The damaged object a [`StoreError::BadRecord`] names; any other
    /// error (the store itself failing) is passed on.
    fn from_error(error: StoreError) -> Result<Self, StoreError> {
        match error {
            StoreError::BadRecord { path, reason, .. } => Ok(Damaged { path, reason }),
            other => Err(other),
        }
    }
}

/// A run's task records by step, and the records that cannot be read.
pub type TaskListing = (BTreeMap<String, Vec<TaskRecord>>, Vec<Damaged>);

/// `heartbeat.json` beside a running run's record: when the process running
/// it last said it was alive.
#[derive(serde::Serialize, serde::Deserialize)]
struct Heartbeat {
    at: u64,
}

/// How long a running run's process may go without a heartbeat before the
/// run is shown as stale (it beats every few seconds while alive).
pub const STALE_AFTER_MILLIS: u64 = 60_000;

/// A run's status as seen now ([`Datastore::observe_run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRun {
    /// `running`, `succeeded`, `failed`, `interrupted`, or `stale`.
    pub status: String,
    /// How long it ran, or has run so far (until last seen, if stale).
    pub duration_millis: u64,
}

/// `tags.json` beside a run's record: its user tags as changed after it
/// started.
#[derive(serde::Serialize, serde::Deserialize)]
struct RunTags {
    tags: Vec<String>,
}

/// A file a build produced, shared through the store: see
/// [`Datastore::put_shared_build`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SharedBuild {
    /// The file's name.
    pub file: String,
    /// Its bytes, as a blob.
    pub blob: BlobHash,
    /// What the builder recorded about it (for a wheel: its name, version,
    /// source's sha256 and recipe key).
    pub about: serde_json::Value,
}

/// A datastore: a local directory (the default, `.mfw`) or, later, a bucket.
///
/// Cloning is cheap; clones share the backend and the cache of blobs known
/// to be present.
#[derive(Clone)]
pub struct Datastore {
    backend: Arc<dyn ObjectStore>,
    location: Arc<str>,
    known_blobs: Arc<Mutex<std::collections::HashSet<BlobHash>>>,
    /// The directory, for a local store.
    local_root: Option<Arc<FsPath>>,
    /// Local copies of a remote store's blobs.
    cache: Option<Arc<BlobCache>>,
    /// What a local store wrote and has not flushed to disk yet.
    unsynced: Option<Arc<durable::Unsynced>>,
    /// Which chunks an object store's packs hold, as far as this process
    /// has read (`chunk_packs.rs`).
    chunk_index: Arc<Mutex<chunk_packs::ChunkIndex>>,
}

/// The largest existing remote blob read back to check it before a write
/// of the same value is skipped.
const VERIFY_REMOTE_LIMIT: usize = 64 << 20;

/// Where a remote store's blobs are cached locally, and how much: the
/// `MFW_BLOB_CACHE` directory (an empty one turns the cache off), else
/// `blobs` if given, else `~/.cache/mfw/blobs`; `MFW_BLOB_CACHE_MB`
/// (default 4096).
fn default_cache(blobs: Option<&FsPath>) -> Option<BlobCache> {
    let dir = match (std::env::var_os("MFW_BLOB_CACHE"), blobs) {
        (Some(dir), _) if dir.is_empty() => return None,
        (Some(dir), _) => std::path::PathBuf::from(dir),
        (None, Some(blobs)) => blobs.to_path_buf(),
        (None, None) => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
                })?;
            base.join("mfw/blobs")
        }
    };
    let megabytes = std::env::var("MFW_BLOB_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(4096);
    Some(BlobCache::new(dir, megabytes << 20))
}

impl std::fmt::Debug for Datastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datastore")
            .field("location", &self.location)
            .finish()
    }
}

/// The default datastore location, relative to the working directory.
pub const DEFAULT_LOCATION: &str = ".mfw";

impl Datastore {
    /// Opens the datastore at `location`: a directory path or a `file://`
    /// URL. A missing directory is created.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().join("store").to_str().unwrap());
    /// assert!(store.is_ok());
    /// assert!(mfw_store::Datastore::open("ftp://example.com/x").is_err());
    /// ```
    pub fn open(location: &str) -> Result<Self, StoreError> {
        Self::open_caching_in(location, None)
    }

    /// Opens the datastore at `location` like [`Datastore::open`]; a remote
    /// store's blobs are cached locally in `blobs` (`mfw --cache-dir`'s
    /// `blobs/`), unless `MFW_BLOB_CACHE` names another directory.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = dir.path().join("store");
    /// let store = mfw_store::Datastore::open_caching_in(
    ///     store.to_str().unwrap(),
    ///     Some(&dir.path().join("blobs")),
    /// );
    /// assert!(store.is_ok());
    /// ```
    pub fn open_caching_in(location: &str, blobs: Option<&FsPath>) -> Result<Self, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            location: location.to_string(),
            reason,
        };
        let path = if let Some(rest) = location.strip_prefix("file://") {
            rest
        } else if location.contains("://") {
            let backend = remote::open(location)?;
            let mut store = Self::with_backend(backend, location);
            store.cache = default_cache(blobs).map(Arc::new);
            return Ok(store);
        } else {
            location
        };
        let dir = FsPath::new(path);
        std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        let backend =
            LocalFileSystem::new_with_prefix(dir).map_err(|e| open_error(e.to_string()))?;
        let shown = std::fs::canonicalize(dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.to_string());
        let mut store = Self::with_backend(Arc::new(backend), &shown);
        store.local_root = std::fs::canonicalize(dir)
            .ok()
            .map(|p| Arc::from(p.as_path()));
        store.unsynced = Some(Arc::default());
        Ok(store)
    }

    /// Wraps any `object_store` backend; `location` is how messages name it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let store = mfw_store::Datastore::with_backend(
    ///     Arc::new(object_store::memory::InMemory::new()),
    ///     "memory",
    /// );
    /// assert_eq!(store.location(), "memory");
    /// ```
    pub fn with_backend(backend: Arc<dyn ObjectStore>, location: &str) -> Self {
        Self {
            backend,
            location: Arc::from(location),
            known_blobs: Arc::default(),
            unsynced: None,
            local_root: None,
            cache: None,
            chunk_index: Arc::default(),
        }
    }

    /// Whether this store is a remote object store (not a directory).
    pub fn is_remote(&self) -> bool {
        self.local_root.is_none()
    }

    /// The kind of datastore, as Metaflow names it (`ds_type`): `local`,
    /// `s3`, `gs` or `azure`.
    ///
    /// ```
    /// let store = mfw_store::Datastore::open("/tmp/mfw-doc-kind").unwrap();
    /// assert_eq!(store.kind(), "local");
    /// ```
    pub fn kind(&self) -> &'static str {
        if !self.is_remote() {
            "local"
        } else if self.location.starts_with("gs://") {
            "gs"
        } else if self.location.starts_with("az://") || self.location.starts_with("abfs") {
            "azure"
        } else {
            "s3"
        }
    }

    /// Checks that the store can be reached and read, so a wrong bucket or
    /// wrong credentials fail at once with a message that says so.
    pub async fn check(&self) -> Result<(), StoreError> {
        match self
            .backend
            .list_with_delimiter(Some(&Path::from("flows")))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let explained = self.explain(e);
                if !self.is_remote() || !matches!(explained, StoreError::Backend { .. }) {
                    return Err(explained);
                }
                // A failed listing does not say why by type; a read of the
                // same name does: refused credentials, or "not found",
                // which after a failed listing (a listing of an empty
                // prefix succeeds) means the bucket is missing.
                match self.backend.head(&Path::from("flows")).await {
                    Err(object_store::Error::NotFound { .. }) => Err(StoreError::Open {
                        location: self.location.to_string(),
                        reason: "the bucket does not exist: create it, or fix the name in \
                                 --datastore"
                            .to_string(),
                    }),
                    Err(
                        denied @ (object_store::Error::PermissionDenied { .. }
                        | object_store::Error::Unauthenticated { .. }),
                    ) => Err(self.explain(denied)),
                    _ => Err(explained),
                }
            }
        }
    }

    /// Turns a backend error into one that says what to do, by its kind:
    /// refused credentials, an endpoint that cannot be reached, or one that
    /// does not answer in time.
    fn explain(&self, error: object_store::Error) -> StoreError {
        use object_store::client::{HttpError, HttpErrorKind};

        let endpoint = || {
            remote::s3_endpoint()
                .map(|e| format!(" at {e}"))
                .unwrap_or_default()
        };
        let http = {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            let mut found = None;
            while let Some(e) = cause {
                if let Some(http) = e.downcast_ref::<HttpError>() {
                    found = Some(http.kind());
                }
                cause = e.source();
            }
            found
        };
        let reason = if matches!(
            error,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) {
            Some(
                "access denied: check the credentials (AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or your cloud's credential chain)"
                    .to_string(),
            )
        } else {
            match http {
                Some(HttpErrorKind::Connect) => {
                    Some(format!("cannot reach the store{}: {error}", endpoint()))
                }
                Some(HttpErrorKind::Timeout) => Some(format!(
                    "the store{} did not answer within {} s (raise MFW_STORE_TIMEOUT for a slow \
                     link): {error}",
                    endpoint(),
                    remote::request_bound().as_secs()
                )),
                _ => None,
            }
        };
        match reason {
            Some(reason) => StoreError::Open {
                location: self.location.to_string(),
                reason,
            },
            None => self.backend_error_raw(error),
        }
    }

    /// Where the datastore is, as shown in messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn backend_error_raw(&self, source: object_store::Error) -> StoreError {
        StoreError::Backend {
            store: self.location.to_string(),
            source,
        }
    }

    pub(crate) fn blob_path(hash: &BlobHash) -> Path {
        let hex = hash.to_hex();
        Path::from(format!("blobs/{}/{}", &hex[..2], hex))
    }

    /// Stores `bytes` under their blake3 hash, unless they are already
    /// there; returns the hash.
    pub async fn put_blob(&self, bytes: Bytes) -> Result<BlobHash, StoreError> {
        let hash = BlobHash::of(&bytes);
        self.put_blob_with_hash(hash, bytes).await?;
        Ok(hash)
    }

    /// Stores `bytes` whose hash the caller already computed. Values of
    /// [`CHUNKED_FROM`] bytes or more are stored as chunks (see
    /// `chunked.rs`); reads give them back whole either way.
    pub async fn put_blob_with_hash(&self, hash: BlobHash, bytes: Bytes) -> Result<(), StoreError> {
        if self.is_known(&hash) {
            return Ok(());
        }
        if let Some(cache) = &self.cache {
            cache.put(&hash, &bytes);
        }
        if bytes.len() >= self.chunking().from {
            self.put_chunked(hash, bytes).await?;
        } else {
            self.put_whole(&Self::blob_path(&hash), &hash, bytes)
                .await?;
        }
        self.remember(hash);
        Ok(())
    }

    /// Stores `bytes` as the one object at `path`, unless it holds them.
    async fn put_whole(
        &self,
        path: &Path,
        hash: &BlobHash,
        bytes: Bytes,
    ) -> Result<(), StoreError> {
        // A damaged blob is replaced whole (a write to a temporary name,
        // then a rename, or one S3 PUT); a missing one is created.
        let mode = match self.backend.head(path).await {
            Ok(meta) if self.holds_intact(hash, &meta, bytes.len()).await => return Ok(()),
            Ok(_) => PutMode::Overwrite,
            Err(object_store::Error::NotFound { .. }) => PutMode::Create,
            Err(e) => return Err(self.explain(e)),
        };
        self.put_content(path, bytes, mode).await
    }

    /// Stores a large value as its chunks, several at once, then its
    /// manifest: until the manifest is written the value is absent, so a
    /// write stopped midway leaves nothing a reader can see.
    async fn put_chunked(&self, hash: BlobHash, bytes: Bytes) -> Result<(), StoreError> {
        // A store written before values were chunked may hold it whole.
        if let Ok(meta) = self.backend.head(&Self::blob_path(&hash)).await
            && self.holds_intact(&hash, &meta, bytes.len()).await
        {
            return Ok(());
        }
        if self.is_remote() {
            return self.put_packed(hash, bytes).await;
        }
        // Each chunk is hashed off this task, so cutting the next, hashing
        // and storing overlap.
        let len = bytes.len() as u64;
        let chunks: Vec<chunked::ChunkRef> =
            futures::stream::iter(chunked::pieces(bytes, self.chunking()))
                .map(|piece| async move {
                    let size = piece.len() as u64;
                    let chunk = self.hash_off_thread(&piece).await?;
                    self.put_chunk(chunk, piece).await?;
                    Ok::<_, StoreError>(chunked::ChunkRef {
                        hash: chunk,
                        size,
                        pack: None,
                        delta: None,
                    })
                })
                .buffered(chunked::CHUNK_CONCURRENCY)
                .try_collect()
                .await?;
        self.put_manifest(&hash, &chunked::Manifest::of(len, chunks))
            .await
    }

    /// Stores a large value in an object store: its new chunks packed (see
    /// `chunk_packs.rs`), then its manifest.
    async fn put_packed(&self, hash: BlobHash, bytes: Bytes) -> Result<(), StoreError> {
        let len = bytes.len() as u64;
        let mut packer = chunk_packs::Packer::new(self).await?;
        // Each chunk is hashed off this task, so cutting, hashing and
        // uploading (with the server's work) overlap.
        let mut hashed = futures::stream::iter(chunked::pieces(bytes, self.chunking()))
            .map(|piece| async move {
                Ok::<_, StoreError>((self.hash_off_thread(&piece).await?, piece))
            })
            .buffered(chunked::CHUNK_CONCURRENCY)
            .enumerate();
        while let Some((index, hashed)) = hashed.next().await {
            let (chunk, piece) = hashed?;
            packer
                .add(index, chunk, piece, chunk_packs::Storing::AsItIs)
                .await?;
        }
        let manifest = packer.finish(len).await?;
        self.put_manifest(&hash, &manifest).await
    }

    /// The blake3 of a chunk, computed on a blocking thread so the caller
    /// can cut and move other chunks meanwhile.
    async fn hash_off_thread(&self, piece: &Bytes) -> Result<BlobHash, StoreError> {
        let piece = piece.clone();
        tokio::task::spawn_blocking(move || BlobHash::of(&piece))
            .await
            .map_err(|source| StoreError::Interrupted {
                what: "hashing a chunk",
                store: self.location.to_string(),
                source,
            })
    }

    /// Stores one chunk of a large value in a local store, unless it is
    /// there (an object store's are packed).
    pub(crate) async fn put_chunk(&self, chunk: BlobHash, piece: Bytes) -> Result<(), StoreError> {
        if self.is_known(&chunk) {
            return Ok(());
        }
        self.put_whole(&Self::blob_path(&chunk), &chunk, piece)
            .await?;
        self.remember(chunk);
        Ok(())
    }

    /// Stores the manifest of the large value `hash`, once its chunks are:
    /// the write that makes the value visible.
    pub(crate) async fn put_manifest(
        &self,
        hash: &BlobHash,
        manifest: &chunked::Manifest,
    ) -> Result<(), StoreError> {
        let path = Self::manifest_path(hash);
        let json = manifest.to_json();
        // Unless an intact manifest of the same chunks is there already;
        // and one naming differences from other values never replaces a
        // manifest that reads (so no value is ever made to depend on one
        // written after it, or on itself).
        let deltas = manifest.chunks.iter().any(|chunk| chunk.delta.is_some());
        let mode = match self.backend.get(&path).await {
            Ok(found) => match found.bytes().await {
                Ok(stored) if stored == json => return Ok(()),
                Ok(stored) if deltas && chunked::Manifest::parse(&stored).is_ok() => return Ok(()),
                _ => PutMode::Overwrite,
            },
            Err(object_store::Error::NotFound { .. }) => PutMode::Create,
            Err(e) => return Err(self.explain(e)),
        };
        self.put_content(&path, json, mode).await?;
        self.remember(*hash);
        Ok(())
    }

    /// Where this store cuts large values.
    pub(crate) fn chunking(&self) -> chunked::Chunking {
        if self.is_remote() {
            chunked::OBJECT_STORE
        } else {
            chunked::LOCAL
        }
    }

    pub(crate) fn manifest_path(hash: &BlobHash) -> Path {
        let hex = hash.to_hex();
        Path::from(format!("chunked/{}/{}.json", &hex[..2], hex))
    }

    /// Whether the blob already at `meta` is the value `hash` names, so
    /// storing it again can be skipped. A damaged blob is written again
    /// whole, never trusted: a wrong size always shows it; the content is
    /// read back and hashed too, for a local store always and for a remote
    /// one up to [`VERIFY_REMOTE_LIMIT`] (beyond, reads still verify).
    async fn holds_intact(&self, hash: &BlobHash, meta: &ObjectMeta, len: usize) -> bool {
        if meta.size != len as u64 {
            return false;
        }
        if self.is_remote() && len > VERIFY_REMOTE_LIMIT {
            return true;
        }
        self.get_verified(&Self::blob_path(hash), hash)
            .await
            .is_ok()
    }

    pub(crate) fn is_known(&self, hash: &BlobHash) -> bool {
        self.known_blobs
            .lock()
            .map(|set| set.contains(hash))
            .unwrap_or(false)
    }

    pub(crate) fn remember(&self, hash: BlobHash) {
        if let Ok(mut set) = self.known_blobs.lock() {
            set.insert(hash);
        }
    }

    /// Stops trusting that `hash` is stored (it was set aside).
    fn forget_blob(&self, hash: &BlobHash) {
        if let Ok(mut set) = self.known_blobs.lock() {
            set.remove(hash);
        }
    }

    /// Reads the blob `hash` and verifies that its content hashes to it.
    pub async fn get_blob(&self, hash: &BlobHash) -> Result<Bytes, StoreError> {
        if let Some(cache) = &self.cache
            && let Some(bytes) = cache.get(hash)
        {
            return Ok(bytes);
        }
        let bytes = self.fetch_blob(hash).await?;
        if let Some(cache) = &self.cache {
            cache.put(hash, &bytes);
        }
        Ok(bytes)
    }

    async fn fetch_blob(&self, hash: &BlobHash) -> Result<Bytes, StoreError> {
        match self.get_verified(&Self::blob_path(hash), hash).await {
            Err(StoreError::MissingBlob { .. }) => self.fetch_chunked(hash).await,
            found => found,
        }
    }

    /// Reads a chunked value whole: its chunks (several at once, each
    /// checked against its hash), and the whole against `hash`.
    /// `MissingBlob` when there is no manifest either.
    async fn fetch_chunked(&self, hash: &BlobHash) -> Result<Bytes, StoreError> {
        let mut reader = self.chunked_reader(hash).await?;
        let too_large = || StoreError::TooLarge {
            hash: *hash,
            size: reader.size(),
            store: self.location.to_string(),
        };
        // The manifest's sizes add up (checked), but may still be more
        // than this process can have: refused, not an abort.
        let mut value = Vec::new();
        value
            .try_reserve_exact(usize::try_from(reader.size()).map_err(|_| too_large())?)
            .map_err(|_| too_large())?;
        while let Some(piece) = reader.next_piece().await? {
            value.extend_from_slice(&piece);
        }
        Ok(Bytes::from(value))
    }

    /// Checks, without holding it, that the chunked value `hash` reads
    /// whole and hashes to its name (`mfw doctor`).
    pub(crate) async fn verify_chunked(&self, hash: &BlobHash) -> Result<(), StoreError> {
        let mut reader = self.chunked_reader(hash).await?;
        while reader.next_piece().await?.is_some() {}
        Ok(())
    }

    pub(crate) fn check_whole(
        &self,
        hash: &BlobHash,
        hasher: blake3::Hasher,
    ) -> Result<(), StoreError> {
        let actual = BlobHash::from_bytes(*hasher.finalize().as_bytes());
        if actual != *hash {
            return Err(StoreError::CorruptBlob {
                hash: *hash,
                actual,
                store: self.location.to_string(),
            });
        }
        Ok(())
    }

    /// Bytes `range` of the pack `pack` (see `chunk_packs.rs`), unchecked:
    /// the caller checks each chunk in them against its hash.
    pub(crate) async fn get_pack_range(
        &self,
        pack: &BlobHash,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, StoreError> {
        match self.backend.get_range(&Self::blob_path(pack), range).await {
            Ok(bytes) => Ok(bytes),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::MissingBlob {
                hash: *pack,
                store: self.location.to_string(),
            }),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// The manifest of the chunked value `hash`, checked.
    pub(crate) async fn read_manifest(
        &self,
        hash: &BlobHash,
    ) -> Result<chunked::Manifest, StoreError> {
        let path = Self::manifest_path(hash);
        let json = self.get_object(&path, hash).await?;
        chunked::Manifest::parse(&json).map_err(|source| StoreError::BadManifest {
            hash: *hash,
            path: path.to_string(),
            store: self.location.to_string(),
            source,
        })
    }

    /// The bytes at `path`, an object of the value `hash`: `MissingBlob`
    /// when there are none.
    async fn get_object(&self, path: &Path, hash: &BlobHash) -> Result<Bytes, StoreError> {
        match self.read_inline(path) {
            Some(inline::SmallRead::Found(bytes)) => return Ok(bytes),
            Some(inline::SmallRead::Missing) => {
                return Err(StoreError::MissingBlob {
                    hash: *hash,
                    store: self.location.to_string(),
                });
            }
            Some(inline::SmallRead::Elsewhere) | None => {}
        }
        match self.backend.get(path).await {
            Ok(result) => result.bytes().await.map_err(|e| self.explain(e)),
            Err(object_store::Error::NotFound { .. }) => Err(StoreError::MissingBlob {
                hash: *hash,
                store: self.location.to_string(),
            }),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// Reads the object at `path`, which must hash to `hash`: the one read
    /// of content-addressed objects (blobs and components), so none is ever
    /// returned damaged.
    pub(crate) async fn get_verified(
        &self,
        path: &Path,
        hash: &BlobHash,
    ) -> Result<Bytes, StoreError> {
        let bytes = self.get_object(path, hash).await?;
        let actual = BlobHash::of(&bytes);
        if actual != *hash {
            return Err(StoreError::CorruptBlob {
                hash: *hash,
                actual,
                store: self.location.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Checks that the value `hash` is stored and reads back as its hash,
    /// a piece at a time: a large value is never held whole.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let hash = store.put_blob(bytes::Bytes::from(vec![1u8; 5 << 20])).await.unwrap();
    /// assert!(store.verify_blob(&hash).await.is_ok());
    /// assert!(store.verify_blob(&mfw_store::BlobHash::of(b"other")).await.is_err());
    /// # });
    /// ```
    pub async fn verify_blob(&self, hash: &BlobHash) -> Result<(), StoreError> {
        let mut reader = self.value_reader(hash).await?;
        while reader.next_piece().await?.is_some() {}
        Ok(())
    }

    /// Whether the blob `hash` is stored.
    pub async fn has_blob(&self, hash: &BlobHash) -> Result<bool, StoreError> {
        for path in [Self::blob_path(hash), Self::manifest_path(hash)] {
            if let Some(root) = &self.local_root {
                match std::fs::metadata(root.join(path.as_ref())) {
                    Ok(meta) if meta.is_file() => return Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    // Anything else is explained the generic way.
                    _ => {}
                }
            }
            match self.backend.head(&path).await {
                Ok(_) => return Ok(true),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.explain(e)),
            }
        }
        Ok(false)
    }

    /// Every object under `prefix`, however many listing pages that takes.
    async fn list_all(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, StoreError> {
        self.backend
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| self.explain(e))
    }

    /// How many blobs the store holds (for tests and `mfw` diagnostics).
    pub async fn count_blobs(&self) -> Result<usize, StoreError> {
        let prefix = Path::from("blobs");
        let all = self.list_all(&prefix).await?;
        Ok(all.len())
    }

    fn component_path(hash: &BlobHash) -> Path {
        Path::from(format!("components/{}.wasm", hash.to_hex()))
    }

    /// Stores a component's bytes by hash, so any worker can fetch exactly
    /// what was built.
    pub async fn put_component(&self, bytes: Bytes) -> Result<BlobHash, StoreError> {
        let hash = BlobHash::of(&bytes);
        let path = Self::component_path(&hash);
        match self.backend.head(&path).await {
            Ok(_) => return Ok(hash),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.explain(e)),
        }
        self.put_content(&path, bytes, PutMode::Create).await?;
        Ok(hash)
    }

    /// Stores content-addressed bytes at `path`: with `PutMode::Create`
    /// unless they are there, where losing the race to another writer is
    /// success (it stored the same bytes); `PutMode::Overwrite` replaces a
    /// damaged object.
    async fn put_content(
        &self,
        path: &Path,
        bytes: impl Into<PutPayload>,
        mode: PutMode,
    ) -> Result<(), StoreError> {
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self.backend.put_opts(path, bytes.into(), options).await {
            Ok(_) => {
                self.written(path);
                Ok(())
            }
            Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// Fetches a component by hash and verifies it.
    pub async fn get_component(&self, hash: &BlobHash) -> Result<Bytes, StoreError> {
        self.get_verified(&Self::component_path(hash), hash).await
    }

    fn run_prefix(flow: &str, run_id: &str) -> String {
        format!("flows/{flow}/runs/{run_id}")
    }

    fn run_path(flow: &str, run_id: &str) -> Path {
        Path::from(format!("{}/run.json", Self::run_prefix(flow, run_id)))
    }

    fn step_prefix(flow: &str, run_id: &str, step: &str) -> String {
        format!("{}/tasks/{step}", Self::run_prefix(flow, run_id))
    }

    fn task_path(flow: &str, run_id: &str, step: &str, task_id: &str) -> Path {
        Path::from(format!(
            "{}/{task_id}.json",
            Self::step_prefix(flow, run_id, step)
        ))
    }

    async fn put_json<T: serde::Serialize>(
        &self,
        path: &Path,
        value: &T,
        mode: PutMode,
    ) -> Result<(), object_store::Error> {
        let json = serde_json::to_vec_pretty(value).map_err(json_error)?;
        self.put_json_bytes(path, json, mode).await
    }

    /// Stores JSON already written (`put_json` writes it for people to
    /// read; what only mfw reads, like a pack, is written compact).
    async fn put_json_bytes(
        &self,
        path: &Path,
        json: Vec<u8>,
        mode: PutMode,
    ) -> Result<(), object_store::Error> {
        if let (Some(root), PutMode::Overwrite) = (&self.local_root, &mode)
            && inline::replace(&root.join(path.as_ref()), &json).is_ok()
        {
            self.written(path);
            return Ok(());
        }
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        self.backend
            .put_opts(path, PutPayload::from(json), options)
            .await?;
        self.written(path);
        Ok(())
    }

    /// Reads the small file at `path` of a local store on this thread (see
    /// [`inline`]); `None` for an object store.
    fn read_inline(&self, path: &Path) -> Option<inline::SmallRead> {
        let root = self.local_root.as_ref()?;
        Some(inline::read_small(&root.join(path.as_ref())))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &Path,
    ) -> Result<Option<T>, StoreError> {
        let inline = match self.read_inline(path) {
            Some(inline::SmallRead::Found(bytes)) => Some(bytes),
            Some(inline::SmallRead::Missing) => return Ok(None),
            Some(inline::SmallRead::Elsewhere) | None => None,
        };
        let bytes = match inline {
            Some(bytes) => bytes,
            None => match self.backend.get(path).await {
                Ok(result) => result.bytes().await.map_err(|e| self.explain(e))?,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.explain(e)),
            },
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::BadRecord {
                path: path.to_string(),
                store: self.location.to_string(),
                reason: e.to_string(),
            })
    }

    /// Reads many JSON records, in order. A foreach's thousands of records
    /// are read many at a time: a local store's in a few batches, each on
    /// one blocking thread (one thread hand-off per file was most of the
    /// time), a remote one's as concurrent requests.
    async fn get_json_many<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        paths: Vec<Path>,
    ) -> Vec<Result<Option<T>, StoreError>> {
        let Some(root) = self.local_root.clone() else {
            return futures::stream::iter(paths)
                .map(|path| async move { self.get_json::<T>(&path).await })
                .buffered(RECORD_READS_AT_ONCE)
                .collect()
                .await;
        };
        /// A record that could not be read from the file: the error for
        /// that, or the path to read again the generic way (to explain it).
        type Read<T> = Result<Option<T>, Result<StoreError, Path>>;
        let batches = paths.chunks(RECORD_BATCH).map(|batch| {
            let (root, batch, location) = (root.clone(), batch.to_vec(), self.location.clone());
            tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|path| -> Read<T> {
                        match inline::read_small(&root.join(path.as_ref())) {
                            inline::SmallRead::Found(bytes) => {
                                serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                                    Ok(StoreError::BadRecord {
                                        path: path.to_string(),
                                        store: location.to_string(),
                                        reason: e.to_string(),
                                    })
                                })
                            }
                            inline::SmallRead::Missing => Ok(None),
                            inline::SmallRead::Elsewhere => Err(Err(path)),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        });
        let results = futures::future::join_all(batches).await;
        let mut out = Vec::with_capacity(paths.len());
        for (batch, result) in paths.chunks(RECORD_BATCH).zip(results) {
            match result {
                Ok(reads) => {
                    for read in reads {
                        out.push(match read {
                            Ok(record) => Ok(record),
                            Err(Ok(error)) => Err(error),
                            Err(Err(path)) => self.get_json(&path).await,
                        });
                    }
                }
                // The thread did not finish: read the batch again here.
                Err(_) => {
                    for path in batch {
                        out.push(self.get_json(path).await);
                    }
                }
            }
        }
        out
    }

    /// Records a new run, choosing a fresh run id (a microsecond timestamp,
    /// bumped if another run took it) with a conditional put, so two runs
    /// started at once never share an id. Sets `record.run_id`.
    pub async fn create_run(&self, record: &mut RunRecord) -> Result<(), StoreError> {
        // Runs are only ever made under a flow name a graph may have.
        if !mfw_graph::is_identifier(&record.flow) {
            return Err(StoreError::InvalidFlowName(record.flow.clone()));
        }
        let mut candidate = now_micros();
        loop {
            record.run_id = candidate.to_string();
            let path = Self::run_path(&record.flow, &record.run_id);
            match self.put_json(&path, record, PutMode::Create).await {
                Ok(()) => return Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) => candidate += 1,
                Err(e) => return Err(self.explain(e)),
            }
        }
    }

    /// Replaces a run's record (status changes), atomically.
    pub async fn update_run(&self, record: &RunRecord) -> Result<(), StoreError> {
        let path = Self::run_path(&record.flow, &record.run_id);
        self.put_json(&path, record, PutMode::Overwrite)
            .await
            .map_err(|e| self.explain(e))
    }

    /// Reads a run's record.
    pub async fn read_run(&self, flow: &str, run_id: &str) -> Result<RunRecord, StoreError> {
        self.get_json(&Self::run_path(flow, run_id))
            .await?
            .ok_or_else(|| StoreError::RunNotFound {
                flow: flow.to_string(),
                run_id: run_id.to_string(),
                store: self.location.to_string(),
            })
    }

    /// A run's user tags as they stand: those given when it started, as
    /// changed since by `mfw tag` (kept in `tags.json` beside the record,
    /// so changing them never races the run's own updates of its record).
    pub async fn run_tags(&self, record: &RunRecord) -> Result<Vec<String>, StoreError> {
        let path = Path::from(format!(
            "{}/tags.json",
            Self::run_prefix(&record.flow, &record.run_id)
        ));
        Ok(self
            .get_json::<RunTags>(&path)
            .await?
            .map_or_else(|| record.tags.clone(), |t| t.tags))
    }

    /// Records that the process running `flow/run_id` is alive (in
    /// `heartbeat.json` beside the run's record, so a beat never races the
    /// run's own updates of its record).
    pub async fn beat(&self, flow: &str, run_id: &str) -> Result<(), StoreError> {
        let path = Path::from(format!("{}/heartbeat.json", Self::run_prefix(flow, run_id)));
        let beat = Heartbeat { at: now_millis() };
        self.put_json(&path, &beat, PutMode::Overwrite)
            .await
            .map_err(|e| self.explain(e))
    }

    /// When the process running `record`'s run last said it was alive
    /// (ms since the epoch), else when the run started.
    pub async fn last_beat(&self, record: &RunRecord) -> u64 {
        let path = Path::from(format!(
            "{}/heartbeat.json",
            Self::run_prefix(&record.flow, &record.run_id)
        ));
        match self.get_json::<Heartbeat>(&path).await {
            Ok(Some(beat)) => beat.at.max(record.started_at),
            _ => record.started_at,
        }
    }

    /// Where `record`'s run stands as seen now: a run still marked running
    /// whose process has not said it is alive for [`STALE_AFTER_MILLIS`]
    /// is `stale` (its process died: `mfw resume` continues it), with the
    /// time it ran until it was last seen.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let mut run = mfw_store::RunRecord::new("F");
    /// run.started_at -= 2 * mfw_store::STALE_AFTER_MILLIS;
    /// store.create_run(&mut run).await.unwrap();
    /// assert_eq!(store.observe_run(&run).await.status, "stale");
    /// store.beat("F", &run.run_id).await.unwrap();
    /// assert_eq!(store.observe_run(&run).await.status, "running");
    /// # });
    /// ```
    pub async fn observe_run(&self, record: &RunRecord) -> ObservedRun {
        if record.status == RunStatus::Running {
            let last = self.last_beat(record).await;
            if now_millis().saturating_sub(last) > STALE_AFTER_MILLIS {
                return ObservedRun {
                    status: "stale".into(),
                    duration_millis: last.saturating_sub(record.started_at),
                };
            }
        }
        ObservedRun {
            status: record.status.to_string(),
            duration_millis: record.duration_millis(),
        }
    }

    /// Replaces a run's user tags (sorted, without duplicates).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let mut run = mfw_store::RunRecord::new("F");
    /// run.tags = vec!["baseline".into()];
    /// store.create_run(&mut run).await.unwrap();
    /// store.set_run_tags(&run, &["reviewed".into(), "baseline".into()]).await.unwrap();
    /// assert_eq!(store.run_tags(&run).await.unwrap(), ["baseline", "reviewed"]);
    /// # });
    /// ```
    pub async fn set_run_tags(
        &self,
        record: &RunRecord,
        tags: &[String],
    ) -> Result<(), StoreError> {
        let mut tags = tags.to_vec();
        tags.sort();
        tags.dedup();
        let path = Path::from(format!(
            "{}/tags.json",
            Self::run_prefix(&record.flow, &record.run_id)
        ));
        self.put_json(&path, &RunTags { tags }, PutMode::Overwrite)
            .await
            .map_err(|e| self.explain(e))
    }

    /// Records `deployment`, replacing the flow's earlier one.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let d = mfw_store::Deployment {
    ///     flow: "PredictFlow".into(),
    ///     package: mfw_store::BlobHash::of(b"p"),
    ///     on_finish: vec!["TrainFlow".into()],
    ///     events: vec![],
    ///     deployed_at: 0,
    ///     user: "alice".into(),
    ///     allow_grants: false,
    ///     kubernetes: None,
    /// };
    /// store.put_deployment(&d).await.unwrap();
    /// assert_eq!(store.deployments().await.unwrap().0, [d]);
    /// assert!(store.remove_deployment("PredictFlow").await.unwrap());
    /// assert!(store.deployments().await.unwrap().0.is_empty());
    /// # });
    /// ```
    pub async fn put_deployment(&self, deployment: &Deployment) -> Result<(), StoreError> {
        let path = Self::deployment_path(&deployment.flow);
        self.put_json(&path, deployment, PutMode::Overwrite)
            .await
            .map_err(|e| self.explain(e))?;
        self.sync().await.map(|_| ())
    }

    /// Every deployment that can be read, by flow name, and those that
    /// cannot (left out).
    pub async fn deployments(&self) -> Result<(Vec<Deployment>, Vec<Damaged>), StoreError> {
        let objects = self.list_all(&Path::from("deployments")).await?;
        let mut found = Vec::new();
        let mut damaged = Vec::new();
        for object in objects {
            if object.location.extension() != Some("json") {
                continue; // a staging file of an interrupted write
            }
            match self.get_json::<Deployment>(&object.location).await {
                Ok(Some(d)) => found.push(d),
                Ok(None) => {}
                Err(e) => damaged.push(Damaged::from_error(e)?),
            }
        }
        found.sort_by(|a, b| a.flow.cmp(&b.flow));
        Ok((found, damaged))
    }

    /// Removes `flow`'s deployment; false if it had none.
    pub async fn remove_deployment(&self, flow: &str) -> Result<bool, StoreError> {
        match self.backend.delete(&Self::deployment_path(flow)).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.explain(e)),
        }
    }

    fn deployment_path(flow: &str) -> Path {
        Path::from(format!("deployments/{flow}.json"))
    }

    /// The flows that have runs, sorted.
    pub async fn list_flows(&self) -> Result<Vec<String>, StoreError> {
        let listing = self
            .backend
            .list_with_delimiter(Some(&Path::from("flows")))
            .await
            .map_err(|e| self.explain(e))?;
        let mut flows: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        flows.sort();
        Ok(flows)
    }

    /// Every run of `flow` whose record can be read, oldest first: one
    /// damaged record never hides the others. [`Datastore::list_runs_checked`]
    /// also names the damaged ones.
    pub async fn list_runs(&self, flow: &str) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self.list_runs_checked(flow).await?.0)
    }

    /// Every run of `flow`, oldest first, and the run records that cannot be
    /// read (truncated, not JSON), which are left out of the list.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let mut run = mfw_store::RunRecord::new("F");
    /// store.create_run(&mut run).await.unwrap();
    /// let broken = dir.path().join("flows/F/runs/2/run.json");
    /// std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    /// std::fs::write(&broken, b"{\"flow\": \"F\", \"ru").unwrap();
    /// let (runs, damaged) = store.list_runs_checked("F").await.unwrap();
    /// assert_eq!(runs.len(), 1);
    /// assert_eq!(damaged[0].path, "flows/F/runs/2/run.json");
    /// # });
    /// ```
    pub async fn list_runs_checked(
        &self,
        flow: &str,
    ) -> Result<(Vec<RunRecord>, Vec<Damaged>), StoreError> {
        let ids = self.list_run_ids(flow).await?;
        let mut runs = Vec::with_capacity(ids.len());
        let mut damaged = Vec::new();
        for id in ids {
            // A run directory without run.json can only be a foreign file.
            match self.get_json(&Self::run_path(flow, &id)).await {
                Ok(Some(run)) => runs.push(run),
                Ok(None) => {}
                Err(e) => damaged.push(Damaged::from_error(e)?),
            }
        }
        Ok((runs, damaged))
    }

    /// The ids of `flow`'s runs, oldest first, without reading their
    /// records: one listing.
    pub async fn list_run_ids(&self, flow: &str) -> Result<Vec<String>, StoreError> {
        let prefix = Path::from(format!("flows/{flow}/runs"));
        let listing = self
            .backend
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| self.explain(e))?;
        let mut ids: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        ids.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
        Ok(ids)
    }

    /// How many task records a run has so far, and a fingerprint of
    /// everything under the run but its heartbeat (records, tags, live logs)
    /// that changes when any of it does; one listing, nothing read.
    pub async fn run_activity(&self, flow: &str, run_id: &str) -> Result<(usize, u64), StoreError> {
        let prefix = Path::from(Self::run_prefix(flow, run_id));
        let objects = self.list_all(&prefix).await?;
        let tasks_prefix = format!("{}/tasks/", Self::run_prefix(flow, run_id));
        let records = objects
            .iter()
            .filter(|o| o.location.as_ref().starts_with(&tasks_prefix));
        let tasks = records
            .map(|o| match o.location.extension() {
                Some("json") => 1,
                Some(packs::EXTENSION) => Self::pack_count(&o.location),
                _ => 0,
            })
            .sum();
        let mut hasher = blake3::Hasher::new();
        let mut seen: Vec<_> = objects
            .iter()
            // A beat says the run is alive, not that it changed.
            .filter(|o| o.location.filename() != Some("heartbeat.json"))
            .map(|o| {
                (
                    o.location.as_ref(),
                    o.size,
                    o.last_modified.timestamp_micros(),
                )
            })
            .collect();
        seen.sort();
        for (path, size, modified) in seen {
            hasher.update(path.as_bytes());
            hasher.update(&size.to_le_bytes());
            hasher.update(&modified.to_le_bytes());
        }
        let fingerprint = u64::from_le_bytes(
            hasher.finalize().as_bytes()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        Ok((tasks, fingerprint))
    }

    /// Writes a task's record, replacing any earlier attempt's, atomically.
    pub async fn write_task(&self, record: &TaskRecord) -> Result<(), StoreError> {
        let path = Self::task_path(&record.flow, &record.run_id, &record.step, &record.task_id);
        self.put_json(&path, record, PutMode::Overwrite)
            .await
            .map_err(|e| self.explain(e))
    }

    /// Reads one task's record.
    pub async fn read_task(
        &self,
        flow: &str,
        run_id: &str,
        step: &str,
        task_id: &str,
    ) -> Result<TaskRecord, StoreError> {
        let filed = self
            .get_json(&Self::task_path(flow, run_id, step, task_id))
            .await?;
        let found = match filed {
            Some(record) => Some(record),
            None => {
                self.read_task_from_packs(flow, run_id, step, task_id)
                    .await?
            }
        };
        found.ok_or_else(|| StoreError::TaskNotFound {
            flow: flow.to_string(),
            run_id: run_id.to_string(),
            step: step.to_string(),
            task_id: task_id.to_string(),
            store: self.location.to_string(),
        })
    }

    /// Adds `segment` to the cache's index of the step whose step key is
    /// `step_key` (see [`CacheSegment`]), under the hash of its content,
    /// which it returns (the segment's name). The cache is an index of what the store holds, so segments are not
    /// flushed with the run: one that a machine crash loses or leaves
    /// unreadable only makes its tasks run again.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let step_key = mfw_store::BlobHash::of(b"a step key");
    /// assert!(store.cache_segments(&step_key).await.unwrap().is_empty());
    /// let task = mfw_store::TaskRecord::new("F", "1", "start", "0");
    /// let segment = mfw_store::CacheSegment {
    ///     entries: vec![mfw_store::CacheEntry {
    ///         key: mfw_store::BlobHash::of(b"a cache key"),
    ///         variant: mfw_store::CacheVariant::of(&task, Default::default()),
    ///     }],
    /// };
    /// store.put_cache_segment(&step_key, &segment).await.unwrap();
    /// let read = store.cache_segments(&step_key).await.unwrap();
    /// assert_eq!(read.len(), 1);
    /// assert_eq!(read[0].1, segment);
    /// # });
    /// ```
    pub async fn put_cache_segment(
        &self,
        step_key: &BlobHash,
        segment: &CacheSegment,
    ) -> Result<String, StoreError> {
        let json = serde_json::to_vec(segment)
            .map_err(json_error)
            .map_err(|e| self.explain(e))?;
        let name = BlobHash::of(&json).to_hex();
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let path = Self::cache_segment_path(step_key, &name);
        match self
            .backend
            .put_opts(&path, PutPayload::from(json), options)
            .await
        {
            // The same entries, written before.
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(name),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// The segments of the cache's index of step `step_key`, newest first,
    /// each with its name. A segment that cannot be read (removed
    /// meanwhile, or damaged) is left out: its tasks run again.
    pub async fn cache_segments(
        &self,
        step_key: &BlobHash,
    ) -> Result<Vec<(String, CacheSegment)>, StoreError> {
        let prefix = Path::from(format!("cache/{}", step_key.to_hex()));
        let mut listed = self.list_all(&prefix).await?;
        listed.sort_by_key(|meta| std::cmp::Reverse(meta.last_modified));
        let reads = listed.into_iter().filter_map(|meta| {
            let name = meta.location.filename()?.strip_suffix(".json")?.to_string();
            Some(async move {
                let segment = self.get_json::<CacheSegment>(&meta.location).await;
                (name, segment)
            })
        });
        let read: Vec<_> = futures::stream::iter(reads).buffered(16).collect().await;
        Ok(read
            .into_iter()
            .filter_map(|(name, segment)| Some((name, segment.ok()??)))
            .collect())
    }

    /// Removes the segments `names` of step `step_key` (merged into one
    /// written before); one already gone is no error.
    pub async fn remove_cache_segments(
        &self,
        step_key: &BlobHash,
        names: &[String],
    ) -> Result<(), StoreError> {
        for name in names {
            match self
                .backend
                .delete(&Self::cache_segment_path(step_key, name))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.explain(e)),
            }
        }
        Ok(())
    }

    fn live_path(flow: &str, run_id: &str, step: &str, task_id: &str) -> Path {
        Path::from(format!(
            "{}/live/{step}/{task_id}.json",
            Self::run_prefix(flow, run_id)
        ))
    }

    /// Stores what task `step/task_id` of a running run has written so
    /// far ([`LiveLog`]). Not made durable: it is replaced within seconds.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let log = mfw_store::LiveLog { stdout: "epoch 1\n".into(), ..Default::default() };
    /// store.put_live_log("F", "7", "train", "0", &log).await.unwrap();
    /// assert_eq!(store.live_logs("F", "7").await.unwrap(), [("train".to_string(), "0".to_string())]);
    /// assert_eq!(store.live_log("F", "7", "train", "0").await.unwrap(), Some(log));
    /// store.remove_live_logs("F", "7").await.unwrap();
    /// assert!(store.live_logs("F", "7").await.unwrap().is_empty());
    /// # });
    /// ```
    pub async fn put_live_log(
        &self,
        flow: &str,
        run_id: &str,
        step: &str,
        task_id: &str,
        log: &LiveLog,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(log).map_err(|e| StoreError::Open {
            location: self.location.to_string(),
            reason: e.to_string(),
        })?;
        self.backend
            .put(&Self::live_path(flow, run_id, step, task_id), bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| self.explain(e))
    }

    /// What task `step/task_id` had written when it last stored it, if it
    /// is running (or its run was killed).
    pub async fn live_log(
        &self,
        flow: &str,
        run_id: &str,
        step: &str,
        task_id: &str,
    ) -> Result<Option<LiveLog>, StoreError> {
        self.get_json(&Self::live_path(flow, run_id, step, task_id))
            .await
    }

    /// The tasks of a run that have stored a live log, as (step, task).
    pub async fn live_logs(
        &self,
        flow: &str,
        run_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = Path::from(format!("{}/live", Self::run_prefix(flow, run_id)));
        let mut found: Vec<(String, String)> = self
            .list_all(&prefix)
            .await?
            .into_iter()
            .filter_map(|o| {
                let mut parts = o.location.parts().skip(5);
                let step = parts.next()?.as_ref().to_string();
                let task = parts.next()?.as_ref().strip_suffix(".json")?.to_string();
                Some((step, task))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// Removes a run's live logs (its tasks' records hold their output).
    pub async fn remove_live_logs(&self, flow: &str, run_id: &str) -> Result<(), StoreError> {
        for (step, task) in self.live_logs(flow, run_id).await? {
            match self
                .backend
                .delete(&Self::live_path(flow, run_id, &step, &task))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.explain(e)),
            }
        }
        Ok(())
    }

    fn cache_segment_path(step_key: &BlobHash, name: &str) -> Path {
        Path::from(format!("cache/{}/{name}.json", step_key.to_hex()))
    }

    /// Removes what a killed writer of run `flow/run_id` left half-written:
    /// the staging files of records it never renamed into place. Only a
    /// local store has them (object stores publish whole objects); returns
    /// how many were removed.
    pub fn remove_staging(&self, flow: &str, run_id: &str) -> std::io::Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        // Both name one directory under the root: nothing that could climb
        // out of it or name another.
        let plain =
            |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0']);
        if !plain(flow) || !plain(run_id) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "`{}/{}` is not a flow and run id",
                    flow.escape_debug(),
                    run_id.escape_debug()
                ),
            ));
        }
        fn walk(dir: &FsPath, removed: &mut usize) -> std::io::Result<()> {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return Ok(());
            };
            for entry in entries.flatten() {
                let path = entry.path();
                // The entry itself, never what a symbolic link points at:
                // a link is neither walked into nor removed.
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    walk(&path, removed)?;
                } else if kind.is_file() && entry.file_name().to_string_lossy().contains('#') {
                    std::fs::remove_file(&path)?;
                    *removed += 1;
                }
            }
            Ok(())
        }
        let mut removed = 0;
        walk(&root.join(Self::run_prefix(flow, run_id)), &mut removed)?;
        Ok(removed)
    }

    /// Stores a batch for remote workers; returns its name in the store.
    pub async fn write_batch(&self, batch: &Batch, id: &str) -> Result<String, StoreError> {
        let key = format!(
            "{}/batches/{}/{id}.json",
            Self::run_prefix(&batch.flow, &batch.run_id),
            batch.step
        );
        self.put_json(&Path::from(key.as_str()), batch, PutMode::Overwrite)
            .await
            .map_err(|e| self.explain(e))?;
        Ok(key)
    }

    /// Shares a file a build produced (a native wheel mfw built) with
    /// everyone using this store: its bytes become a blob and a record
    /// names it under `builds/<kind>/<key>.json`. A later record for the
    /// same key replaces the earlier one (a key names its inputs, so both
    /// hold the same build).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let about = serde_json::json!({"name": "numpy", "version": "2.3.5"});
    /// store.put_shared_build("wheels", "numpy-2.3.5-0123abcd", "numpy.whl", b"wheel".to_vec().into(), about.clone())
    ///     .await.unwrap();
    /// let (build, bytes) = store.get_shared_build("wheels", "numpy-2.3.5-0123abcd").await.unwrap().unwrap();
    /// assert_eq!((build.file.as_str(), &bytes[..], build.about), ("numpy.whl", &b"wheel"[..], about));
    /// assert!(store.get_shared_build("wheels", "pandas-2.3.3-0123abcd").await.unwrap().is_none());
    /// # });
    /// ```
    pub async fn put_shared_build(
        &self,
        kind: &str,
        key: &str,
        file: &str,
        bytes: Bytes,
        about: serde_json::Value,
    ) -> Result<(), StoreError> {
        let path = self.shared_build_path(kind, key)?;
        let blob = self.put_blob(bytes).await?;
        let record = SharedBuild {
            file: file.to_string(),
            blob,
            about,
        };
        self.put_json(&path, &record, PutMode::Overwrite)
            .await
            .map_err(|e| self.explain(e))
    }

    /// The shared build recorded under `key`, with its bytes (checked
    /// against their hash); `None` when nobody shared it.
    pub async fn get_shared_build(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<(SharedBuild, Bytes)>, StoreError> {
        let path = self.shared_build_path(kind, key)?;
        let Some(record) = self.get_json::<SharedBuild>(&path).await? else {
            return Ok(None);
        };
        let bytes = self.get_blob(&record.blob).await?;
        Ok(Some((record, bytes)))
    }

    /// `builds/<kind>/<key>.json`, for names that stay one path segment.
    fn shared_build_path(&self, kind: &str, key: &str) -> Result<Path, StoreError> {
        let segment = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !segment(kind) || !segment(key) {
            return Err(StoreError::BadRecord {
                path: format!("builds/{kind}/{key}.json"),
                store: self.location.to_string(),
                reason: "a shared build's kind and key are letters, digits, '.', '_' and '-'"
                    .to_string(),
            });
        }
        Ok(Path::from(format!("builds/{kind}/{key}.json")))
    }

    /// Reads the batch stored under `key`.
    pub async fn read_batch(&self, key: &str) -> Result<Batch, StoreError> {
        self.get_json(&Path::from(key))
            .await?
            .ok_or_else(|| StoreError::BadRecord {
                path: key.to_string(),
                store: self.location.to_string(),
                reason: "no such batch".to_string(),
            })
    }

    /// The ids of the tasks of `step` that have a record, without reading
    /// the records (one listing, however many tasks).
    pub async fn list_task_ids(
        &self,
        flow: &str,
        run_id: &str,
        step: &str,
    ) -> Result<HashSet<String>, StoreError> {
        let prefix = Path::from(Self::step_prefix(flow, run_id, step));
        let objects = self.list_all(&prefix).await?;
        let mut ids: HashSet<String> = objects
            .iter()
            .filter(|o| o.location.extension() == Some("json"))
            .filter_map(|o| {
                o.location
                    .filename()
                    .and_then(|name| name.strip_suffix(".json"))
                    .map(str::to_string)
            })
            .collect();
        for pack in Self::packs(objects.into_iter().map(|o| o.location)) {
            ids.extend(self.read_pack(&pack).await?.into_iter().map(|t| t.task_id));
        }
        Ok(ids)
    }

    /// Every task record of a run that can be read, grouped by step name. A
    /// damaged record is left out, as if the task had not run (so a resume
    /// runs it again); [`Datastore::list_tasks_checked`] also names them.
    pub async fn list_tasks(
        &self,
        flow: &str,
        run_id: &str,
    ) -> Result<BTreeMap<String, Vec<TaskRecord>>, StoreError> {
        Ok(self.list_tasks_checked(flow, run_id).await?.0)
    }

    /// Every task record of a run, grouped by step name, and the records
    /// that cannot be read, which are left out.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// for id in ["0", "1", "10", "2"] {
    ///     store.write_task(&mfw_store::TaskRecord::new("F", "7", "work", id)).await.unwrap();
    /// }
    /// let broken = dir.path().join("flows/F/runs/7/tasks/work/3.json");
    /// std::fs::write(&broken, b"{\"flow\": ").unwrap();
    /// let (tasks, damaged) = store.list_tasks_checked("F", "7").await.unwrap();
    /// let ids: Vec<&str> = tasks["work"].iter().map(|t| t.task_id.as_str()).collect();
    /// assert_eq!(ids, ["0", "1", "2", "10"]);
    /// assert_eq!(damaged[0].path, "flows/F/runs/7/tasks/work/3.json");
    /// # });
    /// ```
    pub async fn list_tasks_checked(
        &self,
        flow: &str,
        run_id: &str,
    ) -> Result<TaskListing, StoreError> {
        let prefix = Path::from(format!("{}/tasks", Self::run_prefix(flow, run_id)));
        self.records_under(&prefix).await
    }

    /// The task records of one step of a run, in task order, and those that
    /// cannot be read: [`Datastore::list_tasks_checked`] for one step (each
    /// file and pack read once).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// store.write_task(&mfw_store::TaskRecord::new("F", "7", "work", "1")).await.unwrap();
    /// store.write_task(&mfw_store::TaskRecord::new("F", "7", "end", "0")).await.unwrap();
    /// let (work, damaged) = store.list_step_tasks_checked("F", "7", "work").await.unwrap();
    /// assert_eq!(work.len(), 1);
    /// assert!(damaged.is_empty());
    /// # });
    /// ```
    pub async fn list_step_tasks_checked(
        &self,
        flow: &str,
        run_id: &str,
        step: &str,
    ) -> Result<(Vec<TaskRecord>, Vec<Damaged>), StoreError> {
        let prefix = Path::from(Self::step_prefix(flow, run_id, step));
        let (mut tasks, damaged) = self.records_under(&prefix).await?;
        Ok((tasks.remove(step).unwrap_or_default(), damaged))
    }

    /// Every task record under `prefix` (a run's `tasks`, or one step's),
    /// by step, and the records that cannot be read.
    async fn records_under(&self, prefix: &Path) -> Result<TaskListing, StoreError> {
        let objects = self.list_all(prefix).await?;
        let mut tasks: BTreeMap<String, Vec<TaskRecord>> = BTreeMap::new();
        let mut damaged = Vec::new();
        let locations: Vec<Path> = objects.into_iter().map(|o| o.location).collect();
        let paths = locations
            .iter()
            // Anything else is a pack or a staging file of an interrupted
            // write.
            .filter(|p| p.extension() == Some("json"))
            .cloned()
            .collect();
        let mut filed = HashSet::new();
        for read in self.get_json_many::<TaskRecord>(paths).await {
            match read {
                Ok(Some(task)) => {
                    filed.insert((task.step.clone(), task.task_id.clone()));
                    tasks.entry(task.step.clone()).or_default().push(task);
                }
                Ok(None) => {}
                Err(e) => damaged.push(Damaged::from_error(e)?),
            }
        }
        // A task's own file wins over a pack's copy.
        for pack in Self::packs(locations) {
            match self.read_pack(&pack).await {
                Ok(packed) => {
                    for task in packed {
                        if !filed.contains(&(task.step.clone(), task.task_id.clone())) {
                            tasks.entry(task.step.clone()).or_default().push(task);
                        }
                    }
                }
                Err(e) => damaged.push(Damaged::from_error(e)?),
            }
        }
        for list in tasks.values_mut() {
            list.sort_by(|a, b| meta::task_order(&a.task_id, &b.task_id));
        }
        Ok((tasks, damaged))
    }
}

/// How many records a listing of a remote store reads at once.
const RECORD_READS_AT_ONCE: usize = 32;

/// How many records of a local store one blocking thread reads.
const RECORD_BATCH: usize = 1000;

/// A value that could not be written as JSON, as the backend's error.
pub(crate) fn json_error(source: serde_json::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "json",
        source: Box::new(source),
    }
}

fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A local store in a new temporary directory.
    pub(crate) fn store() -> (tempfile::TempDir, Datastore) {
        let dir = tempfile::tempdir().unwrap();
        let store = Datastore::open(dir.path().to_str().unwrap()).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn the_same_bytes_are_stored_once() {
        let (_dir, store) = store();
        let a = store.put_blob(Bytes::from_static(b"abc")).await.unwrap();
        let b = store.put_blob(Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(a, b);
        // A fresh handle (no in-memory knowledge) does not store it again.
        let again = Datastore::open(store.location()).unwrap();
        again.put_blob(Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(store.count_blobs().await.unwrap(), 1);
    }

    #[test]
    fn removing_staging_files_stays_inside_the_run() {
        let (dir, store) = store();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep#me"), b"x").unwrap();
        let run = dir.path().join("flows/F/runs/1/tasks");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("a.json#tmp"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), run.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("keep#me"), run.join("b#link")).unwrap();
        assert_eq!(store.remove_staging("F", "1").unwrap(), 1);
        assert!(outside.path().join("keep#me").exists());
        assert!(run.join("b#link").exists());
        for (flow, run) in [("..", "1"), ("F", "../.."), ("a/b", "1"), ("", "1")] {
            assert!(store.remove_staging(flow, run).is_err(), "{flow}/{run}");
        }
    }

    #[tokio::test]
    async fn a_corrupt_blob_is_detected_not_returned() {
        let (dir, store) = store();
        let hash = store.put_blob(Bytes::from_static(b"value")).await.unwrap();
        let hex = hash.to_hex();
        let file = dir.path().join("blobs").join(&hex[..2]).join(&hex);
        std::fs::write(&file, b"tampered").unwrap();
        let err = store.get_blob(&hash).await.unwrap_err();
        assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
        assert!(err.to_string().contains(&hex));
    }

    #[tokio::test]
    async fn a_missing_blob_is_named() {
        let (_dir, store) = store();
        let hash = BlobHash::of(b"never stored");
        let err = store.get_blob(&hash).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("blob {hash} is missing from datastore {}", store.location())
        );
    }

    #[tokio::test]
    async fn concurrent_runs_get_distinct_ids() {
        let (_dir, store) = store();
        let mut handles = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let mut run = RunRecord::new("F");
                store.create_run(&mut run).await.unwrap();
                run.run_id
            }));
        }
        let mut ids = Vec::new();
        for h in handles {
            ids.push(h.await.unwrap());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);
        assert_eq!(store.list_runs("F").await.unwrap().len(), 8);
    }

    #[tokio::test]
    async fn tasks_round_trip_and_list_in_index_order() {
        let (_dir, store) = store();
        let mut run = RunRecord::new("F");
        store.create_run(&mut run).await.unwrap();
        for id in ["10", "2", "1"] {
            let task = TaskRecord::new("F", &run.run_id, "train", id);
            store.write_task(&task).await.unwrap();
        }
        let tasks = store.list_tasks("F", &run.run_id).await.unwrap();
        let ids: Vec<&str> = tasks["train"].iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "10"]);
        let one = store
            .read_task("F", &run.run_id, "train", "2")
            .await
            .unwrap();
        assert_eq!(one.task_id, "2");
    }
}
