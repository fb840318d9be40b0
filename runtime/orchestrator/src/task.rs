//! Running one task: its attempts, `@retry`, `@catch`, and, when resuming,
//! cloning it from the origin run instead. Knows nothing of the queue: the
//! scheduler decides what is ready, an executor decides where it runs, and
//! this module runs it and records it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use mfw_graph::{BlobHash, FlowGraph, ForeachFrame, Transition};
use mfw_host::{
    BlobSource, JoinInput, NameMap, OutputSink, OutputStream, RunInfo, TaskFailure, TaskOutcome,
    TaskSpec,
};
use mfw_store::{Attempt, Datastore, TaskError, TaskRecord, TaskStatus, now_millis};
use tokio::runtime::Handle;

use crate::policy::StepPolicy;
use crate::{FlowPlan, RunObserver, StoreBlobs, TaskKey};

/// A task ready to run: where it is in the graph and what it inherits.
#[derive(Clone)]
pub(crate) struct ReadyTask {
    pub(crate) step: String,
    pub(crate) path: Vec<u32>,
    /// How many tasks of this step came before it in a recursive switch's
    /// loop (0 outside one).
    pub(crate) iteration: u32,
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

impl ReadyTask {
    /// `start/0`, the first task of every run.
    pub(crate) fn start() -> Self {
        Self {
            step: "start".to_string(),
            path: Vec::new(),
            iteration: 0,
            artifacts: NameMap::default(),
            objects: NameMap::default(),
            inputs: Vec::new(),
            foreach: Vec::new(),
            foreach_inputs: Vec::new(),
            foreach_items: Vec::new(),
            parents: Vec::new(),
            earlier: Vec::new(),
        }
    }

    pub(crate) fn task_id(&self) -> String {
        task_id(&self.path, self.iteration)
    }

    pub(crate) fn key(&self) -> TaskKey {
        TaskKey {
            step: self.step.clone(),
            task_id: self.task_id(),
        }
    }
}

/// The id of the task at foreach `path`: `0` outside any foreach, `2.1`
/// for item 1 of a foreach inside item 2 of another; the `n`th repeat of a
/// recursive switch's task adds `_n` (`0_3`, `2.1_3`; `_` is kept as it is
/// in every object store's keys and in URLs, where `~` is escaped).
pub(crate) fn task_id(path: &[u32], iteration: u32) -> String {
    let mut id = if path.is_empty() {
        "0".to_string()
    } else {
        path.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    };
    if iteration > 0 {
        id.push_str(&format!("_{iteration}"));
    }
    id
}

/// How a task ended, as the scheduler continues it.
pub(crate) struct Finished {
    pub(crate) task: ReadyTask,
    pub(crate) record: TaskRecord,
    pub(crate) failure: Option<String>,
    pub(crate) cloned: bool,
    /// Its record is not stored yet: the scheduler hands it to the run's
    /// pack of clones (`cache::CacheBook::add_clone`) once it is done
    /// with it.
    pub(crate) to_pack: bool,
    pub(crate) interrupted: bool,
    /// The attempt failed and `@retry` allows another, which a remote
    /// worker leaves to its next pod.
    pub(crate) retry_later: bool,
}

impl Finished {
    fn new(task: ReadyTask, record: TaskRecord, failure: Option<String>) -> Self {
        Self {
            task,
            record,
            failure,
            cloned: false,
            to_pack: false,
            interrupted: false,
            retry_later: false,
        }
    }

    /// A task that ended without a record of its own (its workers never
    /// ran it, or the run was stopped first): nothing is written, and the
    /// run's error names it.
    pub(crate) fn unrecorded(ctx: &TaskContext, task: ReadyTask, why: String) -> Self {
        let record = TaskRecord::new(&ctx.flow, &ctx.run_id, &task.step, &task.task_id());
        Self::new(task, record, Some(why))
    }

    /// A task whose record says it succeeded.
    pub(crate) fn succeeded(task: ReadyTask, record: TaskRecord) -> Self {
        Self::new(task, record, None)
    }
}

/// The code behind the steps: in a run, the flow's components; in unit
/// tests, scripted outcomes.
pub(crate) trait StepCode: Send + Sync {
    /// The hash of the component that runs `step`, if one does.
    fn component(&self, step: &str) -> Option<BlobHash>;

    /// What identifies `step`'s code in task keys: by default its
    /// component's hash.
    fn code(&self, step: &str) -> Option<BlobHash> {
        self.component(step)
    }

