//! One task: what it is given, the state its imports work on, and what it
//! produced.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use mfw_graph::{BlobHash, FlowGraph, ForeachFrame, Transition};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::engine::LoadedFlow;
use crate::output::{Capture, OutputSink, OutputStream};
use crate::sandbox;

/// Where a task's inherited artifact values come from: the datastore, in
/// the orchestrator. Called from the thread running the task.
///
/// ```
/// use bytes::Bytes;
/// use mfw_graph::BlobHash;
/// use std::collections::HashMap;
///
/// struct InMemory(HashMap<BlobHash, Bytes>);
/// impl mfw_host::BlobSource for InMemory {
///     fn load(&self, hash: &BlobHash) -> Result<Bytes, String> {
///         self.0.get(hash).cloned().ok_or_else(|| format!("blob {hash} is missing"))
///     }
/// }
/// ```
pub trait BlobSource: Send + Sync {
    /// The bytes of blob `hash`, verified; or why they cannot be had.
    fn load(&self, hash: &BlobHash) -> Result<Bytes, String>;
}

/// One input of a join task: a task of a step before the join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInput {
    /// The step it ran.
    pub step: String,
    /// Its task id.
    pub task_id: String,
    /// Its final artifacts.
    pub artifacts: BTreeMap<String, BlobHash>,
}

/// Everything a task is given.
///
/// ```
/// let spec = mfw_host::TaskSpec::new("HelloFlow", "1", "start", "0");
/// assert!(spec.artifacts.is_empty());
/// assert_eq!(spec.attempt, 0);
/// ```
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The flow's name.
    pub flow: String,
    /// The run.
    pub run_id: String,
    /// The step to run.
    pub step: String,
    /// `0`, or foreach indices joined by `.`.
    pub task_id: String,
    /// 0 for the first attempt.
    pub attempt: u32,
    /// What the task inherits from the step before it.
    pub artifacts: BTreeMap<String, BlobHash>,
    /// A join's inputs, in order.
    pub inputs: Vec<JoinInput>,
    /// The item of the innermost foreach, encoded.
    pub foreach_input: Option<Bytes>,
    /// Enclosing foreach loops, outermost first.
    pub foreach_stack: Vec<ForeachFrame>,
    /// The run's parameter values, encoded.
    pub parameters: Arc<BTreeMap<String, Bytes>>,
    /// The most tasks one foreach may create.
    pub max_splits: u32,
}

impl TaskSpec {
    /// A first attempt with nothing inherited.
    pub fn new(flow: &str, run_id: &str, step: &str, task_id: &str) -> Self {
        Self {
            flow: flow.to_string(),
            run_id: run_id.to_string(),
            step: step.to_string(),
            task_id: task_id.to_string(),
            attempt: 0,
            artifacts: BTreeMap::new(),
            inputs: Vec::new(),
            foreach_input: None,
            foreach_stack: Vec::new(),
            parameters: Arc::default(),
            max_splits: u32::MAX,
        }
    }

    /// `Flow/run/step/task`.
    pub fn pathspec(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.flow, self.run_id, self.step, self.task_id
        )
    }
}

/// Why a task failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskFailure {
    /// The step returned an error.
    #[error("step `{step}` failed: {kind}: {message}")]
    StepError {
        /// The step.
        step: String,
        /// The error's kind, such as an exception class.
        kind: String,
        /// Its message.
        message: String,
        /// A traceback, if any.
        detail: String,
    },
    /// The guest panicked (and then trapped).
    #[error("step `{step}` panicked: {message}")]
    Panic {
        /// The step.
        step: String,
        /// The panic message.
        message: String,
    },
    /// The guest trapped.
    #[error("step `{step}` crashed: {message}")]
    Trap {
        /// The step.
        step: String,
        /// The trap.
        message: String,
        /// The wasm backtrace.
        detail: String,
    },
    /// A `next` the graph does not allow, or none where one is needed.
    #[error("{0}")]
    Next(String),
    /// The host could not give the task what it asked for.
    #[error("{0}")]
    Host(String),
}

impl TaskFailure {
    /// A short name for the kind of failure, as task records store it.
    pub fn kind(&self) -> &'static str {
        match self {
            TaskFailure::StepError { .. } => "step-error",
            TaskFailure::Panic { .. } => "panic",
            TaskFailure::Trap { .. } => "trap",
            TaskFailure::Next(_) => "next",
            TaskFailure::Host(_) => "host",
        }
    }

    /// Extra detail (a traceback or backtrace), possibly empty.
    pub fn detail(&self) -> &str {
        match self {
            TaskFailure::StepError { detail, .. } | TaskFailure::Trap { detail, .. } => detail,
            _ => "",
        }
    }
}

/// What a task produced.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// Why it failed, or `None` if it succeeded.
    pub failure: Option<TaskFailure>,
    /// Every artifact it ended with, inherited ones keeping their hash.
    pub artifacts: BTreeMap<String, BlobHash>,
    /// The values it set that must be stored, once each.
    pub new_values: Vec<(BlobHash, Bytes)>,
    /// The `next` it took.
    pub transition: Option<Transition>,
    /// How many items its foreach fans out over.
    pub foreach_count: Option<u32>,
    /// What it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr, with its log messages.
    pub stderr: Vec<u8>,
}

/// An artifact as the task sees it.
#[derive(Clone)]
pub(crate) enum Slot {
    /// Inherited: only the hash is known until the guest reads it.
    Stored(BlobHash),
    /// Set by this task.
    Set(BlobHash, Bytes),
}

impl Slot {
    pub(crate) fn hash(&self) -> BlobHash {
        match self {
            Slot::Stored(h) | Slot::Set(h, _) => *h,
        }
    }
}

