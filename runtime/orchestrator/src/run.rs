//! The local scheduler: tasks become ready as their parents finish, run on
//! up to `max_workers` blocking threads, and are recorded as they end.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use bytes::Bytes;
use mfw_graph::{BlobHash, ForeachFrame, StepKind, Transition};
use mfw_host::{JoinInput, NameMap, OutputSink, OutputStream, TaskFailure, TaskSpec};
use mfw_store::{
    Attempt, Datastore, RunRecord, RunStatus, TaskError, TaskRecord, TaskStatus, now_millis,
};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::policy::{RunDefaults, Sandbox, StepPolicy, step_policy};
use crate::remote::Executor;
use crate::{FlowPlan, OrchestratorError, StoreBlobs};

/// A task of a run: its step and task id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskKey {
    /// The step.
    pub step: String,
    /// `0`, or the foreach indices joined by `.`.
    pub task_id: String,
}

impl std::fmt::Display for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.step, self.task_id)
    }
}

/// Follows a run as it goes: the CLI prints output lines and progress from
/// these calls. They come from several threads at once.
pub trait RunObserver: Send + Sync {
    /// The run was recorded and is about to start its first task.
    fn run_started(&self, _flow: &str, _run_id: &str) {}
    /// A task became known (it will run once its turn comes).
    fn task_queued(&self, _task: &TaskKey) {}
    /// A task started.
    fn task_started(&self, _task: &TaskKey) {}
    /// A task wrote a line.
    fn task_output(&self, _task: &TaskKey, _stream: OutputStream, _line: &str) {}
    /// A task ended: `failure` says why it failed, if it did.
    fn task_finished(&self, _task: &TaskKey, _failure: Option<&str>) {}
}

/// How to run a flow.
#[derive(Clone)]
pub struct RunOptions {
    /// How many tasks run at once.
    pub max_workers: usize,
    /// The most tasks one foreach may create.
    pub max_num_splits: u32,
    /// Parameter values, encoded (see [`crate::resolve_parameters`]).
    pub parameters: BTreeMap<String, Bytes>,
    /// Who to tell about progress.
    pub observer: Option<Arc<dyn RunObserver>>,
    /// Becomes `true` when the user interrupts the run.
    pub interrupt: Option<watch::Receiver<bool>>,
    /// Limits for tasks whose decorators set none.
    pub defaults: RunDefaults,
    /// Where directory grants may point.
    pub sandbox: Sandbox,
    /// Resume an earlier run: reuse its successful tasks.
    pub resume: Option<Resume>,
    /// Runs the steps it claims elsewhere (a Kubernetes cluster); every
    /// other step runs here.
    pub executor: Option<Arc<dyn Executor>>,
    /// The user's tags for the run (`--tag`).
    pub tags: Vec<String>,
    /// Who starts it: the run gets the system tag `user:NAME`.
    pub user: String,
}

/// The tags mfw gives every run, as Metaflow does: who started it (its
/// namespace), the runtime, its version and the day (UTC).
fn system_tags(user: &str) -> Vec<String> {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    vec![
        format!("user:{user}"),
        "runtime:mfw".to_string(),
        format!("mfw_version:{}", env!("CARGO_PKG_VERSION")),
        format!("date:{today}"),
    ]
}