    /// Runs one attempt of `spec.step`. Called on a blocking thread.
    fn run(
        &self,
        spec: TaskSpec,
        blobs: Arc<dyn BlobSource>,
        sink: Option<OutputSink>,
    ) -> TaskOutcome;
}

impl StepCode for FlowPlan {
    fn component(&self, step: &str) -> Option<BlobHash> {
        self.component_for(step).map(|c| c.hash())
    }

    fn code(&self, step: &str) -> Option<BlobHash> {
        self.step_code(step)
    }

    fn run(
        &self,
        spec: TaskSpec,
        blobs: Arc<dyn BlobSource>,
        sink: Option<OutputSink>,
    ) -> TaskOutcome {
        match self.component_for(&spec.step) {
            Some(component) => component.run_task(spec, blobs, sink),
            // `run` checks `component` first; this is for completeness.
            None => TaskOutcome {
                failure: Some(TaskFailure::Host(no_component(&spec.step))),
                artifacts: BTreeMap::new(),
                objects: BTreeMap::new(),
                new_values: Vec::new(),
                transition: None,
                foreach_count: None,
                stdout: Vec::new(),
                stderr: Vec::new(),
                memory_bytes: 0,
                read_run_identity: false,
                parameters_read: Default::default(),
                runs_read: Default::default(),
            },
        }
    }
}

fn no_component(step: &str) -> String {
    format!("no component provides step `{step}`")
}

/// What running a task needs, and nothing about the queue it came from:
/// the scheduler and a remote worker each make one.
pub(crate) struct TaskContext {
    pub(crate) code: Arc<dyn StepCode>,
    /// The run's graph: `@catch` continues along the declared transition.
    pub(crate) graph: Arc<FlowGraph>,
    pub(crate) store: Datastore,
    pub(crate) blobs: Arc<StoreBlobs>,
    /// Where tasks read other runs; none in replay, which gives each task
    /// the answers it was given.
    pub(crate) runs: Option<Arc<crate::runs::StoreRuns>>,
    pub(crate) flow: String,
    pub(crate) run_id: String,
    pub(crate) parameters: Arc<BTreeMap<String, Bytes>>,
    /// One hash over `parameters`, for each task's input key.
    pub(crate) parameters_key: BlobHash,
    /// Each parameter's value's hash, for the cache.
    pub(crate) parameter_hashes: BTreeMap<String, BlobHash>,
    pub(crate) max_splits: u32,
    /// How often a recursive switch's task may go back to its step.
    pub(crate) max_rounds: u32,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
    pub(crate) policies: HashMap<String, StepPolicy>,
    /// Set on Ctrl-C: running guests stop at their next epoch tick.
    pub(crate) cancel: Arc<AtomicBool>,
    /// The run being resumed, if any (never on a remote worker: the
    /// scheduler clones before it hands tasks over).
    pub(crate) origin: Option<crate::resume::Origin>,
    /// Who started the run, its tags and origin, for `current`.
    pub(crate) run_info: Arc<RunInfo>,
    /// Whether tasks may be taken from and put in the cache (`--no-cache`
    /// turns it off).
    pub(crate) cache: bool,
    /// Which blobs earlier records name are known to be stored.
    pub(crate) presence: crate::cache::Presence,
    /// The cache's indexes read so far, and what to add to them.
    pub(crate) cache_book: crate::cache::CacheBook,
    /// What each step's tasks share in their keys, once worked out.
    pub(crate) steps: StepIdentities,
    /// What running tasks print, stored while they run (none in a remote
    /// worker or a replay).
    pub(crate) live: Option<Arc<crate::live::LiveLogs>>,
}

/// What a task's computation is, worked out before it runs (see `key.rs`).
pub(crate) struct Identity {
    pub(crate) input_key: BlobHash,
    /// The component that runs its step, if one does.
    pub(crate) component: Option<BlobHash>,
    /// Its grants, as its record lists them.
    pub(crate) grants: Vec<String>,
    /// `None` when no component runs the step.
    pub(crate) task_key: Option<BlobHash>,
    /// The task key without the run's parameters (see `cache.rs`).
    pub(crate) cache_key: Option<BlobHash>,
    /// What the step's tasks share in their keys: where the cache keeps
    /// them.
    pub(crate) step_key: Option<BlobHash>,
}

impl Identity {
    pub(crate) fn of(ctx: &TaskContext, task: &ReadyTask) -> Self {
        let step = ctx.steps.of(ctx, &task.step);
        let (input_key, cache_inputs) = crate::key::input_keys(task, &ctx.parameters_key);
        let key = |inputs: &BlobHash| {
            step.computation
                .as_ref()
                .map(|computation| crate::key::task_key(&ctx.flow, inputs, computation))
        };
        Self {
            input_key,
            component: step.component,
            grants: step.grants.clone(),
            task_key: key(&input_key),
            cache_key: key(&cache_inputs),
            step_key: step.step_key,
        }
    }
}

/// What a step's tasks share in their identities.
pub(crate) struct StepIdentity {
    /// The component that runs the step, if one does.
    component: Option<BlobHash>,
    /// The step's grants, as its records list them.
    grants: Vec<String>,
    /// The code its tasks run and how; `None` when no component runs it.
    computation: Option<crate::key::Computation>,
    step_key: Option<BlobHash>,
}

/// Each step's [`StepIdentity`], worked out by its first task: a foreach's
/// thousands of tasks would otherwise each describe the same grants and
/// hash the same decorators.
#[derive(Default)]
pub(crate) struct StepIdentities(std::sync::Mutex<HashMap<String, Arc<StepIdentity>>>);

impl StepIdentities {
    fn of(&self, ctx: &TaskContext, step: &str) -> Arc<StepIdentity> {
        let work_out = || {
            let grants = ctx
                .policies
                .get(step)
                .map(|p| describe_grants(&p.grants))
                .unwrap_or_default();
            let declared = ctx.graph.step(step);
            let computation = ctx
                .code
                .code(step)
                .map(|code| crate::key::Computation::of(Some(&code), declared, &grants));
            let step_key = computation
                .as_ref()
                .map(|computation| crate::key::step_key(&ctx.flow, step, computation));
            Arc::new(StepIdentity {
                component: ctx.code.component(step),
                grants,
                computation,
                step_key,
            })
        };
        // A poisoned lock only loses the memo.
        let Ok(mut known) = self.0.lock() else {
            return work_out();
        };
        if let Some(known) = known.get(step) {
            return known.clone();
        }
        let identity = work_out();
        known.insert(step.to_string(), identity.clone());
        identity
    }
}

/// `task` finished by reusing an earlier task, from the run being resumed
/// or else from the cache; or `task` back, to run. The scheduler asks
/// before a task takes a worker slot, a remote worker before it runs one.
pub(crate) async fn reuse(ctx: &TaskContext, task: ReadyTask) -> Result<Finished, ReadyTask> {
    let identity = Identity::of(ctx, &task);
    let reused = match crate::resume::clone_from_origin(ctx, &task, &identity).await {
        Some(finished) => Some(finished),
        None => crate::cache::from_cache(ctx, &task, &identity).await,
    };
    match reused {
        Some(finished) => {
            if let Some(observer) = &ctx.observer {
                observer.task_finished(&finished.task.key(), None);
            }
            Ok(finished)
        }
        None => Err(task),
    }
}

/// Where the attempts after a failed one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retries {
    /// In this process, at once.
    Here,
    /// In the next pod of a remote worker's shard, which Kubernetes
    /// counts: the task ends with `retry_later`.
    NextWorker,
}

