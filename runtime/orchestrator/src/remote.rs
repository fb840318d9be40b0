//! Steps that run elsewhere: the scheduler hands a step's ready tasks to an
//! [`Executor`] as one stored [`Batch`], and remote workers
//! ([`run_worker`]) run them from the datastore alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use mfw_graph::{BlobHash, Step};
use mfw_host::{Host, JoinInput, OutputStream};
use mfw_store::{Batch, BatchInput, BatchTask, Datastore, TaskRecord, TaskStatus};
use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::policy::{RunDefaults, Sandbox, step_policy};
use crate::run::{
    Finished, Pending, RunObserver, Shared, caught, clone_from_origin_async, run_one,
};
use crate::{FlowPlan, OrchestratorError, StoreBlobs};

/// Runs some steps somewhere else, such as in a Kubernetes cluster.
///
/// The scheduler stores each batch of a step's ready tasks in the datastore
/// and calls [`Executor::run_batch`] with its name; whatever runs there
/// calls [`run_worker`] with that name and records the tasks, which the
/// scheduler then reads back. A sketch of an executor that runs workers as
/// local processes:
///
/// ```no_run
/// use futures::future::BoxFuture;
/// use mfw_orchestrator::{Executor, RemoteBatch};
///
/// struct Processes;
///
/// impl Executor for Processes {
///     fn runs(&self, _step: &mfw_graph::Step) -> bool {
///         true
///     }
///     fn run_batch(&self, batch: RemoteBatch) -> BoxFuture<'static, Result<(), String>> {
///         Box::pin(async move {
///             let worker = move || {
///                 std::process::Command::new("mfw")
///                     .args(["worker", "--batch", &batch.key, "--shard", "0", "--shards", "1"])
///                     .status()
///             };
///             let status = tokio::task::spawn_blocking(worker)
///                 .await
///                 .map_err(|e| e.to_string())?
///                 .map_err(|e| e.to_string())?;
///             status.success().then_some(()).ok_or_else(|| format!("worker {status}"))
///         })
///     }
///     fn shutdown(&self) -> BoxFuture<'static, ()> {
///         Box::pin(async {})
///     }
/// }
/// ```
pub trait Executor: Send + Sync {
    /// Whether `step` runs there (every step, or those that ask for it).
    fn runs(&self, step: &Step) -> bool;

    /// Runs every task of `batch`; resolves once no worker will record any
    /// more of them. Task failures are read from their records: an error
    /// here means the workers could not run at all, and says why.
    fn run_batch(&self, batch: RemoteBatch) -> BoxFuture<'static, Result<(), String>>;

    /// Removes everything it created; called once the run ends, however it
    /// ends (an interrupted run included).
    fn shutdown(&self) -> BoxFuture<'static, ()>;
}

/// A batch handed to an [`Executor`].
#[derive(Debug, Clone)]
pub struct RemoteBatch {
    /// The batch's name in the datastore: all a worker needs.
    pub key: String,
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: String,
    /// The step, with its decorators (resources, `@kubernetes`, ...).
    pub step: Step,
    /// How many tasks.
    pub tasks: usize,
    /// Attempts `@retry` allows after the first.
    pub retries: u32,
    /// Batches of this run before it (names each uniquely).
    pub number: u32,
}

/// How long the scheduler waits between looks at a batch's progress.
const POLL: Duration = Duration::from_millis(250);

/// Hands `tasks` (all of `step`) to the executor and turns their records
/// into finished tasks.
pub(crate) async fn run_remote(
    shared: Arc<Shared>,
    step: String,
    tasks: Vec<Pending>,
) -> Vec<Finished> {
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for pending in tasks {
        match clone_from_origin_async(&shared, &pending).await {
            Some(finished) => {
                if let Some(observer) = &shared.observer {
                    observer.task_finished(&pending.key(), None);
                }
                done.push(finished);
            }
            None => todo.push(pending),
        }
    }
    if todo.is_empty() {
        return done;
    }
    let batch = match submit(&shared, &step, &todo).await {
        Ok(batch) => batch,
        Err(why) => {
            done.extend(todo.into_iter().map(|p| failed(&shared, p, why.clone())));
            return done;
        }
    };
    if let Some(observer) = &shared.observer {
        for pending in &todo {
            observer.task_started(&pending.key());
        }
    }
    let Some(executor) = shared.executor.clone() else {
        let why = "no executor runs remote steps".to_string();
        done.extend(todo.into_iter().map(|p| failed(&shared, p, why.clone())));
        return done;
    };
    let mut running = executor.run_batch(batch);
    let wanted: HashSet<String> = todo.iter().map(Pending::task_id).collect();
    let mut seen: HashMap<String, TaskRecord> = HashMap::new();
    let mut ticks = 0u32;
    let outcome = loop {
        tokio::select! {
            outcome = &mut running => break Some(outcome),
            () = tokio::time::sleep(POLL) => {
                if shared.cancel.load(Ordering::Relaxed) {
                    break None;
                }
                ticks += 1;
                if ticks.is_multiple_of(4) {
                    progress(&shared, &step, &wanted, &mut seen).await;
                }
            }
        }
    };
    let Some(outcome) = outcome else {
        // Interrupted: the executor's shutdown removes the workers.
        done.extend(todo.into_iter().map(|pending| Finished {
            interrupted: true,
            ..failed(&shared, pending, "interrupted".to_string())
        }));
        return done;
    };
    let records: Vec<(Pending, Result<TaskRecord, String>)> = futures::stream::iter(todo)
        .map(|pending| {
            let shared = shared.clone();
            let known = seen.remove(&pending.task_id());
            async move {
                let record = match known {
                    Some(record) => Ok(record),
                    None => shared
                        .store
                        .read_task(
                            &shared.flow,
                            &shared.run_id,
                            &pending.step,
                            &pending.task_id(),
                        )
                        .await
                        .map_err(|e| e.to_string()),
                };
                (pending, record)
            }
        })
        .buffered(32)
        .collect()
        .await;
    for (pending, record) in records {
        done.push(conclude(&shared, pending, record, &outcome).await);
    }
    done
}

