//! Automatic caching: a task whose task key (see `key.rs`) matches a task
//! that already succeeded is not run; that task's record is cloned into the
//! run, as resume does. Sound because a task sees the world only through
//! what its key covers — unless its grants let it see more (the real clock,
//! randomness, the network, files, the host's environment) or it asked who
//! it is (`current.run_id`, the attempt, the run's tags): such tasks are
//! neither taken from the cache nor put in it, unless the step says
//! `@cache(True)`. `--no-cache` and `@cache(False)` turn it off.
//!
//! Parameters are matched apart: a task is found by its cache key (its task
//! key without the run's parameters), then reused only if the parameters it
//! read have the same values in this run. Changing a parameter reruns only
//! the tasks that read it, and those its change reaches.
//!
//! The index is kept per step, under its step key (`key.rs`): what a run
//! remembered of a step's tasks is one segment (`mfw_store::CacheSegment`)
//! in `cache/<step key>/`, written every few seconds and when the run ends,
//! so a foreach's thousand tasks cost one read and one write, not a
//! thousand. Everyone sharing the datastore (a team, its Kubernetes
//! workers) shares the cache; a run adds segments and never rewrites one,
//! so concurrent runs lose nothing, and a reader that finds many merges
//! them. An entry that cannot be read, or names a task whose record or
//! values are gone, is a miss: the task runs, and its success adds a fresh
//! entry. A run killed before it wrote its segment loses only that: its
//! tasks run again next time (resume still reuses them). The records of
//! the tasks a run takes from the cache are written in packs, a pack per
//! step for every 256 of them (`mfw_store::Datastore::write_task_packs`),
//! not a file each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use mfw_graph::BlobHash;
use mfw_store::{CacheEntry, CacheSegment, CacheVariant, Datastore, TaskRecord, TaskStatus};
use tokio::sync::OnceCell;

use crate::task::{Finished, Identity, ReadyTask, TaskContext};

/// What is known of a blob so far in this run: a foreach of a thousand
/// cached tasks sharing their inputs asks once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Known {
    Missing,
    /// Its object exists; its bytes were not checked.
    Stored,
    /// Its bytes were read and hash to it.
    Intact,
}

/// Which blobs are known to be stored (or intact), as found so far.
#[derive(Default)]
pub(crate) struct Presence(Mutex<HashMap<BlobHash, Known>>);

impl Presence {
    /// Whether every value `record` names is in the store (a blob set
    /// aside by `mfw doctor --repair` makes its task run again).
    pub(crate) async fn all_stored(&self, store: &Datastore, record: &TaskRecord) -> bool {
        self.all_at_least(store, record, Known::Stored).await
    }

    /// Whether every value `record` names is stored and reads back as its
    /// hash: a task taken from the cache must not hand on a damaged value
    /// that running it would have stored again.
    pub(crate) async fn all_intact(&self, store: &Datastore, record: &TaskRecord) -> bool {
        self.all_at_least(store, record, Known::Intact).await
    }

    async fn all_at_least(&self, store: &Datastore, record: &TaskRecord, wanted: Known) -> bool {
        let values = record.artifacts.values().chain(record.objects.values());
        for hash in values.chain(record.cards.values()) {
            let known = self.0.lock().ok().and_then(|s| s.get(hash).copied());
            // A blob known missing stays missing; one only known to exist
            // is read when its bytes must be checked.
            let known = match known {
                Some(k) if k == Known::Missing || k >= wanted => k,
                _ => {
                    let found = if wanted == Known::Intact {
                        // Read a piece at a time, each checked: a large
                        // value is never held.
                        if store.verify_blob(hash).await.is_ok() {
                            Known::Intact
                        } else {
                            Known::Missing
                        }
                    } else if store.has_blob(hash).await.unwrap_or(false) {
                        Known::Stored
                    } else {
                        Known::Missing
                    };
                    if let Ok(mut seen) = self.0.lock() {
                        seen.insert(*hash, found);
                    }
                    found
                }
            };
            if known < wanted {
                return false;
            }
        }
        true
    }
}

/// Whether `step`'s tasks may use the cache in this run.
pub(crate) fn may_cache(ctx: &TaskContext, step: &str) -> bool {
    ctx.cache
        && ctx.policies.get(step).is_some_and(|p| p.cacheable())
        && !ctx.origin.as_ref().is_some_and(|o| o.always_runs(step))
}