/// The state a running task's imports work on.
pub(crate) struct Running {
    pub(crate) spec: TaskSpec,
    pub(crate) graph: Arc<FlowGraph>,
    pub(crate) blobs: Arc<dyn BlobSource>,
    pub(crate) artifacts: BTreeMap<String, Slot>,
    pub(crate) transition: Option<Transition>,
    pub(crate) foreach_count: Option<u32>,
    /// A failure the guest cannot talk its way out of (a bad `next`, an
    /// unreadable blob): it fails the task even if the step then returns Ok.
    pub(crate) failure: Option<TaskFailure>,
    pub(crate) panic_message: Option<String>,
    pub(crate) max_artifact_bytes: u64,
}

impl Running {
    /// Records the first failure; later ones are consequences.
    pub(crate) fn fail(&mut self, failure: TaskFailure) {
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
    }

    /// The bytes of the blob `hash`, which this task knows as `what`.
    pub(crate) fn load(&mut self, hash: &BlobHash, what: &str) -> Result<Bytes, String> {
        match self.blobs.load(hash) {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                let message = format!("cannot read {what} for task {}: {e}", self.spec.pathspec());
                self.fail(TaskFailure::Host(message.clone()));
                Err(message)
            }
        }
    }
}

/// A store's data: WASI, plus the task when one runs.
pub(crate) struct TaskState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) task: Option<Running>,
    pub(crate) stderr: Option<Capture>,
}

impl TaskState {
    /// For reading the graph: WASI with nothing granted and output dropped.
    pub(crate) fn without_task() -> Self {
        let discard = Capture::new(OutputStream::Stderr, None);
        Self {
            wasi: sandbox::wasi_for_task("graph", discard.clone(), discard),
            table: ResourceTable::new(),
            task: None,
            stderr: None,
        }
    }
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl LoadedFlow {
    /// Runs `spec.step` as one task in a fresh instance. Never panics and
    /// never returns early: whatever the guest does, the outcome says so.
    pub fn run_task(
        &self,
        spec: TaskSpec,
        blobs: Arc<dyn BlobSource>,
        sink: Option<OutputSink>,
    ) -> TaskOutcome {
        let inner = &self.inner;
        let stdout = Capture::new(OutputStream::Stdout, sink.clone());
        let stderr = Capture::new(OutputStream::Stderr, sink);
        let identity = format!("{}/{}/{}", spec.flow, spec.step, spec.task_id);
        let step = spec.step.clone();
        let artifacts = spec
            .artifacts
            .iter()
            .map(|(k, v)| (k.clone(), Slot::Stored(*v)))
            .collect();
        let running = Running {
            spec,
            graph: inner.graph.clone(),
            blobs,
            artifacts,
            transition: None,
            foreach_count: None,
            failure: None,
            panic_message: None,
            max_artifact_bytes: inner.config.max_artifact_bytes,
        };
        let state = TaskState {
            wasi: sandbox::wasi_for_task(&identity, stdout.clone(), stderr.clone()),
            table: ResourceTable::new(),
            task: Some(running),
            stderr: Some(stderr.clone()),
        };
        let mut store = Store::new(&inner.engine, state);
        let result = match inner.pre.instantiate(&mut store) {
            Ok(instance) => instance
                .mfw_flow_flow()
                .call_run_step(&mut store, &step)
                .map_err(Some),
            Err(e) => {
                let message = format!("cannot start an instance of {}: {e:#}", inner.name);
                if let Some(task) = store.data_mut().task.as_mut() {
                    task.fail(TaskFailure::Host(message));
                }
                Err(None)
            }
        };
        let Some(mut task) = store.data_mut().task.take() else {
            return TaskOutcome {
                failure: Some(TaskFailure::Host("mfw lost the task's state".to_string())),
                artifacts: BTreeMap::new(),
                new_values: Vec::new(),
                transition: None,
                foreach_count: None,
                stdout: stdout.finish(),
                stderr: stderr.finish(),
            };
        };
        drop(store);
        let failure = match result {
            Ok(Ok(())) => task.failure.take().or_else(|| missing_next(&task)),
            Ok(Err(e)) => task.failure.take().or(Some(TaskFailure::StepError {
                step: step.clone(),
                kind: e.kind,
                message: e.message,
                detail: e.detail,
            })),
            Err(Some(trap)) => Some(match task.panic_message.take() {
                Some(message) => TaskFailure::Panic {
                    step: step.clone(),
                    message,
                },
                None => describe_trap(&step, &trap),
            }),
            Err(None) => task.failure.take(),
        };
        let mut new_values = Vec::new();
        let mut final_artifacts = BTreeMap::new();
        for (name, slot) in task.artifacts {
            if let Slot::Set(hash, bytes) = &slot
                && !task.spec.artifacts.values().any(|h| h == hash)
                && !new_values.iter().any(|(h, _)| h == hash)
            {
                new_values.push((*hash, bytes.clone()));
            }
            final_artifacts.insert(name, slot.hash());
        }
        TaskOutcome {
            failure,
            artifacts: final_artifacts,
            new_values,
            transition: task.transition,
            foreach_count: task.foreach_count,
            stdout: stdout.finish(),
            stderr: stderr.finish(),
        }
    }
}

fn missing_next(task: &Running) -> Option<TaskFailure> {
    let step = task.graph.step(&task.spec.step)?;
    let declared = Transition::declared_by(step)?;
    if task.transition.is_some() {
        return None;
    }
    Some(TaskFailure::Next(format!(
        "step `{}` returned without calling next; its graph declares {declared}",
        step.name
    )))
}

fn describe_trap(step: &str, error: &wasmtime::Error) -> TaskFailure {
    let message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    TaskFailure::Trap {
        step: step.to_string(),
        message,
        detail: format!("{error:?}"),
    }
}