/// Stores the batch and describes it for the executor.
async fn submit(shared: &Shared, step: &str, todo: &[Pending]) -> Result<RemoteBatch, String> {
    let component = shared
        .plan
        .record_for(step)
        .ok_or_else(|| format!("no component provides step `{step}`"))?
        .hash;
    let step_def = shared
        .plan
        .graph
        .step(step)
        .cloned()
        .ok_or_else(|| format!("the flow has no step `{step}`"))?;
    let batch = Batch {
        flow: shared.flow.clone(),
        run_id: shared.run_id.clone(),
        step: step.to_string(),
        component,
        memory_mb: shared.defaults.memory_mb,
        timeout_ms: shared.defaults.timeout.map(|t| t.as_millis() as u64),
        fuel: shared.defaults.fuel,
        max_splits: shared.max_splits,
        tasks: todo.iter().map(batch_task).collect(),
    };
    let number = shared.batches.fetch_add(1, Ordering::Relaxed);
    let key = shared
        .store
        .write_batch(&batch, &format!("{number:04}"))
        .await
        .map_err(|e| format!("cannot store the batch for the workers: {e}"))?;
    Ok(RemoteBatch {
        key,
        flow: shared.flow.clone(),
        run_id: shared.run_id.clone(),
        step: step_def,
        tasks: todo.len(),
        retries: shared.policies.get(step).map_or(0, |p| p.retries),
        number,
    })
}

fn batch_task(pending: &Pending) -> BatchTask {
    BatchTask {
        path: pending.path.clone(),
        artifacts: (*pending.artifacts).clone(),
        objects: (*pending.objects).clone(),
        inputs: pending
            .inputs
            .iter()
            .map(|input| BatchInput {
                step: input.step.clone(),
                task_id: input.task_id.clone(),
                artifacts: (*input.artifacts).clone(),
                objects: (*input.objects).clone(),
            })
            .collect(),
        foreach: pending.foreach.clone(),
        foreach_items: pending.foreach_items.clone(),
        parents: pending.parents.clone(),
    }
}

/// Reports the tasks of a running batch that have succeeded so far, with
/// their output, and keeps their records.
async fn progress(
    shared: &Shared,
    step: &str,
    wanted: &HashSet<String>,
    seen: &mut HashMap<String, TaskRecord>,
) {
    let Ok(ids) = shared
        .store
        .list_task_ids(&shared.flow, &shared.run_id, step)
        .await
    else {
        return; // Progress is best effort; the end reads every record.
    };
    let new: Vec<String> = ids
        .into_iter()
        .filter(|id| wanted.contains(id) && !seen.contains_key(id))
        .collect();
    let records: Vec<TaskRecord> = futures::stream::iter(new)
        .map(|id| async move {
            shared
                .store
                .read_task(&shared.flow, &shared.run_id, step, &id)
                .await
                .ok()
        })
        .buffer_unordered(32)
        .filter_map(|r| async move { r })
        .collect()
        .await;
    for record in records {
        if record.status != TaskStatus::Succeeded {
            continue; // It may be retried: its end is read at the end.
        }
        report(shared, &record, None).await;
        seen.insert(record.task_id.clone(), record);
    }
}