/// `mfw resume`: which run to resume, and from which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The run whose tasks are reused.
    pub origin_run_id: String,
    /// Re-run this step and everything after it; by default, the first
    /// step that failed (or, for a run that was killed, nothing that
    /// finished).
    pub from_step: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            max_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_num_splits: 100_000,
            parameters: BTreeMap::new(),
            observer: None,
            interrupt: None,
            defaults: RunDefaults::default(),
            sandbox: Sandbox::default(),
            resume: None,
            executor: None,
            tags: Vec::new(),
            user: "unknown".to_string(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: String,
    /// Succeeded, failed or interrupted.
    pub status: RunStatus,
    /// Tasks that succeeded (cloned ones included).
    pub tasks_succeeded: u64,
    /// Tasks reused from the origin run without running.
    pub tasks_cloned: u64,
    /// Tasks that failed, with why.
    pub failures: Vec<(TaskKey, String)>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// A task waiting for a worker.
#[derive(Clone)]
pub(crate) struct Pending {
    pub(crate) step: String,
    pub(crate) path: Vec<u32>,
    /// Shared with its siblings: a foreach's tasks hold one map.
    pub(crate) artifacts: NameMap,
    pub(crate) objects: NameMap,
    pub(crate) inputs: Vec<JoinInput>,
    pub(crate) foreach: Vec<ForeachFrame>,
    pub(crate) foreach_inputs: Vec<Bytes>,
    /// Where each of `foreach_inputs` comes from: the list's blob and the
    /// index in it (what a remote worker is sent instead of the bytes).
    pub(crate) foreach_items: Vec<(BlobHash, u32)>,
    pub(crate) parents: Vec<String>,
    /// Attempts recorded before this one (a remote worker retrying a task
    /// an earlier pod failed).
    pub(crate) earlier: Vec<Attempt>,
}

impl Pending {
    pub(crate) fn task_id(&self) -> String {
        task_id(&self.path)
    }

    pub(crate) fn key(&self) -> TaskKey {
        TaskKey {
            step: self.step.clone(),
            task_id: self.task_id(),
        }
    }
}

pub(crate) fn task_id(path: &[u32]) -> String {
    if path.is_empty() {
        "0".to_string()
    } else {
        path.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// A join waiting for its inputs.
struct JoinWait {
    inputs: Vec<Option<(JoinInput, String)>>,
    /// How many of `inputs` are filled, so a wide join costs O(1) per input.
    arrived: usize,
    foreach: Vec<ForeachFrame>,
    foreach_inputs: Vec<Bytes>,
    foreach_items: Vec<(BlobHash, u32)>,
}

/// What a worker hands back.
pub(crate) struct Finished {
    pub(crate) pending: Pending,
    pub(crate) record: TaskRecord,
    pub(crate) failure: Option<String>,
    pub(crate) cloned: bool,
    pub(crate) interrupted: bool,
    /// The attempt failed and `@retry` allows another, which a remote
    /// worker leaves to its next pod.
    pub(crate) retry_later: bool,
}

/// Everything workers share.
pub(crate) struct Shared {
    pub(crate) plan: FlowPlan,
    pub(crate) store: Datastore,
    pub(crate) blobs: Arc<StoreBlobs>,
    pub(crate) flow: String,
    pub(crate) run_id: String,
    pub(crate) parameters: Arc<BTreeMap<String, Bytes>>,
    pub(crate) max_splits: u32,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
    pub(crate) policies: HashMap<String, StepPolicy>,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) origin: Option<Origin>,
    /// Limits steps get unless they set their own (sent to remote workers).
    pub(crate) defaults: RunDefaults,
    pub(crate) executor: Option<Arc<dyn Executor>>,
    /// Retries run in this process; a remote worker leaves them to the
    /// next pod instead, so Kubernetes counts them.
    pub(crate) local_retries: bool,
    /// Batches handed to the executor so far (names them).
    pub(crate) batches: AtomicU32,
    /// Who started the run, its tags and origin, for `current`.
    pub(crate) run_info: Arc<mfw_host::RunInfo>,
}

/// What tasks learn of their run (`current.username`, `current.tags`...).
pub(crate) fn run_info(record: &RunRecord, user_tags: &[String]) -> mfw_host::RunInfo {
    let user = record
        .system_tags
        .iter()
        .find_map(|t| t.strip_prefix("user:"))
        .unwrap_or_default()
        .to_string();
    let mut tags: Vec<String> = user_tags
        .iter()
        .chain(&record.system_tags)
        .cloned()
        .collect();
    tags.sort();
    tags.dedup();
    mfw_host::RunInfo {
        user,
        tags,
        origin_run_id: record.origin_run_id.clone(),
    }
}

/// What a resumed run reuses.
pub(crate) struct Origin {
    run_id: String,
    /// Steps that run again; every other step's successful tasks are cloned.
    rerun: HashSet<String>,
}

/// Runs the flow in `plan` to the end, recording the run and every task in
/// `store`. Returns a summary; a failed task makes a failed run, not an
/// error.
pub async fn run_flow(
    store: &Datastore,
    plan: &FlowPlan,
    options: RunOptions,
) -> Result<RunSummary, OrchestratorError> {
    // Every step's limits and grants are checked before anything runs.
    let mut policies = HashMap::new();
    for step in &plan.graph.steps {
        let policy = step_policy(
            step,
            &options.defaults,
            &options.sandbox,
            options.max_workers,
        )
        .map_err(OrchestratorError::Plan)?;
        policies.insert(step.name.clone(), policy);
    }
    let origin = match &options.resume {
        Some(resume) => Some(origin(store, plan, resume).await?),
        None => None,
    };
    let mut record = RunRecord::new(&plan.graph.name);
    record.graph = Some((*plan.graph).clone());
    record.origin_run_id = origin.as_ref().map(|o| o.run_id.clone());
    record.tags = options.tags.clone();
    record.tags.sort();
    record.tags.dedup();
    record.system_tags = system_tags(&options.user);
    for (name, value) in &options.parameters {
        let hash = store.put_blob(value.clone()).await?;
        record.parameters.insert(name.clone(), hash);
    }
    for (flow, component) in &plan.components {
        store
            .put_component(Bytes::copy_from_slice(flow.bytes()))
            .await?;
        record.components.push(component.clone());
    }
    store.create_run(&mut record).await?;
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        store: store.clone(),
        blobs: Arc::new(StoreBlobs::new(store.clone(), Handle::current())),
        flow: record.flow.clone(),
        run_id: record.run_id.clone(),
        parameters: Arc::new(options.parameters.clone()),
        max_splits: options.max_num_splits,
        observer: options.observer.clone(),
        policies,
        cancel: Arc::new(AtomicBool::new(false)),
        origin,
        defaults: options.defaults.clone(),
        executor: options.executor.clone(),
        local_retries: true,
        batches: AtomicU32::new(0),
        run_info: Arc::new(run_info(&record, &record.tags)),
    });
    if let Some(observer) = &shared.observer {
        observer.run_started(&record.flow, &record.run_id);
    }
    let outcome = schedule(&shared, &options).await;
    if let Some(executor) = &options.executor {
        // Whatever it created in the cluster goes, however the run ended.
        executor.shutdown().await;
    }
    record.finished_at = Some(now_millis());
    record.tasks_succeeded = outcome.succeeded;
    record.tasks_failed = outcome.failures.len() as u64;
    record.status = if outcome.interrupted {
        RunStatus::Interrupted
    } else if outcome.failures.is_empty() {
        RunStatus::Succeeded
    } else {
        RunStatus::Failed
    };
    if let Some((task, why)) = outcome.failures.first() {
        record.error = Some(format!("task {task} failed: {why}"));
    } else if outcome.interrupted {
        record.error = Some("interrupted by the user".to_string());
    }
    store.update_run(&record).await?;
    Ok(RunSummary {
        flow: record.flow.clone(),
        run_id: record.run_id.clone(),
        status: record.status,
        tasks_succeeded: outcome.succeeded,
        tasks_cloned: outcome.cloned,
        failures: outcome.failures,
        duration_ms: record.duration_millis(),
    })
}