/// Runs one task (the attempts `@retry` allows, as `retries` says) and
/// records it; [`reuse`] was asked first. Called on a blocking thread.
pub(crate) fn run(ctx: &TaskContext, task: ReadyTask, retries_run: Retries) -> Finished {
    let key = task.key();
    let identity = Identity::of(ctx, &task);
    if let Some(observer) = &ctx.observer {
        observer.task_started(&key);
    }
    let mut record = TaskRecord::new(&ctx.flow, &ctx.run_id, &task.step, &key.task_id);
    record.parents = task.parents.clone();
    record.foreach = task.foreach.clone();
    record.attempts = task.earlier.clone();
    record.input_key = Some(identity.input_key);
    record.image = std::env::var("MFW_WORKER_IMAGE")
        .ok()
        .filter(|i| !i.is_empty());
    let Some(component) = identity.component else {
        let why = no_component(&task.step);
        return finish_failed(ctx, task, record, now_millis(), why);
    };
    record.component = Some(component);
    record.grants = identity.grants.clone();
    record.task_key = identity.task_key;
    record.cache_key = identity.cache_key;
    let policy = ctx.policies.get(&task.step).cloned();
    let retries = policy.as_ref().map_or(0, |p| p.retries);
    let handle = Handle::current();
    let mut attempt = task.earlier.len() as u32;
    loop {
        let started_at = now_millis();
        let spec = spec(ctx, &task, &identity, attempt, policy.as_ref());
        let sink: Option<OutputSink> = match (ctx.observer.clone(), ctx.live.clone()) {
            (None, None) => None,
            (observer, live) => {
                let key = key.clone();
                Some(Arc::new(move |stream: OutputStream, line: &str| {
                    if let Some(observer) = &observer {
                        observer.task_output(&key, stream, line);
                    }
                    if let Some(live) = &live {
                        live.line(&key.step, &key.task_id, stream, line);
                    }
                }) as OutputSink)
            }
        };
        let outcome = ctx.code.run(spec, ctx.blobs.clone(), sink);
        if let Some(live) = &ctx.live {
            live.ended(&key.step, &key.task_id);
        }
        let (stdout, stderr) = match handle.block_on(store_outcome(ctx, &outcome)) {
            Ok(logs) => logs,
            Err(e) => {
                let why = format!("cannot store the task's results: {e}");
                return finish_failed(ctx, task, record, started_at, why);
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
            memory_bytes: Some(outcome.memory_bytes).filter(|b| *b > 0),
        });
        let Some(failure) = outcome.failure else {
            record.status = TaskStatus::Succeeded;
            record.artifacts = outcome.artifacts;
            // Cards stay with the task; only objects pass on.
            (record.objects, record.cards) = mfw_store::split_cards(&outcome.objects);
            record.next = outcome.transition;
            record.splits = outcome.foreach_count;
            record.parameters_read = Some(
                outcome
                    .parameters_read
                    .iter()
                    .filter_map(|name| {
                        let hash = ctx.parameter_hashes.get(name)?;
                        Some((name.clone(), *hash))
                    })
                    .collect(),
            );
            record.runs_read = Some(outcome.runs_read).filter(|r| !r.is_empty());
            if let (Some(key), Some(reads)) = (record.task_key, &record.runs_read) {
                record.task_key = Some(crate::key::with_reads(&key, reads));
            }
            let finished = finish(ctx, task, record, None, false);
            if finished.failure.is_none() {
                crate::cache::remember(
                    ctx,
                    &finished.record,
                    identity.step_key,
                    outcome.read_run_identity,
                );
            }
            return finished;
        };
        record.status = TaskStatus::Failed;
        record.artifacts = outcome.artifacts;
        if interrupted {
            return finish(ctx, task, record, Some(failure.to_string()), true);
        }
        let more = attempt < retries && !ctx.cancel.load(Ordering::Relaxed);
        if !more {
            if let Some(catch) = policy.as_ref().and_then(|p| p.catch.clone()) {
                return caught(ctx, task, record, &task_error(&failure), catch);
            }
            return finish(ctx, task, record, Some(failure.to_string()), false);
        }
        if retries_run == Retries::NextWorker {
            let mut finished = finish(ctx, task, record, Some(failure.to_string()), false);
            finished.retry_later = true;
            return finished;
        }
        // Each failed attempt is recorded before the next starts.
        let _ = handle.block_on(ctx.store.write_task(&record));
        if let Some(observer) = &ctx.observer {
            observer.task_output(
                &key,
                OutputStream::Stderr,
                &format!("attempt {attempt} failed ({failure}); retrying"),
            );
        }
        // At once: as in Metaflow, `minutes_between_retries` spaces
        // attempts on remote compute only (worker.rs), not here.
        attempt += 1;
    }
}