/// Shows a remote task's output and its end.
async fn report(shared: &Shared, record: &TaskRecord, failure: Option<&str>) {
    let Some(observer) = &shared.observer else {
        return;
    };
    let key = crate::TaskKey {
        step: record.step.clone(),
        task_id: record.task_id.clone(),
    };
    for attempt in &record.attempts {
        for (stream, log) in [
            (OutputStream::Stdout, &attempt.stdout),
            (OutputStream::Stderr, &attempt.stderr),
        ] {
            if let Some(hash) = log
                && let Ok(bytes) = shared.store.get_blob(hash).await
            {
                for line in String::from_utf8_lossy(&bytes).lines() {
                    observer.task_output(&key, stream, line);
                }
            }
        }
    }
    observer.task_finished(&key, failure);
}

/// A task the workers ran (or did not), as the scheduler continues it.
async fn conclude(
    shared: &Arc<Shared>,
    pending: Pending,
    record: Result<TaskRecord, String>,
    outcome: &Result<(), String>,
) -> Finished {
    let record = match record {
        Ok(record) => record,
        Err(_) => {
            let why = match outcome {
                Err(why) => format!("its workers failed: {why}"),
                Ok(()) => "no worker recorded it (its pods ended without running it)".to_string(),
            };
            let finished = failed(shared, pending, why.clone());
            if let Some(observer) = &shared.observer {
                observer.task_finished(&finished.pending.key(), Some(&why));
            }
            return finished;
        }
    };
    if record.status == TaskStatus::Succeeded {
        return Finished {
            pending,
            record,
            failure: None,
            cloned: false,
            interrupted: false,
            retry_later: false,
        };
    }
    let error = record
        .attempts
        .last()
        .and_then(|a| a.error.clone())
        .unwrap_or_else(|| mfw_store::TaskError {
            kind: "host".to_string(),
            message: match outcome {
                Err(why) => format!("its workers failed: {why}"),
                Ok(()) => "it did not finish".to_string(),
            },
            ..mfw_store::TaskError::default()
        });
    let catch = shared
        .policies
        .get(&pending.step)
        .and_then(|p| p.catch.clone());
    if let Some(var) = catch {
        let fallback = pending.clone();
        let runner = shared.clone();
        let handle =
            tokio::task::spawn_blocking(move || caught(&runner, pending, record, &error, var));
        return match handle.await {
            Ok(finished) => finished,
            Err(e) => failed(shared, fallback, format!("mfw worker failed: {e}")),
        };
    }
    report(shared, &record, Some(&error.message)).await;
    Finished {
        pending,
        record,
        failure: Some(error.message),
        cloned: false,
        interrupted: false,
        retry_later: false,
    }
}

/// A task that failed before any worker recorded it (nothing is written:
/// the run's error names it).
fn failed(shared: &Shared, pending: Pending, why: String) -> Finished {
    Finished {
        record: TaskRecord::new(
            &shared.flow,
            &shared.run_id,
            &pending.step,
            &pending.task_id(),
        ),
        pending,
        failure: Some(why),
        cloned: false,
        interrupted: false,
        retry_later: false,
    }
}

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
    let graph = run.graph.clone().ok_or_else(|| {
        OrchestratorError::Plan(format!(
            "run {}/{} has no recorded graph",
            batch.flow, batch.run_id
        ))
    })?;
    let record = run
        .components
        .iter()
        .find(|c| c.hash == batch.component)
        .cloned()
        .ok_or_else(|| {
            OrchestratorError::Plan(format!(
                "run {}/{} does not use component {}",
                batch.flow, batch.run_id, batch.component
            ))
        })?;
    let bytes = store.get_component(&batch.component).await?;
    let loader = host.clone();
    let name = record.source.clone();
    let component = tokio::task::spawn_blocking(move || loader.load(&bytes, &name))
        .await
        .map_err(|e| OrchestratorError::Plan(format!("cannot load the component: {e}")))?
        .map_err(|e| OrchestratorError::Plan(e.to_string()))?;
    let plan = FlowPlan::for_worker(graph, component, record)?;
    let step =
        plan.graph.step(&batch.step).cloned().ok_or_else(|| {
            OrchestratorError::Plan(format!("the flow has no step `{}`", batch.step))
        })?;
    let mut parameters = std::collections::BTreeMap::new();
    for (name, hash) in &run.parameters {
        parameters.insert(name.clone(), store.get_blob(hash).await?);
    }
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
    let mut policy =
        step_policy(&step, &defaults, &sandbox, threads).map_err(OrchestratorError::Plan)?;
    // A pod's memory (@kubernetes(memory)) is shared by the tasks it runs
    // at once; unless @resources says otherwise, each gets its share.
    let pod_memory = step
        .decorator("kubernetes")
        .and_then(|d| d.option("memory"))
        .and_then(|m| m.parse::<f64>().ok());
    let task_memory = step.decorator("resources").and_then(|d| d.option("memory"));
    if let (Some(mb), None) = (pod_memory, task_memory) {
        let share = ((mb.max(1.0) as u64) << 20) / threads as u64;
        policy.limits.memory_bytes = policy.limits.memory_bytes.min(share.max(1 << 20));
    }
    let retry_delay = policy.retry_delay;
    // The run's tags as they stand, for `current.tags` in these tasks.
    let record = store.read_run(&batch.flow, &batch.run_id).await?;
    let user_tags = store.run_tags(&record).await?;
    let shared = Arc::new(Shared {
        plan,
        store: store.clone(),
        blobs: Arc::new(StoreBlobs::new(store.clone(), Handle::current())),
        flow: batch.flow.clone(),
        run_id: batch.run_id.clone(),
        parameters: Arc::new(parameters),
        max_splits: batch.max_splits,
        observer: options.observer.clone(),
        policies: HashMap::from([(batch.step.clone(), policy)]),
        cancel: Arc::new(AtomicBool::new(false)),
        origin: None,
        defaults,
        executor: None,
        local_retries: false,
        batches: AtomicU32::new(0),
        run_info: Arc::new(crate::run::run_info(&record, &user_tags)),
    });
    // One listing says which tasks earlier pods of this shard recorded.
    let recorded = store
        .list_task_ids(&batch.flow, &batch.run_id, &batch.step)
        .await?;
    let shards = options.shards.max(1) as usize;
    let shard = options.shard as usize;
    let lists = Arc::new(ItemCache::default());
    let stop = Arc::new(AtomicBool::new(false));
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
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let shared = shared.clone();
        let lists = lists.clone();
        let stop = stop.clone();
        let known = recorded.contains(&crate::run::task_id(&task.path));
        let step = batch.step.clone();
        running.spawn(async move {
            let outcome = run_batch_task(&shared, &lists, step, task, known, retry_delay).await?;
            if outcome == Outcome::Failed {
                // As locally: after a failure nothing new starts.
                stop.store(true, Ordering::Relaxed);
            }
            Ok(outcome)
        });
    }
    while let Some(joined) = running.join_next().await {
        tally(&mut report, joined)?;
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Skipped,
    Failed,
    RetryLater,
}

