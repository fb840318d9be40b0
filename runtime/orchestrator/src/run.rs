//! The local scheduler: tasks become ready as their parents finish, run on
//! up to `max_workers` blocking threads, and are recorded as they end.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use mfw_graph::{BlobHash, ForeachFrame, StepKind, Transition};
use mfw_host::{JoinInput, OutputSink, OutputStream, TaskFailure, TaskSpec};
use mfw_store::{
    Attempt, Datastore, RunRecord, RunStatus, TaskError, TaskRecord, TaskStatus, now_millis,
};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinSet;

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
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            max_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_num_splits: 100_000,
            parameters: BTreeMap::new(),
            observer: None,
            interrupt: None,
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
    /// Tasks that succeeded.
    pub tasks_succeeded: u64,
    /// Tasks that failed, with why.
    pub failures: Vec<(TaskKey, String)>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// A task waiting for a worker.
#[derive(Clone)]
struct Pending {
    step: String,
    path: Vec<u32>,
    artifacts: BTreeMap<String, BlobHash>,
    inputs: Vec<JoinInput>,
    foreach: Vec<ForeachFrame>,
    foreach_inputs: Vec<Bytes>,
    parents: Vec<String>,
}

impl Pending {
    fn task_id(&self) -> String {
        task_id(&self.path)
    }

    fn key(&self) -> TaskKey {
        TaskKey {
            step: self.step.clone(),
            task_id: self.task_id(),
        }
    }
}

fn task_id(path: &[u32]) -> String {
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
}

/// What a worker hands back.
struct Finished {
    pending: Pending,
    record: TaskRecord,
    failure: Option<String>,
}

/// Everything workers share.
struct Shared {
    plan: FlowPlan,
    store: Datastore,
    blobs: Arc<StoreBlobs>,
    flow: String,
    run_id: String,
    parameters: Arc<BTreeMap<String, Bytes>>,
    max_splits: u32,
    observer: Option<Arc<dyn RunObserver>>,
}

/// Runs the flow in `plan` to the end, recording the run and every task in
/// `store`. Returns a summary; a failed task makes a failed run, not an
/// error.
pub async fn run_flow(
    store: &Datastore,
    plan: &FlowPlan,
    options: RunOptions,
) -> Result<RunSummary, OrchestratorError> {
    let mut record = RunRecord::new(&plan.graph.name);
    record.graph = Some((*plan.graph).clone());
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
    });
    if let Some(observer) = &shared.observer {
        observer.run_started(&record.flow, &record.run_id);
    }
    let outcome = schedule(&shared, &options).await;
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
        failures: outcome.failures,
        duration_ms: record.duration_millis(),
    })
}

struct ScheduleOutcome {
    succeeded: u64,
    failures: Vec<(TaskKey, String)>,
    interrupted: bool,
}