/// Whether the step said `@cache(True)`, so that even a task that asked
/// who it is is cached.
fn forced(ctx: &TaskContext, step: &str) -> bool {
    ctx.policies
        .get(step)
        .is_some_and(|p| p.cache == Some(true))
}

/// How many tasks (parameter values) one cache entry remembers.
const MAX_VARIANTS: usize = 32;

/// The task that computed `identity`'s cache key with this run's values of
/// the parameters it read, cloned into this run; `None` means: run the
/// task.
pub(crate) async fn from_cache(
    ctx: &TaskContext,
    task: &ReadyTask,
    identity: &Identity,
) -> Option<Finished> {
    let (key, step_key) = (identity.cache_key.as_ref()?, identity.step_key.as_ref()?);
    if !may_cache(ctx, &task.step) {
        return None;
    }
    let index = ctx.cache_book.index(&ctx.store, step_key).await;
    if index.is_empty() {
        ctx.cache_book.holds_nothing(&task.step);
    }
    let variants = index.get(key)?;
    let same_values = |variant: &CacheVariant| {
        variant
            .parameters
            .iter()
            .all(|(name, hash)| ctx.parameter_hashes.get(name) == Some(hash))
    };
    for variant in variants.iter().filter(|v| same_values(v)) {
        let Ok(old) = ctx
            .store
            .read_task(
                &variant.flow,
                &variant.run_id,
                &variant.step,
                &variant.task_id,
            )
            .await
        else {
            continue;
        };
        // The entry may be older than the record it names (that task ran
        // again with other inputs): the record decides.
        if old.status != TaskStatus::Succeeded
            || old.cache_key.as_ref() != Some(key)
            || old.parameters_read.as_ref() != Some(&variant.parameters)
        {
            continue;
        }
        // What it read of other runs must read the same now (a newer
        // upstream run, a run that finished since, changes an answer).
        if old.runs_read.as_ref().is_some_and(|r| !r.is_empty()) {
            let Some(runs) = ctx.runs.clone() else {
                continue;
            };
            if !crate::runs::reads_still_hold(runs, &old).await {
                continue;
            }
        }
        if ctx.presence.all_intact(&ctx.store, &old).await {
            return clone_into_run(ctx, task, identity, old, true).await;
        }
    }
    None
}

/// Records that `record` (just succeeded, run here) computed its cache key
/// with the parameters it read, if the cache may hold it; [`flush`] stores
/// it.
pub(crate) fn remember(
    ctx: &TaskContext,
    record: &TaskRecord,
    step_key: Option<BlobHash>,
    read_run_identity: bool,
) {
    let (Some(key), Some(step_key), Some(parameters)) =
        (record.cache_key, step_key, &record.parameters_read)
    else {
        return;
    };
    if record.status != TaskStatus::Succeeded
        || !may_cache(ctx, &record.step)
        || (read_run_identity && !forced(ctx, &record.step))
    {
        return;
    }
    let entry = CacheEntry {
        key,
        variant: CacheVariant::of(record, parameters.clone()),
    };
    ctx.cache_book.add(step_key, entry);
}

/// Stores what this run's tasks added to the cache since the last call:
/// one segment per step. The cache is an optimisation; nothing here fails
/// the run (a segment not written only means its tasks run again).
pub(crate) async fn flush(ctx: &TaskContext) {
    let mut by_step: BTreeMap<BlobHash, Vec<CacheEntry>> = BTreeMap::new();
    for (step_key, entry) in ctx.cache_book.take_added() {
        by_step.entry(step_key).or_default().push(entry);
    }
    for (step_key, entries) in by_step {
        let _ = ctx
            .store
            .put_cache_segment(&step_key, &CacheSegment { entries })
            .await;
    }
}

/// Stores the records of the tasks cloned since the last call, one pack
/// per step. Unlike the cache's segments these are the run's own records:
/// on an error they stay to be written by the next call, and the run's
/// last call fails the run.
pub(crate) async fn flush_clones(ctx: &TaskContext) -> Result<(), mfw_store::StoreError> {
    let cloned = ctx
        .cache_book
        .cloned
        .lock()
        .map(|mut cloned| std::mem::take(&mut *cloned))
        .unwrap_or_default();
    if cloned.is_empty() {
        return Ok(());
    }
    let written = ctx.store.write_task_packs(&cloned).await;
    if written.is_err()
        && let Ok(mut pending) = ctx.cache_book.cloned.lock()
    {
        pending.extend(cloned);
    }
    written
}