/// Works out what a resumed run re-runs: `from_step` and every step after
/// it; by default the first step (in graph order) with a failed task.
async fn origin(
    store: &Datastore,
    plan: &FlowPlan,
    resume: &Resume,
) -> Result<Origin, OrchestratorError> {
    let flow = &plan.graph.name;
    let run = store.read_run(flow, &resume.origin_run_id).await?;
    // A run killed mid-write leaves staging files, never half records:
    // clear them so nothing half-written stays behind.
    let _ = store.remove_staging(flow, &resume.origin_run_id);
    let restart = match &resume.from_step {
        Some(step) => {
            if plan.graph.step(step).is_none() {
                return Err(OrchestratorError::Plan(format!(
                    "flow `{flow}` has no step `{step}` to resume from"
                )));
            }
            Some(step.clone())
        }
        None => {
            let tasks = store.list_tasks(flow, &resume.origin_run_id).await?;
            let failed = plan.topology.order().iter().find(|step| {
                tasks
                    .get(*step)
                    .is_some_and(|list| list.iter().any(|t| t.status == TaskStatus::Failed))
            });
            if failed.is_none() && run.status == RunStatus::Succeeded {
                return Err(OrchestratorError::Plan(format!(
                    "run {flow}/{} succeeded: there is nothing to resume (give --from-step to \
                     re-run from a step)",
                    resume.origin_run_id
                )));
            }
            failed.cloned()
        }
    };
    let mut rerun = HashSet::new();
    if let Some(start) = restart {
        let mut queue = vec![start];
        while let Some(step) = queue.pop() {
            if rerun.insert(step.clone())
                && let Some(s) = plan.graph.step(&step)
            {
                queue.extend(s.next.iter().cloned());
            }
        }
    }
    Ok(Origin {
        run_id: resume.origin_run_id.clone(),
        rerun,
    })
}

struct ScheduleOutcome {
    succeeded: u64,
    cloned: u64,
    failures: Vec<(TaskKey, String)>,
    interrupted: bool,
}