fn tally(
    report: &mut WorkerReport,
    joined: Result<Result<Outcome, OrchestratorError>, tokio::task::JoinError>,
) -> Result<(), OrchestratorError> {
    let outcome =
        joined.map_err(|e| OrchestratorError::Plan(format!("a worker thread failed: {e}")))??;
    match outcome {
        Outcome::Succeeded => report.succeeded += 1,
        Outcome::Skipped => report.skipped += 1,
        Outcome::Failed => report.failed += 1,
        Outcome::RetryLater => report.retry_later += 1,
    }
    Ok(())
}

/// Runs one task of a batch unless an earlier pod finished it.
async fn run_batch_task(
    shared: &Arc<Shared>,
    lists: &ItemCache,
    step: String,
    task: BatchTask,
    recorded: bool,
    retry_delay: Duration,
) -> Result<Outcome, OrchestratorError> {
    let task_id = crate::run::task_id(&task.path);
    let mut earlier = Vec::new();
    if recorded {
        let old = shared
            .store
            .read_task(&shared.flow, &shared.run_id, &step, &task_id)
            .await?;
        match old.status {
            TaskStatus::Succeeded => return Ok(Outcome::Skipped),
            _ => earlier = old.attempts,
        }
        // `@retry(minutes_between_retries=...)` counts from the failure.
        if let Some(last) = earlier.last() {
            let ready = last.finished_at + retry_delay.as_millis() as u64;
            let now = mfw_store::now_millis();
            if ready > now {
                tokio::time::sleep(Duration::from_millis(ready - now)).await;
            }
        }
    }
    let mut foreach_inputs = Vec::with_capacity(task.foreach_items.len());
    for (hash, index) in &task.foreach_items {
        foreach_inputs.push(lists.item(&shared.blobs, hash, *index).await?);
    }
    let pending = Pending {
        step,
        path: task.path,
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
    let runner = shared.clone();
    let finished = tokio::task::spawn_blocking(move || run_one(&runner, pending))
        .await
        .map_err(|e| OrchestratorError::Plan(format!("a task thread failed: {e}")))?;
    Ok(match (&finished.failure, finished.retry_later) {
        (None, _) => Outcome::Succeeded,
        (Some(_), true) => Outcome::RetryLater,
        (Some(_), false) => Outcome::Failed,
    })
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
            let items = mfw_encoding::array_items(&list).map_err(|e| {
                OrchestratorError::Plan(format!("foreach list {hash} is not a list: {e}"))
            })?;
            let items: Vec<Bytes> = items.into_iter().map(|i| list.slice_ref(i)).collect();
            lists.insert(*hash, Arc::new(items));
        }
        lists
            .get(hash)
            .and_then(|items| items.get(index as usize).cloned())
            .ok_or_else(|| {
                OrchestratorError::Plan(format!("foreach list {hash} has no item {index}"))
            })
    }
}