/// What attempt `attempt` of `task` is given: its inheritance, the run's
/// parameters, its step's limits and grants (`policy`), and randomness
/// keyed by its cache key (`identity`).
pub(crate) fn spec(
    ctx: &TaskContext,
    task: &ReadyTask,
    identity: &Identity,
    attempt: u32,
    policy: Option<&StepPolicy>,
) -> TaskSpec {
    TaskSpec {
        flow: ctx.flow.clone(),
        run_id: ctx.run_id.clone(),
        step: task.step.clone(),
        task_id: task.task_id(),
        attempt,
        artifacts: task.artifacts.clone(),
        objects: task.objects.clone(),
        inputs: task.inputs.clone(),
        foreach_input: task.foreach_inputs.last().cloned(),
        foreach_stack: task.foreach.clone(),
        parameters: ctx.parameters.clone(),
        max_splits: ctx.max_splits,
        limits: policy.map(|p| p.limits.clone()).unwrap_or_default(),
        grants: policy.map(|p| p.grants.clone()).unwrap_or_default(),
        cancel: Some(ctx.cancel.clone()),
        run_info: ctx.run_info.clone(),
        // The cache key, not the task key: the cache reuses a task run
        // with other values of parameters it did not read, so what it drew
        // must not depend on them.
        random_seed: identity.cache_key,
        runs: mfw_host::RunsAccess(ctx.runs.clone().map(|r| r as Arc<dyn mfw_host::RunReader>)),
    }
}

