//! A remote worker: runs its shard of a stored batch from the datastore
//! alone, recording each task as the scheduler would. Retries are left to
//! the next pod of the shard, so Kubernetes counts them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mfw_graph::BlobHash;
use mfw_host::{Host, JoinInput};
use mfw_store::{BatchTask, Datastore, TaskStatus};
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

use crate::policy::{RunDefaults, Sandbox, step_policy};
use crate::run::run_info;
use crate::task::{self, ReadyTask, Retries, TaskContext};
use crate::{FlowPlan, OrchestratorError, RunObserver, StoreBlobs};

/// Which part of a batch a worker runs, and how.
#[derive(Clone, Default)]
pub struct WorkerOptions {
    /// This worker's shard: it runs the tasks at positions `shard`,
    /// `shard + shards`, ...
    pub shard: u32,
    /// How many workers share the batch.
    pub shards: u32,
    /// Tasks run at once in this process.
    pub threads: usize,
    /// Who to tell about progress (task output goes to the pod's log).
    pub observer: Option<Arc<dyn RunObserver>>,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Tasks it ran to success.
    pub succeeded: usize,
    /// Tasks an earlier worker of its shard had already run.
    pub skipped: usize,
    /// Tasks that failed for good (no retries left).
    pub failed: usize,
    /// Tasks that failed with retries left: the next pod of this shard
    /// runs them again, so the worker exits with an error.
    pub retry_later: usize,
}

/// What a worker's tasks share: the task context, and what only a worker
/// needs (the step, what earlier pods recorded, the foreach lists).
struct Worker {
    ctx: TaskContext,
    step: String,
    /// Task ids earlier pods of this shard recorded.
    recorded: HashSet<String>,
    /// `@retry(minutes_between_retries=...)`, counted from the failure.
    retry_delay: Duration,
    lists: ItemCache,
    /// Set after a failure: as locally, nothing new starts then.
    stop: AtomicBool,
}

/// Runs this worker's shard of the batch stored as `batch_key`: fetches the
/// component by hash (verified), compiles it or loads it from the compiled
/// cache, runs each task not yet done, and records it. A task that failed
/// in an earlier pod runs again as its next attempt.
///
/// ```no_run
/// # async fn f(store: mfw_store::Datastore, host: mfw_host::Host) -> Result<(), mfw_orchestrator::OrchestratorError> {
/// let options = mfw_orchestrator::WorkerOptions { shard: 0, shards: 4, threads: 2, observer: None };
/// let key = "flows/HelloFlow/runs/1/batches/hello/0000.json";
/// let report = mfw_orchestrator::run_worker(&store, &host, key, options).await?;
/// println!("{} tasks succeeded", report.succeeded);
/// # Ok(()) }
/// ```
pub async fn run_worker(
    store: &Datastore,
    host: &Host,
    batch_key: &str,
    options: WorkerOptions,
) -> Result<WorkerReport, OrchestratorError> {
    let batch = store.read_batch(batch_key).await?;
    let run = store.read_run(&batch.flow, &batch.run_id).await?;
    let graph = run
        .graph
        .clone()
        .ok_or_else(|| OrchestratorError::NoGraph {
            flow: batch.flow.clone(),
            run_id: batch.run_id.clone(),
        })?;
    let record = run
        .components
        .iter()
        .find(|c| c.hash == batch.component)
        .cloned()
        .ok_or_else(|| OrchestratorError::UnknownComponent {
            flow: batch.flow.clone(),
            run_id: batch.run_id.clone(),
            component: batch.component,
        })?;
    let component = FlowPlan::load_recorded(store, host, &record).await?;
    let plan = FlowPlan::for_worker(graph, component, record)?;
    let step = plan
        .graph
        .step(&batch.step)
        .cloned()
        .ok_or_else(|| OrchestratorError::NoSuchStep(batch.step.clone()))?;
    let parameters = crate::run::recorded_parameters(store, &run).await?;
    let defaults = RunDefaults {
        timeout: batch.timeout_ms.map(Duration::from_millis),
        memory_mb: batch.memory_mb,
        fuel: batch.fuel,
        ..RunDefaults::default()
    };
    let sandbox = Sandbox {
        flow_dir: std::env::current_dir().ok(),
        allowed_dirs: Vec::new(),
    };
    let threads = options.threads.max(1);
    let mut policy = step_policy(&step, &defaults, &sandbox, threads)?;
    policy.limits.memory_bytes = within_pod(&step, policy.limits.memory_bytes, threads)?;
    let retry_delay = policy.retry_delay;
    // The run's tags as they stand, for `current.tags` in these tasks.
    let record = store.read_run(&batch.flow, &batch.run_id).await?;
    let user_tags = store.run_tags(&record).await?;
    // One listing says which tasks earlier pods of this shard recorded.
    let recorded = store
        .list_task_ids(&batch.flow, &batch.run_id, &batch.step)
        .await?;
    let info = Arc::new(run_info(&record, &user_tags));
    let blobs = Arc::new(StoreBlobs::new(
        store.clone(),
        tokio::runtime::Handle::current(),
    ));
    let worker = Arc::new(Worker {
        ctx: TaskContext {
            graph: plan.graph.clone(),
            code: Arc::new(plan),
            store: store.clone(),
            blobs: blobs.clone(),
            runs: crate::runs::StoreRuns::for_run(&info, &record, store, &blobs),
            flow: batch.flow.clone(),
            run_id: batch.run_id.clone(),
            parameters_key: crate::key::parameters_key(&parameters),
            parameter_hashes: crate::key::parameter_hashes(&parameters),
            parameters: Arc::new(parameters),
            max_splits: batch.max_splits,
            // A worker runs tasks; the run's scheduler counts the rounds.
            max_rounds: u32::MAX,
            observer: options.observer.clone(),
            policies: HashMap::from([(batch.step.clone(), policy)]),
            cancel: Arc::new(AtomicBool::new(false)),
            origin: None,
            run_info: info.clone(),
            cache: batch.cache,
            presence: Default::default(),
            cache_book: Default::default(),
            steps: Default::default(),
            // What a pod's tasks print reaches the store while they run,
            // as a local run's does, so `mfw ui` shows it.
            live: Some(Default::default()),
        },
        step: batch.step.clone(),
        recorded: recorded.into_iter().collect(),
        retry_delay,
        lists: ItemCache::default(),
        stop: AtomicBool::new(false),
    });
    // Stopped when this returns, however it does; the run removes what is
    // left of the live logs when it ends.
    let _live_storing = worker.ctx.live.clone().map(|live| {
        AbortOnDropHandle::new(tokio::spawn(live.keep_storing(
            store.clone(),
            batch.flow.clone(),
            batch.run_id.clone(),
        )))
    });
    let shards = options.shards.max(1) as usize;
    let shard = options.shard as usize;
    let mut report = WorkerReport::default();
    let mut running: JoinSet<Result<Outcome, OrchestratorError>> = JoinSet::new();
    let mine = batch
        .tasks
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % shards == shard)
        .map(|(_, task)| task);
    for task in mine {
        while running.len() >= threads {
            if let Some(joined) = running.join_next().await {
                tally(&mut report, joined)?;
            }
        }
        if worker.stop.load(Ordering::Relaxed) {
            break;
        }
        let worker = worker.clone();
        running.spawn(async move {
            let outcome = worker.run(task).await?;
            if outcome == Outcome::Failed {
                worker.stop.store(true, Ordering::Relaxed);
            }
            Ok(outcome)
        });
    }
    while let Some(joined) = running.join_next().await {
        tally(&mut report, joined)?;
    }
    crate::cache::flush(&worker.ctx).await;
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Skipped,
    Failed,
    RetryLater,
}