async fn schedule(shared: &Arc<Shared>, options: &RunOptions) -> ScheduleOutcome {
    let mut queue = VecDeque::from([Pending {
        step: "start".to_string(),
        path: Vec::new(),
        artifacts: NameMap::default(),
        objects: NameMap::default(),
        inputs: Vec::new(),
        foreach: Vec::new(),
        foreach_inputs: Vec::new(),
        foreach_items: Vec::new(),
        parents: Vec::new(),
        earlier: Vec::new(),
    }]);
    if let Some(observer) = &shared.observer {
        observer.task_queued(&queue[0].key());
    }
    let mut joins: HashMap<(String, Vec<u32>), JoinWait> = HashMap::new();
    let mut running: JoinSet<Vec<Finished>> = JoinSet::new();
    let mut interrupt = options.interrupt.clone();
    let mut outcome = ScheduleOutcome {
        succeeded: 0,
        cloned: 0,
        failures: Vec::new(),
        interrupted: false,
    };
    let workers = options.max_workers.max(1);
    // Worker slots in use: a task takes as many as its @resources(cpu).
    let mut busy = 0usize;
    let slots = |step: &str| {
        shared
            .policies
            .get(step)
            .map_or(1, |p| p.cpu)
            .clamp(1, workers)
    };
    // Memory: the sum of the limits of the tasks running here stays within
    // the run's budget, so defaults never add up past the machine.
    let mut memory_busy = 0u64;
    let budget = shared.defaults.in_flight_mb;
    let memory = |step: &str| {
        shared
            .policies
            .get(step)
            .map_or(shared.defaults.memory_mb, |p| p.limits.memory_bytes >> 20)
    };
    let mut held: HashMap<tokio::task::Id, (usize, u64)> = HashMap::new();
    let remote = |step: &str| {
        shared.executor.as_ref().is_some_and(|executor| {
            shared
                .plan
                .graph
                .step(step)
                .is_some_and(|s| executor.runs(s))
        })
    };
    // Whether `queue` may hold tasks for the executor.
    let mut remote_queued = remote("start");
    loop {
        // Tasks of remote steps leave in batches, one per step, without
        // taking local slots: a foreach's tasks all go together.
        if remote_queued && outcome.failures.is_empty() && !outcome.interrupted {
            let mut batches: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
            let mut local = VecDeque::with_capacity(queue.len());
            for pending in queue.drain(..) {
                if remote(&pending.step) {
                    batches
                        .entry(pending.step.clone())
                        .or_default()
                        .push(pending);
                } else {
                    local.push_back(pending);
                }
            }
            queue = local;
            for (step, tasks) in batches {
                let shared = shared.clone();
                running.spawn(async move { crate::remote::run_remote(shared, step, tasks).await });
            }
            remote_queued = false;
        }
        // After a failure or an interrupt nothing new starts; what runs ends.
        while outcome.failures.is_empty() && !outcome.interrupted {
            let Some(front) = queue.front() else { break };
            let need = slots(&front.step);
            let need_memory = memory(&front.step);
            if busy + need > workers || (busy > 0 && memory_busy + need_memory > budget) {
                break;
            }
            let Some(pending) = queue.pop_front() else {
                break;
            };
            let shared = shared.clone();
            let handle = running.spawn_blocking(move || vec![run_one(&shared, pending)]);
            held.insert(handle.id(), (need, need_memory));
            busy += need;
            memory_busy += need_memory;
        }
        if running.is_empty() {
            break;
        }
        let finished = tokio::select! {
            joined = running.join_next_with_id() => joined,
            changed = wait_interrupt(&mut interrupt) => {
                if changed {
                    outcome.interrupted = true;
                    // Running guests stop at their next epoch tick.
                    shared.cancel.store(true, Ordering::Relaxed);
                }
                continue;
            }
        };
        let batch = match finished {
            Some(Ok((id, finished))) => {
                let (slots, mb) = held.remove(&id).unwrap_or_default();
                busy = busy.saturating_sub(slots);
                memory_busy = memory_busy.saturating_sub(mb);
                finished
            }
            Some(Err(e)) => {
                let (slots, mb) = held.remove(&e.id()).unwrap_or_default();
                busy = busy.saturating_sub(slots);
                memory_busy = memory_busy.saturating_sub(mb);
                // A worker thread panicked: a host bug, reported as one.
                outcome.failures.push((
                    TaskKey {
                        step: "?".to_string(),
                        task_id: "?".to_string(),
                    },
                    format!("mfw worker failed: {e}"),
                ));
                continue;
            }
            None => break,
        };
        for finished in batch {
            let key = finished.pending.key();
            if finished.interrupted {
                outcome.interrupted = true;
                continue;
            }
            if let Some(why) = finished.failure {
                outcome.failures.push((key, why));
                continue;
            }
            outcome.succeeded += 1;
            outcome.cloned += u64::from(finished.cloned);
            match successors(shared, &finished.pending, &finished.record, &mut joins).await {
                Ok(next) => {
                    for pending in next {
                        if let Some(observer) = &shared.observer {
                            observer.task_queued(&pending.key());
                        }
                        remote_queued |= remote(&pending.step);
                        queue.push_back(pending);
                    }
                }
                Err(why) => outcome.failures.push((key, why)),
            }
        }
    }
    outcome
}