/// Stores the values and logs of an attempt; values before the record that
/// refers to them, so a reader never finds a record whose blobs are missing.
async fn store_outcome(
    ctx: &TaskContext,
    outcome: &TaskOutcome,
) -> Result<(Option<BlobHash>, Option<BlobHash>), mfw_store::StoreError> {
    for (hash, bytes) in &outcome.new_values {
        ctx.blobs.remember(*hash, bytes.clone());
        ctx.store.put_blob_with_hash(*hash, bytes.clone()).await?;
    }
    let mut logs = [None, None];
    for (slot, log) in logs.iter_mut().zip([&outcome.stdout, &outcome.stderr]) {
        if !log.is_empty() {
            *slot = Some(ctx.store.put_blob(Bytes::copy_from_slice(log)).await?);
        }
    }
    let [stdout, stderr] = logs;
    Ok((stdout, stderr))
}

/// Writes the record and reports the task's end.
fn finish(
    ctx: &TaskContext,
    task: ReadyTask,
    record: TaskRecord,
    failure: Option<String>,
    interrupted: bool,
) -> Finished {
    let key = task.key();
    let failure = match Handle::current().block_on(ctx.store.write_task(&record)) {
        Ok(()) => failure,
        Err(e) => Some(failure.unwrap_or_else(|| format!("cannot record the task: {e}"))),
    };
    if let Some(observer) = &ctx.observer {
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
    let mut finished = Finished::new(task, record, failure);
    finished.interrupted = interrupted;
    finished
}

/// `@catch`: the failure becomes an artifact (when the decorator names
/// one) and the task continues along its declared transition with what it
/// inherited. Called on a blocking thread.
pub(crate) fn caught(
    ctx: &TaskContext,
    task: ReadyTask,
    mut record: TaskRecord,
    failure: &TaskError,
    var: Option<String>,
) -> Finished {
    let mut artifacts = (*task.artifacts).clone();
    if let Some(var) = var {
        let bytes = caught_value(failure);
        let hash = BlobHash::of(&bytes);
        if let Err(e) =
            Handle::current().block_on(ctx.store.put_blob_with_hash(hash, bytes.clone()))
        {
            let why = format!("cannot store the caught error: {e}");
            return finish(ctx, task, record, Some(why), false);
        }
        ctx.blobs.remember(hash, bytes);
        artifacts.insert(var, hash);
    }
    record.artifacts = artifacts;
    // What the failed attempt put is dropped with its artifacts.
    record.objects = mfw_host::inherited_objects(&task.objects, &task.inputs);
    record.status = TaskStatus::Succeeded;
    record.next = ctx.graph.step(&task.step).and_then(Transition::declared_by);
    if let Some(observer) = &ctx.observer {
        observer.task_output(
            &task.key(),
            OutputStream::Stderr,
            &format!("@catch: {}; continuing", failure.message),
        );
    }
    finish(ctx, task, record, None, false)
}

/// The value `@catch(var=...)` stores, as Metaflow's wrapper has it: the
/// exception's type and message when the step raised one, else what kind
/// of failure it was.
fn caught_value(failure: &TaskError) -> Bytes {
    use mfw_encoding::Value;
    let (kind, message) = if failure.step_kind.is_empty() {
        (&failure.kind, &failure.message)
    } else {
        (&failure.step_kind, &failure.step_message)
    };
    let field = |name: &str, text: &String| (Value::Text(name.into()), Value::Text(text.clone()));
    let value = Value::Map(vec![
        field("type", kind),
        field("message", message),
        field("detail", &failure.detail),
    ]);
    Bytes::from(mfw_encoding::encode(&value))
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

pub(crate) fn task_error(failure: &TaskFailure) -> TaskError {
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
fn finish_failed(
    ctx: &TaskContext,
    task: ReadyTask,
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
        memory_bytes: None,
    });
    finish(ctx, task, record, Some(why), false)
}