/// What the host itself keeps of a pod's memory (its code, the compiled
/// component, buffers), at most a quarter of the pod.
const HOST_RESERVE_BYTES: u64 = 256 << 20;

/// A task's memory limit in a pod that runs `threads` tasks at once: the
/// step's own (`limit`, from `@resources(memory)` or the run's default), and
/// at most its share of the pod's memory less the host's reserve. The pod's
/// memory is `@kubernetes(memory)`, else `@resources(memory)`, in MB (10^6
/// bytes, as Metaflow writes it `<memory>M`), so a guest meets its own
/// limit, and a clear error, before the kernel kills the pod.
fn within_pod(
    step: &mfw_graph::Step,
    limit: u64,
    threads: usize,
) -> Result<u64, crate::PolicyError> {
    let megabytes = |decorator: &str| match step.decorator(decorator) {
        Some(d) => crate::policy::number(&step.name, d, "memory"),
        None => Ok(None),
    };
    let Some(mb) = megabytes("kubernetes")?.or(megabytes("resources")?) else {
        return Ok(limit);
    };
    let pod = (mb.max(1.0) * 1e6) as u64;
    let reserve = HOST_RESERVE_BYTES.min(pod / 4);
    let share = (pod - reserve) / threads.max(1) as u64;
    Ok(limit.min(share.max(1 << 20)))
}

fn tally(
    report: &mut WorkerReport,
    joined: Result<Result<Outcome, OrchestratorError>, tokio::task::JoinError>,
) -> Result<(), OrchestratorError> {
    let outcome = joined.map_err(|source| OrchestratorError::Thread {
        what: "a worker thread failed",
        source,
    })??;
    match outcome {
        Outcome::Succeeded => report.succeeded += 1,
        Outcome::Skipped => report.skipped += 1,
        Outcome::Failed => report.failed += 1,
        Outcome::RetryLater => report.retry_later += 1,
    }
    Ok(())
}