/// Resolves when the interrupt flag turns true; never if there is none.
async fn wait_interrupt(interrupt: &mut Option<watch::Receiver<bool>>) -> bool {
    match interrupt {
        Some(rx) => {
            if *rx.borrow() {
                // Already interrupted: stop polling this branch.
                *interrupt = None;
                return true;
            }
            match rx.changed().await {
                Ok(()) => *rx.borrow(),
                Err(_) => {
                    *interrupt = None;
                    false
                }
            }
        }
        None => std::future::pending().await,
    }
}

/// Runs one task (every attempt its `@retry` allows) and records it, or
/// clones it from the origin run when resuming. Called on a blocking thread.
pub(crate) fn run_one(shared: &Shared, pending: Pending) -> Finished {
    let key = pending.key();
    if let Some(finished) = clone_from_origin(shared, &pending) {
        if let Some(observer) = &shared.observer {
            observer.task_finished(&key, None);
        }
        return finished;
    }
    if let Some(observer) = &shared.observer {
        observer.task_started(&key);
    }
    let mut record = TaskRecord::new(&shared.flow, &shared.run_id, &pending.step, &key.task_id);
    record.parents = pending.parents.clone();
    record.foreach = pending.foreach.clone();
    record.attempts = pending.earlier.clone();
    record.image = std::env::var("MFW_WORKER_IMAGE")
        .ok()
        .filter(|i| !i.is_empty());
    let Some(component) = shared.plan.component_for(&pending.step) else {
        let why = format!("no component provides step `{}`", pending.step);
        return finish_failed(shared, pending, record, now_millis(), why);
    };
    record.component = Some(component.hash());
    let policy = shared.policies.get(&pending.step).cloned();
    if let Some(policy) = &policy {
        record.grants = describe_grants(&policy.grants);
    }
    let retries = policy.as_ref().map_or(0, |p| p.retries);
    let handle = Handle::current();
    let mut attempt = pending.earlier.len() as u32;
    loop {
        let started_at = now_millis();
        let spec = TaskSpec {
            flow: shared.flow.clone(),
            run_id: shared.run_id.clone(),
            step: pending.step.clone(),
            task_id: key.task_id.clone(),
            attempt,
            artifacts: pending.artifacts.clone(),
            objects: pending.objects.clone(),
            inputs: pending.inputs.clone(),
            foreach_input: pending.foreach_inputs.last().cloned(),
            foreach_stack: pending.foreach.clone(),
            parameters: shared.parameters.clone(),
            max_splits: shared.max_splits,
            limits: policy
                .as_ref()
                .map(|p| p.limits.clone())
                .unwrap_or_default(),
            grants: policy
                .as_ref()
                .map(|p| p.grants.clone())
                .unwrap_or_default(),
            cancel: Some(shared.cancel.clone()),
            run_info: shared.run_info.clone(),
        };
        let sink: Option<OutputSink> = shared.observer.clone().map(|observer| {
            let key = key.clone();
            Arc::new(move |stream: OutputStream, line: &str| {
                observer.task_output(&key, stream, line)
            }) as OutputSink
        });
        let outcome = component.run_task(spec, shared.blobs.clone(), sink);
        let stored = handle.block_on(store_outcome(shared, &outcome));
        let (stdout, stderr) = match stored {
            Ok(logs) => logs,
            Err(e) => {
                let why = format!("cannot store the task's results: {e}");
                return finish_failed(shared, pending, record, started_at, why);
            }
        };
        let interrupted = matches!(outcome.failure, Some(TaskFailure::Interrupted(_)));
        record.attempts.push(Attempt {
            attempt,
            started_at,
            finished_at: now_millis(),
            status: if outcome.failure.is_some() {
                TaskStatus::Failed
            } else {
                TaskStatus::Succeeded
            },
            error: outcome.failure.as_ref().map(task_error),
            stdout,
            stderr,
        });
        match outcome.failure {
            None => {
                record.status = TaskStatus::Succeeded;
                record.artifacts = outcome.artifacts;
                record.objects = outcome.objects;
                record.next = outcome.transition;
                record.splits = outcome.foreach_count;
                return finish(shared, pending, record, None, false);
            }
            Some(failure) => {
                record.status = TaskStatus::Failed;
                record.artifacts = outcome.artifacts;
                if interrupted {
                    return finish(shared, pending, record, Some(failure.to_string()), true);
                }
                let more = attempt < retries && !shared.cancel.load(Ordering::Relaxed);
                if !more {
                    if let Some(catch) = policy.as_ref().and_then(|p| p.catch.clone()) {
                        return caught(shared, pending, record, &task_error(&failure), catch);
                    }
                    return finish(shared, pending, record, Some(failure.to_string()), false);
                }
                if !shared.local_retries {
                    // The next pod of this shard runs the next attempt.
                    let mut finished =
                        finish(shared, pending, record, Some(failure.to_string()), false);
                    finished.retry_later = true;
                    return finished;
                }
                // Each failed attempt is recorded before the next starts.
                let _ = handle.block_on(shared.store.write_task(&record));
                if let Some(observer) = &shared.observer {
                    observer.task_output(
                        &key,
                        OutputStream::Stderr,
                        &format!("attempt {attempt} failed ({failure}); retrying"),
                    );
                }
                // At once: as in Metaflow, `minutes_between_retries` spaces
                // attempts on remote compute only (remote.rs), not here.
                attempt += 1;
            }
        }
    }
}