/// A step's index as read: each cache key's tasks, newest first.
type StepIndex = HashMap<BlobHash, Vec<CacheVariant>>;

/// The cache's indexes a run (or a remote worker) has read, each once, and
/// the entries its tasks added since the last [`flush`]; in a local run,
/// also the records of the tasks it cloned (from the cache or on resume),
/// which [`flush_clones`] stores as a pack per step
/// (`mfw_store::Datastore::write_task_packs`): a foreach's thousand cached
/// tasks are a few writes, not a thousand.
#[derive(Default)]
pub(crate) struct CacheBook {
    read: Mutex<HashMap<BlobHash, Arc<OnceCell<Arc<StepIndex>>>>>,
    added: Mutex<Vec<(BlobHash, CacheEntry)>>,
    /// Whether cloned records wait for [`flush_clones`] (a local run), or
    /// are written at once (a remote worker, whose scheduler reads each
    /// record as its task ends).
    packs_clones: bool,
    cloned: Mutex<Vec<TaskRecord>>,
    /// The steps whose index was read and found empty: their other tasks
    /// need no lookup (the index is read once a run).
    empty: Mutex<HashSet<String>>,
}

/// How many segments a step's index may have before a reader merges them.
const MAX_SEGMENTS: usize = 16;

/// How many entries a merged segment keeps (the newest).
const MAX_ENTRIES: usize = 100_000;

impl CacheBook {
    /// The index of the step whose step key is `step_key`, read on first
    /// use (one read for a foreach's tasks).
    async fn index(&self, store: &Datastore, step_key: &BlobHash) -> Arc<StepIndex> {
        let Ok(cell) = self
            .read
            .lock()
            .map(|mut read| read.entry(*step_key).or_default().clone())
        else {
            return Arc::default();
        };
        cell.get_or_init(|| read_index(store, step_key))
            .await
            .clone()
    }

    fn add(&self, step_key: BlobHash, entry: CacheEntry) {
        if let Ok(mut added) = self.added.lock() {
            added.push((step_key, entry));
        }
    }

    /// A book whose cloned records are packed (a local run's).
    pub(crate) fn packing() -> Self {
        Self {
            packs_clones: true,
            ..Self::default()
        }
    }

    /// Whether tasks added entries, or cloned records, since the last
    /// flush.
    pub(crate) fn has_added(&self) -> bool {
        self.added.lock().is_ok_and(|added| !added.is_empty())
            || self.cloned.lock().is_ok_and(|cloned| !cloned.is_empty())
    }

    /// How many cloned tasks' records wait for [`flush_clones`].
    pub(crate) fn clones_waiting(&self) -> usize {
        self.cloned.lock().map_or(0, |cloned| cloned.len())
    }

    fn holds_nothing(&self, step: &str) {
        if let Ok(mut empty) = self.empty.lock() {
            empty.insert(step.to_string());
        }
    }

    /// Whether `step`'s index was found empty in this run, so that looking
    /// up its tasks would find nothing.
    pub(crate) fn holds_nothing_for(&self, step: &str) -> bool {
        self.empty.lock().is_ok_and(|empty| empty.contains(step))
    }

    /// Keeps a cloned task's record for the next [`flush_clones`].
    pub(crate) fn add_clone(&self, record: TaskRecord) {
        if let Ok(mut cloned) = self.cloned.lock() {
            cloned.push(record);
        }
    }

    fn take_added(&self) -> Vec<(BlobHash, CacheEntry)> {
        self.added
            .lock()
            .map(|mut added| std::mem::take(&mut *added))
            .unwrap_or_default()
    }
}

/// Reads a step's index; merges its segments when there are many.
async fn read_index(store: &Datastore, step_key: &BlobHash) -> Arc<StepIndex> {
    let segments = store.cache_segments(step_key).await.unwrap_or_default();
    let merging = segments.len() > MAX_SEGMENTS;
    let mut names = Vec::new();
    let mut index = StepIndex::new();
    // What a merged segment keeps, only gathered when merging.
    let mut kept = Vec::new();
    // Newest segment first, and the newest entry of each first.
    for (name, segment) in segments {
        names.push(name);
        for entry in segment.entries.into_iter().rev() {
            let variants = index.entry(entry.key).or_default();
            if variants.len() < MAX_VARIANTS
                && !variants
                    .iter()
                    .any(|v| v.parameters == entry.variant.parameters)
            {
                if merging {
                    kept.push(entry.clone());
                }
                variants.push(entry.variant);
            }
        }
    }
    if merging {
        kept.truncate(MAX_ENTRIES);
        kept.reverse();
        let merged = CacheSegment { entries: kept };
        // Written before the others go, so no entry is ever missing; one
        // that a concurrent writer added since stays, as it was not read.
        if let Ok(written) = store.put_cache_segment(step_key, &merged).await {
            names.retain(|name| *name != written);
            let _ = store.remove_cache_segments(step_key, &names).await;
        }
    }
    Arc::new(index)
}

