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
//! The index is `cache/<cache key>.json` in the datastore, naming the tasks
//! that computed the key (with the parameters each read), so everyone
//! sharing the datastore (a team, its Kubernetes workers) shares the cache.
//! An entry that cannot be read, or names a task whose record or values are
//! gone, is a miss: the task runs, and its success writes a fresh entry.

use std::collections::HashMap;
use std::sync::Mutex;

use mfw_graph::BlobHash;
use mfw_store::{CacheVariant, Datastore, TaskRecord, TaskStatus};

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
        for hash in record.artifacts.values().chain(record.objects.values()) {
            let known = self.0.lock().ok().and_then(|s| s.get(hash).copied());
            // A blob known missing stays missing; one only known to exist
            // is read when its bytes must be checked.
            let known = match known {
                Some(k) if k == Known::Missing || k >= wanted => k,
                _ => {
                    let found = if wanted == Known::Intact {
                        // `get_blob` checks the bytes against their hash.
                        if store.get_blob(hash).await.is_ok() {
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
fn may_cache(ctx: &TaskContext, step: &str) -> bool {
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
    let key = identity.cache_key.as_ref()?;
    if !may_cache(ctx, &task.step) {
        return None;
    }
    let entry = ctx.store.cache_entry(key).await.ok()??;
    let same_values = |variant: &CacheVariant| {
        variant
            .parameters
            .iter()
            .all(|(name, hash)| ctx.parameter_hashes.get(name) == Some(hash))
    };
    for variant in entry.variants.iter().filter(|v| same_values(v)) {
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
        if ctx.presence.all_intact(&ctx.store, &old).await {
            return clone_into_run(ctx, task, identity, &old, true).await;
        }
    }
    None
}

/// Records that `record` (just succeeded, run here) computed its cache key
/// with the parameters it read, if the cache may hold it.
pub(crate) async fn remember(ctx: &TaskContext, record: &TaskRecord, read_run_identity: bool) {
    let (Some(key), Some(parameters)) = (&record.cache_key, &record.parameters_read) else {
        return;
    };
    if record.status != TaskStatus::Succeeded
        || !may_cache(ctx, &record.step)
        || (read_run_identity && !forced(ctx, &record.step))
    {
        return;
    }
    // Read, add, write: two tasks adding at once may lose one variant,
    // which only means a later run computes it again. The cache is an
    // optimisation; nothing here fails the task.
    let mut entry = ctx
        .store
        .cache_entry(key)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    entry.variants.retain(|v| &v.parameters != parameters);
    entry
        .variants
        .insert(0, CacheVariant::of(record, parameters.clone()));
    entry.variants.truncate(MAX_VARIANTS);
    let _ = ctx.store.put_cache_entry(key, &entry).await;
}

/// `old`, a successful task of this or another run, copied into this run as
/// `task`. Values are shared by hash; only the small record is written.
/// `None` when the record cannot be written: the task then runs, and the
/// run's own write reports what is wrong with the store.
pub(crate) async fn clone_into_run(
    ctx: &TaskContext,
    task: &ReadyTask,
    identity: &Identity,
    old: &TaskRecord,
    cached: bool,
) -> Option<Finished> {
    let mut record = old.clone();
    record.cloned_from = Some(old.cloned_from.clone().unwrap_or(old.run_id.clone()));
    record.cached = cached;
    record.flow = ctx.flow.clone();
    record.run_id = ctx.run_id.clone();
    record.parents = task.parents.clone();
    record.input_key = Some(identity.input_key);
    ctx.store.write_task(&record).await.ok()?;
    let mut finished = Finished::succeeded(task.clone(), record);
    finished.cloned = true;
    Some(finished)
}