/// Stores the values and logs of an attempt; values before the record that
/// refers to them, so a reader never finds a record whose blobs are missing.
async fn store_outcome(
    shared: &Shared,
    outcome: &mfw_host::TaskOutcome,
) -> Result<(Option<BlobHash>, Option<BlobHash>), mfw_store::StoreError> {
    for (hash, bytes) in &outcome.new_values {
        shared.blobs.remember(*hash, bytes.clone());
        shared
            .store
            .put_blob_with_hash(*hash, bytes.clone())
            .await?;
    }
    let mut logs = [None, None];
    for (slot, log) in logs.iter_mut().zip([&outcome.stdout, &outcome.stderr]) {
        if !log.is_empty() {
            *slot = Some(shared.store.put_blob(Bytes::copy_from_slice(log)).await?);
        }
    }
    let [stdout, stderr] = logs;
    Ok((stdout, stderr))
}

/// Writes the record and reports the task's end.
fn finish(
    shared: &Shared,
    pending: Pending,
    record: TaskRecord,
    failure: Option<String>,
    interrupted: bool,
) -> Finished {
    let key = pending.key();
    let failure = match Handle::current().block_on(shared.store.write_task(&record)) {
        Ok(()) => failure,
        Err(e) => Some(failure.unwrap_or_else(|| format!("cannot record the task: {e}"))),
    };
    if let Some(observer) = &shared.observer {
        // A failure's traceback (file and line), before its summary line.
        let detail = record
            .last_attempt()
            .and_then(|a| a.error.as_ref())
            .map(|e| e.detail.trim_end())
            .filter(|d| failure.is_some() && !d.is_empty());
        for line in detail.into_iter().flat_map(str::lines) {
            observer.task_output(&key, OutputStream::Stderr, line);
        }
        observer.task_finished(&key, failure.as_deref());
    }
    Finished {
        pending,
        record,
        failure,
        cloned: false,
        interrupted,
        retry_later: false,
    }
}

/// `@catch`: the failure becomes an artifact (when the decorator names
/// one) and the task continues along its declared transition with what it
/// inherited.
pub(crate) fn caught(
    shared: &Shared,
    pending: Pending,
    mut record: TaskRecord,
    failure: &TaskError,
    var: Option<String>,
) -> Finished {
    let mut artifacts = (*pending.artifacts).clone();
    if let Some(var) = var {
        // Metaflow's wrapper: the exception's type and message when the
        // step raised one, else what kind of failure it was.
        let (kind, message) = if failure.step_kind.is_empty() {
            (&failure.kind, &failure.message)
        } else {
            (&failure.step_kind, &failure.step_message)
        };
        let value = mfw_encoding::Value::Map(vec![
            (
                mfw_encoding::Value::Text("type".into()),
                mfw_encoding::Value::Text(kind.clone()),
            ),
            (
                mfw_encoding::Value::Text("message".into()),
                mfw_encoding::Value::Text(message.clone()),
            ),
            (
                mfw_encoding::Value::Text("detail".into()),
                mfw_encoding::Value::Text(failure.detail.clone()),
            ),
        ]);
        let bytes = Bytes::from(mfw_encoding::encode(&value));
        let hash = BlobHash::of(&bytes);
        if let Err(e) =
            Handle::current().block_on(shared.store.put_blob_with_hash(hash, bytes.clone()))
        {
            return finish(
                shared,
                pending,
                record,
                Some(format!("cannot store the caught error: {e}")),
                false,
            );
        }
        shared.blobs.remember(hash, bytes);
        artifacts.insert(var, hash);
    }
    record.artifacts = artifacts;
    // What the failed attempt put is dropped with its artifacts.
    record.objects = mfw_host::inherited_objects(&pending.objects, &pending.inputs);
    record.status = TaskStatus::Succeeded;
    record.next = shared
        .plan
        .graph
        .step(&pending.step)
        .and_then(Transition::declared_by);
    if let Some(observer) = &shared.observer {
        observer.task_output(
            &pending.key(),
            OutputStream::Stderr,
            &format!("@catch: {}; continuing", failure.message),
        );
    }
    finish(shared, pending, record, None, false)
}