impl Worker {
    /// Runs one task of the batch unless an earlier pod finished it.
    async fn run(self: &Arc<Self>, task: BatchTask) -> Result<Outcome, OrchestratorError> {
        let ctx = &self.ctx;
        let task_id = task::task_id(&task.path, task.iteration);
        let mut earlier = Vec::new();
        if self.recorded.contains(&task_id) {
            let old = ctx
                .store
                .read_task(&ctx.flow, &ctx.run_id, &self.step, &task_id)
                .await?;
            match old.status {
                TaskStatus::Succeeded => return Ok(Outcome::Skipped),
                _ => earlier = old.attempts,
            }
            if let Some(last) = earlier.last() {
                let ready = last.finished_at + self.retry_delay.as_millis() as u64;
                let now = mfw_store::now_millis();
                if ready > now {
                    tokio::time::sleep(Duration::from_millis(ready - now)).await;
                }
            }
        }
        let mut foreach_inputs = Vec::with_capacity(task.foreach_items.len());
        for (hash, index) in &task.foreach_items {
            foreach_inputs.push(self.lists.item(&ctx.blobs, hash, *index).await?);
        }
        let ready = ReadyTask {
            step: self.step.clone(),
            path: task.path,
            iteration: task.iteration,
            artifacts: Arc::new(task.artifacts),
            objects: Arc::new(task.objects),
            inputs: task
                .inputs
                .into_iter()
                .map(|input| JoinInput {
                    step: input.step,
                    task_id: input.task_id,
                    artifacts: Arc::new(input.artifacts),
                    objects: Arc::new(input.objects),
                })
                .collect(),
            foreach: task.foreach,
            foreach_inputs,
            foreach_items: task.foreach_items,
            parents: task.parents,
            earlier,
        };
        // A task another run computed since the scheduler looked.
        let ready = match task::reuse(&self.ctx, ready).await {
            Ok(_) => return Ok(Outcome::Succeeded),
            Err(ready) => ready,
        };
        let worker = self.clone();
        let finished =
            tokio::task::spawn_blocking(move || task::run(&worker.ctx, ready, Retries::NextWorker))
                .await
                .map_err(|source| OrchestratorError::Thread {
                    what: "a task thread failed",
                    source,
                })?;
        Ok(match (&finished.failure, finished.retry_later) {
            (None, _) => Outcome::Succeeded,
            (Some(_), true) => Outcome::RetryLater,
            (Some(_), false) => Outcome::Failed,
        })
    }
}

/// The items of foreach lists, split once per list however many tasks of
/// the pod read them.
#[derive(Default)]
struct ItemCache {
    lists: Mutex<HashMap<BlobHash, Arc<Vec<Bytes>>>>,
}

impl ItemCache {
    async fn item(
        &self,
        blobs: &StoreBlobs,
        hash: &BlobHash,
        index: u32,
    ) -> Result<Bytes, OrchestratorError> {
        let mut lists = self.lists.lock().await;
        if !lists.contains_key(hash) {
            let list = blobs.load_async(hash).await?;
            let items = mfw_encoding::array_items(&list).map_err(|source| {
                OrchestratorError::ForeachList {
                    hash: *hash,
                    source,
                }
            })?;
            let items: Vec<Bytes> = items.into_iter().map(|i| list.slice_ref(i)).collect();
            lists.insert(*hash, Arc::new(items));
        }
        lists
            .get(hash)
            .and_then(|items| items.get(index as usize).cloned())
            .ok_or(OrchestratorError::ForeachItem { hash: *hash, index })
    }
}

#[cfg(test)]
mod tests {
    use mfw_graph::{Decorator, Step};

    use super::*;

    fn step_with(decorators: &[(&str, &str)]) -> Step {
        let mut step = Step::linear("train", ["end"]);
        for &(name, memory) in decorators {
            step.decorators
                .push(Decorator::new(name).with_option("memory", memory));
        }
        step
    }

    #[test]
    fn a_task_fits_in_its_pod_with_the_host() {
        const GIB: u64 = 1 << 30;
        // 2000 MB is less than 2000 MiB: the pod, not the guest, would
        // have run out first.
        let step = step_with(&[("resources", "2000")]);
        let limit = within_pod(&step, 2000 << 20, 1).expect("a limit");
        assert_eq!(limit, 2_000_000_000 - HOST_RESERVE_BYTES);
        // Two tasks at once share the pod.
        let step = step_with(&[("kubernetes", "8000")]);
        assert_eq!(
            within_pod(&step, 64 * GIB, 2).expect("a limit"),
            (8_000_000_000 - HOST_RESERVE_BYTES) / 2
        );
        // A smaller limit of the step's own stands.
        assert_eq!(within_pod(&step, GIB, 2).expect("a limit"), GIB);
        // A tiny pod keeps three quarters for its task.
        let step = step_with(&[("kubernetes", "100")]);
        assert_eq!(within_pod(&step, GIB, 1).expect("a limit"), 75_000_000);
        // Without a pod size, the step's limit.
        assert_eq!(within_pod(&step_with(&[]), GIB, 4).expect("a limit"), GIB);
    }
}