async fn schedule(shared: &Arc<Shared>, options: &RunOptions) -> ScheduleOutcome {
    let mut queue = VecDeque::from([Pending {
        step: "start".to_string(),
        path: Vec::new(),
        artifacts: BTreeMap::new(),
        inputs: Vec::new(),
        foreach: Vec::new(),
        foreach_inputs: Vec::new(),
        parents: Vec::new(),
    }]);
    if let Some(observer) = &shared.observer {
        observer.task_queued(&queue[0].key());
    }
    let mut joins: HashMap<(String, Vec<u32>), JoinWait> = HashMap::new();
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut interrupt = options.interrupt.clone();
    let mut outcome = ScheduleOutcome {
        succeeded: 0,
        failures: Vec::new(),
        interrupted: false,
    };
    let workers = options.max_workers.max(1);
    loop {
        // After a failure or an interrupt nothing new starts; what runs ends.
        while outcome.failures.is_empty() && !outcome.interrupted && running.len() < workers {
            let Some(pending) = queue.pop_front() else {
                break;
            };
            let shared = shared.clone();
            running.spawn_blocking(move || run_one(&shared, pending));
        }
        if running.is_empty() {
            break;
        }
        let finished = tokio::select! {
            joined = running.join_next() => joined,
            changed = wait_interrupt(&mut interrupt) => {
                if changed {
                    outcome.interrupted = true;
                }
                continue;
            }
        };
        let finished = match finished {
            Some(Ok(finished)) => finished,
            Some(Err(e)) => {
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
        let key = finished.pending.key();
        if let Some(why) = finished.failure {
            outcome.failures.push((key, why));
            continue;
        }
        outcome.succeeded += 1;
        match successors(shared, &finished.pending, &finished.record, &mut joins).await {
            Ok(next) => {
                for pending in next {
                    if let Some(observer) = &shared.observer {
                        observer.task_queued(&pending.key());
                    }
                    queue.push_back(pending);
                }
            }
            Err(why) => outcome.failures.push((key, why)),
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

/// Runs one task and records it. Called on a blocking thread.
fn run_one(shared: &Shared, pending: Pending) -> Finished {
    let key = pending.key();
    if let Some(observer) = &shared.observer {
        observer.task_started(&key);
    }
    let mut record = TaskRecord::new(&shared.flow, &shared.run_id, &pending.step, &key.task_id);
    record.parents = pending.parents.clone();
    record.foreach = pending.foreach.clone();
    let started_at = now_millis();
    let Some(component) = shared.plan.component_for(&pending.step) else {
        let why = format!("no component provides step `{}`", pending.step);
        return finish_failed(shared, pending, record, started_at, why);
    };
    record.component = Some(component.hash());
    let spec = TaskSpec {
        flow: shared.flow.clone(),
        run_id: shared.run_id.clone(),
        step: pending.step.clone(),
        task_id: key.task_id.clone(),
        attempt: 0,
        artifacts: pending.artifacts.clone(),
        inputs: pending.inputs.clone(),
        foreach_input: pending.foreach_inputs.last().cloned(),
        foreach_stack: pending.foreach.clone(),
        parameters: shared.parameters.clone(),
        max_splits: shared.max_splits,
    };
    let sink: Option<OutputSink> = shared.observer.clone().map(|observer| {
        let key = key.clone();
        Arc::new(move |stream: OutputStream, line: &str| observer.task_output(&key, stream, line))
            as OutputSink
    });
    let outcome = component.run_task(spec, shared.blobs.clone(), sink);
    let handle = Handle::current();
    let stored = handle.block_on(async {
        // Values first, then the record that refers to them: a reader never
        // finds a record whose blobs are missing.
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
        Ok::<_, mfw_store::StoreError>(logs)
    });
    let [stdout, stderr] = match stored {
        Ok(logs) => logs,
        Err(e) => {
            let why = format!("cannot store the task's results: {e}");
            return finish_failed(shared, pending, record, started_at, why);
        }
    };
    record.artifacts = outcome.artifacts;
    record.status = if outcome.failure.is_some() {
        TaskStatus::Failed
    } else {
        TaskStatus::Succeeded
    };
    if outcome.failure.is_none() {
        record.next = outcome.transition;
        record.splits = outcome.foreach_count;
    }
    record.attempts.push(Attempt {
        attempt: 0,
        started_at,
        finished_at: now_millis(),
        status: record.status,
        error: outcome.failure.as_ref().map(task_error),
        stdout,
        stderr,
    });
    let failure = outcome.failure.map(|f| f.to_string());
    let failure = match handle.block_on(shared.store.write_task(&record)) {
        Ok(()) => failure,
        Err(e) => Some(failure.unwrap_or_else(|| format!("cannot record the task: {e}"))),
    };
    if let Some(observer) = &shared.observer {
        observer.task_finished(&key, failure.as_deref());
    }
    Finished {
        pending,
        record,
        failure,
    }
}

fn task_error(failure: &TaskFailure) -> TaskError {
    TaskError {
        kind: failure.kind().to_string(),
        message: failure.to_string(),
        detail: failure.detail().to_string(),
    }
}

/// Records a task that failed before or after its guest ran.
fn finish_failed(
    shared: &Shared,
    pending: Pending,
    mut record: TaskRecord,
    started_at: u64,
    why: String,
) -> Finished {
    record.status = TaskStatus::Failed;
    record.attempts.push(Attempt {
        attempt: 0,
        started_at,
        finished_at: now_millis(),
        status: TaskStatus::Failed,
        error: Some(TaskError {
            kind: "host".to_string(),
            message: why.clone(),
            detail: String::new(),
        }),
        stdout: None,
        stderr: None,
    });
    // Best effort: the run fails either way, and says why.
    let _ = Handle::current().block_on(shared.store.write_task(&record));
    let key = pending.key();
    if let Some(observer) = &shared.observer {
        observer.task_finished(&key, Some(&why));
    }
    Finished {
        pending,
        record,
        failure: Some(why),
    }
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
            child.artifacts = record.artifacts.clone();
            child.parents = vec![me.clone()];
            ready.push(child);
        }
        return Ok(ready);
    }
    for target in transition.targets() {
        match shared.plan.topology.kind(target) {
            Some(StepKind::Join { foreach, .. }) => {
                let (join_path, slot, expected, foreach_stack, foreach_inputs) = if *foreach {
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
                    (path, index as usize, frame.count as usize, stack, inputs)
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
                    )
                };
                let wait = joins
                    .entry((target.to_string(), join_path.clone()))
                    .or_insert_with(|| JoinWait {
                        inputs: vec![None; expected],
                        arrived: 0,
                        foreach: foreach_stack,
                        foreach_inputs,
                    });
                if let Some(place) = wait.inputs.get_mut(slot)
                    && place.is_none()
                {
                    wait.arrived += 1;
                    *place = Some((
                        JoinInput {
                            step: pending.step.clone(),
                            task_id: pending.task_id(),
                            artifacts: record.artifacts.clone(),
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
                        artifacts: BTreeMap::new(),
                        inputs,
                        foreach: wait.foreach,
                        foreach_inputs: wait.foreach_inputs,
                        parents,
                    });
                }
            }
            _ => {
                let mut child = pending.clone();
                child.step = target.to_string();
                child.inputs = Vec::new();
                child.artifacts = record.artifacts.clone();
                child.parents = vec![me.clone()];
                ready.push(child);
            }
        }
    }
    Ok(ready)
}