/// The map successors inherit: `inherited` itself when the task ended with
/// the same names and values, else one new map.
fn passed_on(inherited: &NameMap, ended: &BTreeMap<String, BlobHash>) -> NameMap {
    if **inherited == *ended {
        inherited.clone()
    } else {
        Arc::new(ended.clone())
    }
}

/// When resuming: the origin run's record of this task, if it succeeded
/// and its step is not re-run, copied into this run. Values are shared by
/// hash; only the small record is written.
fn clone_from_origin(shared: &Shared, pending: &Pending) -> Option<Finished> {
    Handle::current().block_on(clone_from_origin_async(shared, pending))
}

/// [`clone_from_origin`] for async callers.
pub(crate) async fn clone_from_origin_async(
    shared: &Shared,
    pending: &Pending,
) -> Option<Finished> {
    let origin = shared.origin.as_ref()?;
    if origin.rerun.contains(&pending.step) {
        return None;
    }
    let task_id = pending.task_id();
    // A record that is missing or unreadable (a run killed mid-write leaves
    // no half records, but a damaged store might) means: run the task.
    let old = shared
        .store
        .read_task(&shared.flow, &origin.run_id, &pending.step, &task_id)
        .await
        .ok()?;
    if old.status != TaskStatus::Succeeded {
        return None;
    }
    let mut record = old;
    record.run_id = shared.run_id.clone();
    record.cloned_from = Some(origin.run_id.clone());
    record.parents = pending.parents.clone();
    shared.store.write_task(&record).await.ok()?;
    Some(Finished {
        pending: pending.clone(),
        record,
        failure: None,
        cloned: true,
        interrupted: false,
        retry_later: false,
    })
}

/// The grants as the task record lists them.
fn describe_grants(grants: &mfw_host::Grants) -> Vec<String> {
    let mut out = Vec::new();
    for dir in &grants.dirs {
        let mode = if dir.writable { "write" } else { "read" };
        out.push(format!("{mode} {}={}", dir.guest, dir.host.display()));
    }
    out.extend(grants.env.iter().map(|(name, _)| format!("env {name}")));
    out.extend(grants.network.iter().map(|addr| format!("connect {addr}")));
    if grants.clock {
        out.push("clock".to_string());
    }
    if grants.random {
        out.push("random".to_string());
    }
    out
}

fn task_error(failure: &TaskFailure) -> TaskError {
    let (step_kind, step_message) = match failure {
        TaskFailure::StepError { kind, message, .. } => (kind.clone(), message.clone()),
        _ => (String::new(), String::new()),
    };
    TaskError {
        kind: failure.kind().to_string(),
        message: failure.to_string(),
        detail: failure.detail().to_string(),
        step_kind,
        step_message,
    }
}

/// Records a task that failed before or after its guest ran.
pub(crate) fn finish_failed(
    shared: &Shared,
    pending: Pending,
    mut record: TaskRecord,
    started_at: u64,
    why: String,
) -> Finished {
    record.status = TaskStatus::Failed;
    record.attempts.push(Attempt {
        attempt: record.attempts.len() as u32,
        started_at,
        finished_at: now_millis(),
        status: TaskStatus::Failed,
        error: Some(TaskError {
            kind: "host".to_string(),
            message: why.clone(),
            ..TaskError::default()
        }),
        stdout: None,
        stderr: None,
    });
    finish(shared, pending, record, Some(why), false)
}

