//! Cranelift's compiled functions, kept between compiles
//! (`<compiled cache>/functions/`). Editing a Python flow makes a new
//! component, but nearly all of its code is the CPython, numpy or
//! scikit-learn the last build compiled: wasmtime's incremental cache looks
//! each function up by a hash of its Cranelift IR and the compiler's
//! settings, and reuses the machine code found instead of compiling it.
//!
//! Each compile that compiled anything writes one pack: `<id>.values`, the
//! compiled functions back to back, and `<id>.index`, each function's key,
//! place and keyed blake3 MAC, the index itself under a MAC as every file of
//! the compiled cache (`compiled_cache.rs`). Native code is trusted as
//! there: a value whose MAC does not hold, a damaged or planted index, or
//! one whose pack is gone reads as a miss, and the function is compiled
//! again. Nothing here fails a compile.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::compiled_cache::CompiledCache;

/// What an index starts with; a new layout changes it, and old packs are
/// then ignored until trimmed.
const INDEX_MAGIC: &[u8] = b"mfw functions 1\n";

/// A key is Cranelift's (a SHA-256 today); anything longer is refused.
const MAX_KEY_LEN: usize = 256;

/// A compiled function larger than this is not kept (Cranelift's largest
/// in a scientific-Python component are a few MB).
const MAX_VALUE_LEN: usize = 64 << 20;

/// The incremental compilation cache of one host (see the module's doc).
pub(crate) struct FunctionCache {
    dir: PathBuf,
    /// The compiled cache, shared with the host for its key.
    compiled: Arc<OnceLock<Option<CompiledCache>>>,
    cache_dir: PathBuf,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The packs' indexes, read on the first lookup.
    loaded: bool,
    entries: HashMap<Box<[u8]>, Entry>,
    packs: Vec<Arc<Pack>>,
    /// The pack this compile is writing, if it compiled anything yet.
    pending: Option<Pending>,
    /// Another process is writing a pack: this compile keeps nothing.
    other_writer: bool,
}

struct Entry {
    pack: usize,
    offset: u64,
    len: u32,
    mac: [u8; 32],
}

struct Pack {
    values: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    /// Whether a lookup this process made refreshed its modification time,
    /// by which trimming keeps the recently used.
    touched: AtomicBool,
}

struct Pending {
    /// Held locked while the pack is written: processes compiling the
    /// same new component at once (pods sharing a cache volume) would
    /// otherwise each keep a copy of the same functions.
    _writer: Option<std::fs::File>,
    file: tempfile::NamedTempFile,
    pack: usize,
    len: u64,
    index: Vec<u8>,
}