/// `old`, a successful task of this or another run, copied into this run as
/// `task`. Values are shared by hash; only the small record is written.
/// `None` when the record cannot be written: the task then runs, and the
/// run's own write reports what is wrong with the store.
pub(crate) async fn clone_into_run(
    ctx: &TaskContext,
    task: &ReadyTask,
    identity: &Identity,
    old: TaskRecord,
    cached: bool,
) -> Option<Finished> {
    let mut record = old;
    // Where the values were computed: the first run of a chain of clones.
    let computed_in = record.cloned_from.take().unwrap_or(record.run_id);
    record.cloned_from = Some(computed_in);
    record.cached = cached;
    record.flow = ctx.flow.clone();
    record.run_id = ctx.run_id.clone();
    record.parents = task.parents.clone();
    record.input_key = Some(identity.input_key);
    if !ctx.cache_book.packs_clones {
        ctx.store.write_task(&record).await.ok()?;
    }
    let mut finished = Finished::succeeded(task.clone(), record);
    finished.cloned = true;
    finished.to_pack = ctx.cache_book.packs_clones;
    Some(finished)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Datastore {
        let backend = Arc::new(object_store::memory::InMemory::new());
        Datastore::with_backend(backend, "memory")
    }

    fn entry(key: &[u8], run: &str, alpha: Option<&[u8]>) -> CacheEntry {
        let record = TaskRecord::new("F", run, "body", "0");
        let parameters = alpha
            .map(|v| BTreeMap::from([("alpha".to_string(), BlobHash::of(v))]))
            .unwrap_or_default();
        CacheEntry {
            key: BlobHash::of(key),
            variant: CacheVariant::of(&record, parameters),
        }
    }

    #[tokio::test]
    async fn the_newest_task_of_a_key_comes_first_and_many_segments_are_merged() {
        let store = store();
        let step = BlobHash::of(b"step");
        // One segment per run, each adding a key; the later runs also
        // computed key 0 again with another value of alpha.
        for run in 0..=MAX_SEGMENTS {
            let mut entries = vec![entry(
                format!("key {run}").as_bytes(),
                &run.to_string(),
                None,
            )];
            if run > 0 {
                entries.push(entry(b"key 0", &run.to_string(), Some(&[run as u8])));
            }
            store
                .put_cache_segment(&step, &CacheSegment { entries })
                .await
                .unwrap();
            // Segments are ordered by their time.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let index = read_index(&store, &step).await;
        assert_eq!(index.len(), MAX_SEGMENTS + 1);
        let key0 = &index[&BlobHash::of(b"key 0")];
        assert_eq!(key0.len(), MAX_SEGMENTS + 1, "one task per value of alpha");
        assert_eq!(key0[0].run_id, MAX_SEGMENTS.to_string(), "the newest first");
        assert_eq!(key0.last().unwrap().run_id, "0");
        // More than MAX_SEGMENTS: merged into one, with every entry kept.
        let merged = store.cache_segments(&step).await.unwrap();
        assert_eq!(merged.len(), 1);
        assert_eq!(read_index(&store, &step).await, index);
    }

    #[tokio::test]
    async fn a_step_without_segments_or_with_a_damaged_one_has_an_empty_index() {
        let backend = Arc::new(object_store::memory::InMemory::new());
        let store = Datastore::with_backend(backend.clone(), "memory");
        let step = BlobHash::of(b"step");
        assert!(read_index(&store, &step).await.is_empty());
        let path = object_store::path::Path::from(format!("cache/{}/x.json", step.to_hex()));
        object_store::ObjectStoreExt::put(backend.as_ref(), &path, b"{not json".to_vec().into())
            .await
            .unwrap();
        assert!(read_index(&store, &step).await.is_empty());
    }
}