/// The tasks that become ready because `pending` finished as `record`.
async fn successors(
    shared: &Shared,
    pending: &Pending,
    record: &TaskRecord,
    joins: &mut HashMap<(String, Vec<u32>), JoinWait>,
) -> Result<Vec<Pending>, String> {
    let Some(transition) = &record.next else {
        return Ok(Vec::new());
    };
    let me = format!("{}/{}", pending.step, pending.task_id());
    let mut ready = Vec::new();
    // One map for every successor (a foreach's thousands of tasks, a
    // join's inputs), the parent's own when this task changed nothing.
    let artifacts = passed_on(&pending.artifacts, &record.artifacts);
    let objects = passed_on(&pending.objects, &record.objects);
    if let Transition::Foreach { step, over } = transition {
        let hash = record
            .artifacts
            .get(over)
            .ok_or_else(|| format!("the foreach artifact `{over}` was not recorded"))?;
        let list = shared
            .blobs
            .load_async(hash)
            .await
            .map_err(|e| format!("cannot read the foreach artifact `{over}`: {e}"))?;
        let items =
            mfw_encoding::array_items(&list).map_err(|e| format!("`{over}` is not a list: {e}"))?;
        let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
        for (index, item) in items.into_iter().enumerate() {
            let index = index as u32;
            let mut child = pending.clone();
            child.step = step.clone();
            child.path.push(index);
            child.inputs = Vec::new();
            child.foreach.push(ForeachFrame {
                step: pending.step.clone(),
                over: over.clone(),
                index,
                count,
            });
            child.foreach_inputs.push(list.slice_ref(item));
            child.foreach_items.push((*hash, index));
            child.earlier = Vec::new();
            child.artifacts = artifacts.clone();
            child.objects = objects.clone();
            child.parents = vec![me.clone()];
            ready.push(child);
        }
        return Ok(ready);
    }
    for target in transition.targets() {
        match shared.plan.topology.kind(target) {
            Some(StepKind::Join { foreach, .. }) => {
                let (join_path, slot, expected, foreach_stack, foreach_inputs, foreach_items) =
                    if *foreach {
                        let frame = pending
                            .foreach
                            .last()
                            .ok_or_else(|| format!("join `{target}` has no foreach to close"))?;
                        let mut path = pending.path.clone();
                        let index = path.pop().unwrap_or(0);
                        let mut stack = pending.foreach.clone();
                        stack.pop();
                        let mut inputs = pending.foreach_inputs.clone();
                        inputs.pop();
                        let mut items = pending.foreach_items.clone();
                        items.pop();
                        (
                            path,
                            index as usize,
                            frame.count as usize,
                            stack,
                            inputs,
                            items,
                        )
                    } else {
                        let predecessors = shared.plan.topology.predecessors(target);
                        let slot = predecessors
                            .iter()
                            .position(|p| *p == pending.step)
                            .unwrap_or(0);
                        (
                            pending.path.clone(),
                            slot,
                            predecessors.len(),
                            pending.foreach.clone(),
                            pending.foreach_inputs.clone(),
                            pending.foreach_items.clone(),
                        )
                    };
                let wait = joins
                    .entry((target.to_string(), join_path.clone()))
                    .or_insert_with(|| JoinWait {
                        inputs: vec![None; expected],
                        arrived: 0,
                        foreach: foreach_stack,
                        foreach_inputs,
                        foreach_items,
                    });
                if let Some(place) = wait.inputs.get_mut(slot)
                    && place.is_none()
                {
                    wait.arrived += 1;
                    *place = Some((
                        JoinInput {
                            step: pending.step.clone(),
                            task_id: pending.task_id(),
                            artifacts: artifacts.clone(),
                            objects: objects.clone(),
                        },
                        me.clone(),
                    ));
                }
                if wait.arrived == wait.inputs.len()
                    && let Some(wait) = joins.remove(&(target.to_string(), join_path.clone()))
                {
                    let (inputs, parents): (Vec<_>, Vec<_>) =
                        wait.inputs.into_iter().flatten().unzip();
                    ready.push(Pending {
                        step: target.to_string(),
                        path: join_path,
                        artifacts: NameMap::default(),
                        objects: NameMap::default(),
                        inputs,
                        foreach: wait.foreach,
                        foreach_inputs: wait.foreach_inputs,
                        foreach_items: wait.foreach_items,
                        parents,
                        earlier: Vec::new(),
                    });
                }
            }
            _ => {
                let mut child = pending.clone();
                child.step = target.to_string();
                child.inputs = Vec::new();
                child.artifacts = artifacts.clone();
                child.objects = objects.clone();
                child.parents = vec![me.clone()];
                child.earlier = Vec::new();
                ready.push(child);
            }
        }
    }
    Ok(ready)
}