impl FunctionCache {
    /// The function cache under `cache_dir`, authenticated with the key of
    /// `compiled` (opened there on first use). Nothing is read yet.
    pub(crate) fn new(cache_dir: &Path, compiled: Arc<OnceLock<Option<CompiledCache>>>) -> Self {
        Self {
            dir: cache_dir.join("functions"),
            compiled,
            cache_dir: cache_dir.to_path_buf(),
            state: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn compiled(&self) -> Option<&CompiledCache> {
        self.compiled
            .get_or_init(|| CompiledCache::open(&self.cache_dir))
            .as_ref()
    }

    /// How many lookups found a function, and how many did not, since the
    /// last call.
    #[cfg(test)]
    pub(crate) fn take_counts(&self) -> (u64, u64) {
        (
            self.hits.swap(0, Ordering::Relaxed),
            self.misses.swap(0, Ordering::Relaxed),
        )
    }

    /// Makes what this compile added a pack of its own, for the next
    /// compiles (in this process and others), and returns its values'
    /// path; `None` if nothing was added or it could not be kept.
    pub(crate) fn finish_pack(&self) -> Option<PathBuf> {
        let pending = {
            let mut state = self.lock();
            state.other_writer = false;
            state.pending.take()?
        };
        let cache = self.compiled()?;
        let Pending {
            mut file, index, ..
        } = pending;
        file.flush().ok()?;
        let id = blake3::hash(&index).to_hex();
        let values = self.dir.join(format!("{id}.values"));
        // The values first: an index names only values already in place.
        file.persist(&values).ok()?;
        let mut indexed = INDEX_MAGIC.to_vec();
        indexed.extend_from_slice(&index);
        cache
            .write(&values.with_extension("index"), &indexed)
            .ok()?;
        // This process's lookups go on reading the pack through the handle
        // opened before the rename.
        Some(values)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a usable map.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads every pack's index, once.
    fn load(&self, state: &mut State) {
        if state.loaded {
            return;
        }
        state.loaded = true;
        let Some(cache) = self.compiled() else {
            return;
        };
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for path in dir.filter_map(Result::ok).map(|entry| entry.path()) {
            if path.extension().is_none_or(|e| e != "index") {
                continue;
            }
            let Some(index) = cache.read(&path) else {
                continue;
            };
            let Some(entries) = index.strip_prefix(INDEX_MAGIC).and_then(parse_index) else {
                continue;
            };
            let pack = state.packs.len();
            state.packs.push(Arc::new(Pack {
                values: path.with_extension("values"),
                file: Mutex::new(None),
                touched: AtomicBool::new(false),
            }));
            for (key, offset, len, mac) in entries {
                state.entries.insert(
                    key.into(),
                    Entry {
                        pack,
                        offset,
                        len,
                        mac,
                    },
                );
            }
        }
    }

    fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        let cache = self.compiled()?;
        let (pack, offset, len, mac) = {
            let mut state = self.lock();
            self.load(&mut state);
            let entry = state.entries.get(key)?;
            let pack = state.packs.get(entry.pack)?.clone();
            (pack, entry.offset, entry.len, entry.mac)
        };
        let value = pack.read(offset, len)?;
        if !cache.verify(&value, &blake3::Hash::from_bytes(mac)) {
            return None;
        }
        if !pack.touched.swap(true, Ordering::Relaxed)
            && let Ok(file) = std::fs::File::options().write(true).open(&pack.values)
        {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
        Some(value)
    }

    fn keep(&self, key: &[u8], value: &[u8]) -> Option<()> {
        if key.len() > MAX_KEY_LEN || value.len() > MAX_VALUE_LEN {
            return None;
        }
        let mac = self.compiled()?.mac(value);
        let mut state = self.lock();
        let state = &mut *state;
        if state.other_writer {
            return None;
        }
        if state.pending.is_none() {
            std::fs::create_dir_all(&self.dir).ok()?;
            let writer = std::fs::File::create(self.dir.join("writer.lock")).ok();
            let writer = match writer.as_ref().map(std::fs::File::try_lock) {
                Some(Err(std::fs::TryLockError::WouldBlock)) => {
                    state.other_writer = true;
                    return None;
                }
                // A file system without locks: written all the same.
                Some(Err(std::fs::TryLockError::Error(_))) | None => None,
                Some(Ok(())) => writer,
            };
            let file = tempfile::Builder::new()
                .suffix(".pending")
                .tempfile_in(&self.dir)
                .ok()?;
            let pack = state.packs.len();
            state.packs.push(Arc::new(Pack {
                values: file.path().to_path_buf(),
                file: Mutex::new(file.reopen().ok()),
                touched: AtomicBool::new(true),
            }));
            state.pending = Some(Pending {
                _writer: writer,
                file,
                pack,
                len: 0,
                index: Vec::new(),
            });
        }
        let pending = state.pending.as_mut()?;
        let offset = pending.len;
        let len = u32::try_from(value.len()).ok()?;
        if pending.file.write_all(value).is_err() {
            // A short write (a full disk) would shift every later value:
            // this pack is dropped, and what it held is compiled next time.
            state.pending = None;
            return None;
        }
        pending.len += u64::from(len);
        encode_entry(&mut pending.index, key, offset, len, mac.as_bytes());
        state.entries.insert(
            key.into(),
            Entry {
                pack: pending.pack,
                offset,
                len,
                mac: *mac.as_bytes(),
            },
        );
        Some(())
    }
}

impl Pack {
    fn read(&self, offset: u64, len: u32) -> Option<Vec<u8>> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            *file = std::fs::File::open(&self.values).ok();
        }
        let file = file.as_mut()?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut value = vec![0; usize::try_from(len).ok()?];
        file.read_exact(&mut value).ok()?;
        Some(value)
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let found = self.lookup(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        self.keep(key, &value).is_some()
    }
}

impl std::fmt::Debug for FunctionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// An index entry: the key's length (u16), the key, the value's offset
/// (u64) and length (u32), little-endian, and its MAC.
fn encode_entry(index: &mut Vec<u8>, key: &[u8], offset: u64, len: u32, mac: &[u8; 32]) {
    // Keys are at most MAX_KEY_LEN long (checked by the caller).
    index.extend_from_slice(&(key.len() as u16).to_le_bytes());
    index.extend_from_slice(key);
    index.extend_from_slice(&offset.to_le_bytes());
    index.extend_from_slice(&len.to_le_bytes());
    index.extend_from_slice(mac);
}

type IndexEntry<'a> = (&'a [u8], u64, u32, [u8; 32]);

/// The entries of an index, or `None` if it is not whole.
fn parse_index(mut index: &[u8]) -> Option<Vec<IndexEntry<'_>>> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = bytes.split_at_checked(n)?;
        *bytes = rest;
        Some(head)
    }
    let mut entries = Vec::new();
    while !index.is_empty() {
        let key_len = u16::from_le_bytes(take(&mut index, 2)?.try_into().ok()?);
        let key = take(&mut index, usize::from(key_len))?;
        let offset = u64::from_le_bytes(take(&mut index, 8)?.try_into().ok()?);
        let len = u32::from_le_bytes(take(&mut index, 4)?.try_into().ok()?);
        let mac = take(&mut index, 32)?.try_into().ok()?;
        entries.push((key, offset, len, mac));
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::FunctionCache;
    use std::sync::Arc;
    use wasmtime::CacheStore;

    fn open(dir: &std::path::Path) -> FunctionCache {
        FunctionCache::new(dir, Arc::default())
    }

    fn pack_files(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.join("functions"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == ext))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_function_one_compile_kept_is_found_by_the_next_in_another_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = open(dir.path());
        assert!(cache.get(b"key one").is_none(), "nothing kept yet");
        assert!(cache.insert(b"key one", b"code one".to_vec()));
        assert!(cache.insert(b"key two", vec![7; 100_000]));
        // Found in the same compile, before its pack is written.
        assert_eq!(cache.get(b"key one").as_deref(), Some(&b"code one"[..]));
        let values = cache.finish_pack().expect("a pack");
        assert!(values.exists() && values.with_extension("index").exists());
        assert!(cache.finish_pack().is_none(), "nothing new since");
        assert_eq!(cache.get(b"key two").as_deref(), Some(&[7; 100_000][..]));

        let next = open(dir.path());
        assert_eq!(next.get(b"key one").as_deref(), Some(&b"code one"[..]));
        assert_eq!(next.get(b"key two").as_deref(), Some(&[7; 100_000][..]));
        assert!(next.get(b"key three").is_none());
        assert_eq!(next.take_counts(), (2, 1));
        // A second compile's functions go in a pack of its own.
        assert!(next.insert(b"key three", b"code three".to_vec()));
        next.finish_pack().expect("a second pack");
        assert_eq!(pack_files(dir.path(), "values").len(), 2);
        let third = open(dir.path());
        assert!(third.get(b"key one").is_some() && third.get(b"key three").is_some());
        assert!(pack_files(dir.path(), "pending").is_empty());
    }

    #[test]
    fn one_process_at_a_time_writes_a_pack() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (one, other) = (open(dir.path()), open(dir.path()));
        assert!(one.insert(b"key", b"code".to_vec()));
        // The other compiled the same function meanwhile: not kept twice.
        assert!(!other.insert(b"key", b"code".to_vec()));
        assert!(other.finish_pack().is_none());
        one.finish_pack().expect("a pack");
        assert_eq!(other.get(b"key").as_deref(), Some(&b"code"[..]));
        // Once the writer is done, the next compile writes.
        assert!(other.insert(b"more", b"more code".to_vec()));
        other.finish_pack().expect("a pack");
        assert_eq!(pack_files(dir.path(), "values").len(), 2);
    }

    #[test]
    fn damaged_or_planted_functions_read_as_misses() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = open(dir.path());
        cache.insert(b"key", b"the machine code".to_vec());
        cache.insert(b"other", b"other machine code".to_vec());
        let values = cache.finish_pack().expect("a pack");
        let index = values.with_extension("index");

        // One byte of one function's code changed: that function misses,
        // the other is still found.
        let mut bytes = std::fs::read(&values).expect("read");
        bytes[3] ^= 1;
        std::fs::write(&values, &bytes).expect("damage");
        let after = open(dir.path());
        assert!(after.get(b"key").is_none());
        assert_eq!(
            after.get(b"other").as_deref(),
            Some(&b"other machine code"[..])
        );

        // Planted code with an index naming it: without the cache's key the
        // index's MAC fails, and nothing in the pack is used.
        std::fs::write(&values, b"the planted codeother machine code").expect("plant");
        let mut planted = std::fs::read(&index).expect("read index");
        let last = planted.len() - 1;
        planted[last] ^= 1;
        std::fs::write(&index, &planted).expect("plant index");
        let after = open(dir.path());
        assert!(after.get(b"key").is_none() && after.get(b"other").is_none());

        // A pack whose values are gone, or cut short, misses too.
        std::fs::remove_file(&index).expect("remove");
        cache.insert(b"third", b"third code".to_vec());
        let values = cache.finish_pack().expect("a pack");
        std::fs::write(&values, b"thi").expect("truncate");
        assert!(open(dir.path()).get(b"third").is_none());
        std::fs::remove_file(&values).expect("remove");
        assert!(open(dir.path()).get(b"third").is_none());
    }

    #[test]
    fn without_a_usable_directory_nothing_is_kept_and_nothing_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a file");
        std::fs::write(&file, b"not a directory").expect("write");
        let cache = open(&file);
        assert!(!cache.insert(b"key", b"code".to_vec()));
        assert!(cache.get(b"key").is_none());
        assert!(cache.finish_pack().is_none());
    }
}
