//! One task: what it is given, the state its imports work on, and what it
//! produced.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bytes::Bytes;
use mfw_graph::{BlobHash, FlowGraph, ForeachFrame, Transition};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::mfw::flow::types::ArtifactError;
use crate::engine::LoadedFlow;
use crate::output::{Capture, OutputSink, OutputStream};
use crate::sandbox;
use crate::waits::{Stop, stop_store_at};

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
///     fn load(&self, hash: &BlobHash) -> Result<Bytes, mfw_host::BlobError> {
///         let missing = || mfw_host::BlobError::new(format!("blob {hash} is missing"));
///         self.0.get(hash).cloned().ok_or_else(missing)
///     }
/// }
/// ```
pub trait BlobSource: Send + Sync {
    /// The bytes of blob `hash`, verified; or why they cannot be had.
    fn load(&self, hash: &BlobHash) -> Result<Bytes, BlobError>;

    /// The value `hash`, to be read a piece at a time (the contract's
    /// `streams.open-get`). By default, loaded whole and given in one piece.
    fn open(&self, hash: &BlobHash) -> Result<Box<dyn BlobRead>, BlobError> {
        let bytes = self.load(hash)?;
        Ok(Box::new(WholeValue(Some(bytes))))
    }

    /// A writer storing a new value as it is written (the contract's
    /// `streams.start-set`), or `None`: then the host holds the value, like
    /// one set whole, and hands it back with the task's other values.
    /// `replaces` is the artifact's value before (inherited, or set
    /// earlier in the task): a store may keep the new one as its
    /// difference from it.
    fn create(&self, replaces: Option<BlobHash>) -> Option<Box<dyn BlobWrite>> {
        let _ = replaces;
        None
    }
}

/// A value read a piece at a time: see [`BlobSource::open`].
pub trait BlobRead: Send {
    /// The value's size in bytes.
    fn size(&self) -> u64;
    /// The next piece, `None` at the end (once the value is verified).
    fn next_piece(&mut self) -> Result<Option<Bytes>, BlobError>;
}

/// A value stored as it is written: see [`BlobSource::create`].
pub trait BlobWrite: Send {
    /// Appends `bytes` (the guest's, handed over whole).
    fn write(&mut self, bytes: Vec<u8>) -> Result<(), BlobError>;
    /// Stores what is left; returns the value's hash. A writer dropped
    /// without finishing leaves no value.
    fn finish(self: Box<Self>) -> Result<BlobHash, BlobError>;
}

/// A value already in memory, read in one piece.
///
/// ```
/// use mfw_host::{BlobRead, WholeValue};
/// let mut value = WholeValue(Some(bytes::Bytes::from_static(b"abc")));
/// assert_eq!(value.size(), 3);
/// assert_eq!(value.next_piece().unwrap().as_deref(), Some(&b"abc"[..]));
/// assert_eq!(value.next_piece().unwrap(), None);
/// ```
pub struct WholeValue(pub Option<Bytes>);

impl BlobRead for WholeValue {
    fn size(&self) -> u64 {
        self.0.as_ref().map_or(0, |b| b.len() as u64)
    }

    fn next_piece(&mut self) -> Result<Option<Bytes>, BlobError> {
        Ok(self.0.take())
    }
}

/// Why a [`BlobSource`] cannot give a blob: its own error (a datastore's),
/// shown as it is, its causes kept.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BlobError(Box<dyn std::error::Error + Send + Sync>);

impl BlobError {
    /// Wraps the source's error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// One input of a join task: a task of a step before the join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinInput {
    /// The step it ran.
    pub step: String,
    /// Its task id.
    pub task_id: String,
    /// Its final artifacts.
    pub artifacts: NameMap,
    /// The objects it ended with (`S3(run=self)`), by key.
    pub objects: NameMap,
}

/// Names (artifacts, object keys) and the hashes of their values, shared:
/// the tasks of a foreach, and the inputs a join waits for, hold one map
/// each parent made, never a copy per task.
pub type NameMap = Arc<BTreeMap<String, BlobHash>>;

/// What one task may consume. Exceeding a limit fails the task with a
/// message naming the limit; the host is never at risk.
///
/// ```
/// let limits = mfw_host::TaskLimits::default();
/// assert!(limits.timeout.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLimits {
    /// The most linear memory the task may grow to, in bytes.
    pub memory_bytes: u64,
    /// Wall time before the task is interrupted.
    pub timeout: Option<Duration>,
    /// Units of fuel (roughly, wasm instructions) before the task is
    /// stopped: a deterministic limit. Needs `HostConfig::fuel`.
    pub fuel: Option<u64>,
}

impl Default for TaskLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 4 << 30,
            timeout: None,
            fuel: None,
        }
    }
}

/// A host directory a step may use, mapped under a guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the step sees it, such as `/data`.
    pub guest: String,
    /// Whether the step may write there.
    pub writable: bool,
}

/// What a step may reach beyond its artifacts: nothing unless its
/// decorators grant it.
///
/// ```
/// let grants = mfw_host::Grants::default();
/// assert!(grants.dirs.is_empty() && !grants.clock && !grants.random);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Directories, read-only or read-write.
    pub dirs: Vec<DirGrant>,
    /// Environment variables, with the values they have for this run.
    pub env: Vec<(String, String)>,
    /// Addresses the step may connect to (the resolved `host:port` grants).
    pub network: Vec<std::net::SocketAddr>,
    /// Whether name resolution is allowed (only with network grants).
    pub name_lookup: bool,
    /// The host names the step may resolve: those its network grants name.
    pub names: Vec<String>,
    /// The real wall and monotonic clocks instead of the virtual ones.
    pub clock: bool,
    /// Real randomness instead of the task-seeded stream.
    pub random: bool,
}

impl Grants {
    /// Whether the step may resolve `name`: one of its granted host names,
    /// or an address it may connect to written as text.
    ///
    /// ```
    /// let mut grants = mfw_host::Grants::default();
    /// grants.names.push("db.internal".into());
    /// grants.network.push("10.0.0.7:5432".parse().unwrap());
    /// assert!(grants.may_resolve("DB.internal."));
    /// assert!(grants.may_resolve("10.0.0.7"));
    /// assert!(!grants.may_resolve("example.com"));
    /// ```
    pub fn may_resolve(&self, name: &str) -> bool {
        let wanted = name.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = wanted.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            return self.network.iter().any(|a| a.ip() == ip);
        }
        self.names
            .iter()
            .any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&wanted))
    }
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
    pub artifacts: NameMap,
    /// The objects it inherits from the step before it (a join's come
    /// with its inputs).
    pub objects: NameMap,
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
    /// What it may consume.
    pub limits: TaskLimits,
    /// What it may reach.
    pub grants: Grants,
    /// Set to stop the task (Ctrl-C); it is interrupted within a tick.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Who started the run, its tags and origin (`current.username`...).
    pub run_info: Arc<RunInfo>,
    /// What keys the task's randomness unless it is granted the real kind:
    /// a run sets the task's cache key, so a task taken from the cache drew
    /// what running it again would draw. `None` keys it by flow, step and
    /// task id.
    pub random_seed: Option<BlobHash>,
    /// Where it reads other runs of the datastore (Metaflow's client inside
    /// a step); none: its reads fail, saying so.
    pub runs: crate::runs::RunsAccess,
}

/// What a task may know about its run beyond its own identity.
///
/// ```
/// let info = mfw_host::RunInfo { user: "alice".into(), ..Default::default() };
/// assert!(info.tags.is_empty() && info.origin_run_id.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// Who started the run.
    pub user: String,
    /// The user's tags and mfw's, sorted.
    pub tags: Vec<String>,
    /// The run a resumed run resumed.
    pub origin_run_id: Option<String>,
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
            artifacts: NameMap::default(),
            objects: NameMap::default(),
            inputs: Vec::new(),
            foreach_input: None,
            foreach_stack: Vec::new(),
            parameters: Arc::default(),
            max_splits: u32::MAX,
            limits: TaskLimits::default(),
            grants: Grants::default(),
            cancel: None,
            run_info: Arc::default(),
            random_seed: None,
            runs: Default::default(),
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
    /// The task went past one of its limits (memory, time, fuel).
    #[error("{0}")]
    Limit(String),
    /// The run was stopped while the task ran.
    #[error("step `{0}` was interrupted")]
    Interrupted(String),
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
            TaskFailure::Limit(_) => "limit",
            TaskFailure::Interrupted(_) => "interrupted",
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
    /// Every object it ended with, inherited ones keeping their hash.
    pub objects: BTreeMap<String, BlobHash>,
    /// The values and objects it set that must be stored, once each.
    pub new_values: Vec<(BlobHash, Bytes)>,
    /// The `next` it took.
    pub transition: Option<Transition>,
    /// How many items its foreach fans out over.
    pub foreach_count: Option<u32>,
    /// What it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr, with its log messages.
    pub stderr: Vec<u8>,
    /// The most linear memory its instance had, in bytes (0 if it never
    /// started).
    pub memory_bytes: u64,
    /// Whether it asked who it is (`current`: run id, attempt, user,
    /// tags): its result may then depend on the run, so it is never taken
    /// from the cache of another run.
    pub read_run_identity: bool,
    /// The parameters it read: only their values can have changed what it
    /// computed.
    pub parameters_read: std::collections::BTreeSet<String>,
    /// What it read of other runs: each question with its answer's hash
    /// (the answers are among `new_values`).
    pub runs_read: crate::runs::RunsRead,
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
    /// The objects it sees, and the keys a join's inputs disagree on.
    pub(crate) objects: crate::objects::Objects,
    pub(crate) transition: Option<Transition>,
    pub(crate) foreach_count: Option<u32>,
    /// A failure the guest cannot talk its way out of (a bad `next`, an
    /// unreadable blob): it fails the task even if the step then returns Ok.
    pub(crate) failure: Option<TaskFailure>,
    pub(crate) panic_message: Option<String>,
    pub(crate) max_artifact_bytes: u64,
    /// The largest value a task may write through `streams`.
    pub(crate) max_streamed_bytes: u64,
    /// Every distinct value the task set or put, once per hash: a value set
    /// under many names is held once.
    pub(crate) held: std::collections::HashMap<BlobHash, Bytes>,
    /// Their total size, counted against the task's memory limit.
    pub(crate) held_bytes: u64,
    /// Whether the guest asked for its run id, attempt or run info.
    pub(crate) read_run_identity: bool,
    /// The run's parameters the guest read.
    pub(crate) parameters_read: std::collections::BTreeSet<String>,
    /// What it read of other runs.
    pub(crate) reads: crate::runs::Reads,
}

impl Running {
    /// Takes `value` (hashing to `hash`) into the host's keeping, sharing
    /// the copy of an equal value already held. Fails, and fails the task,
    /// when the distinct values held would exceed the task's memory limit:
    /// what a step hands the host counts against its limit too.
    pub(crate) fn hold(&mut self, hash: BlobHash, value: Vec<u8>) -> Result<Bytes, ArtifactError> {
        if let Some(bytes) = self.held.get(&hash) {
            return Ok(bytes.clone());
        }
        let total = self.held_bytes.saturating_add(value.len() as u64);
        let limit = self.spec.limits.memory_bytes;
        if total > limit {
            let message = format!(
                "step `{}` handed the host more artifact and object data than its memory limit \
                 of {} MB ({} MB in distinct values)",
                self.spec.step,
                limit >> 20,
                total >> 20
            );
            self.fail(TaskFailure::Limit(message.clone()));
            return Err(ArtifactError::Storage(message));
        }
        let bytes = Bytes::from(value);
        self.held_bytes = total;
        self.held.insert(hash, bytes.clone());
        Ok(bytes)
    }

    /// Refuses a value of `len` bytes handed over in one call: over the
    /// artifact limit the guest gets `too-large` (it may stream the value
    /// instead); far over it, the step fails whatever the guest does next,
    /// as a hostile or broken step must.
    pub(crate) fn check_call(&mut self, len: usize) -> Result<(), ArtifactError> {
        let len = len as u64;
        if len <= self.max_artifact_bytes {
            return Ok(());
        }
        if len > self.max_artifact_bytes.saturating_add(HOSTCALL_MARGIN) {
            self.fail(TaskFailure::Limit(format!(
                "step `{}` passed the host more data in one call than it accepts: artifacts are \
                 limited to {} MB",
                self.spec.step,
                self.max_artifact_bytes >> 20
            )));
        }
        Err(ArtifactError::TooLarge(self.max_artifact_bytes))
    }

    /// Records the first failure; later ones are consequences.
    pub(crate) fn fail(&mut self, failure: TaskFailure) {
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
    }

    /// The bytes of the blob `hash`, which this task knows as `what`.
    pub(crate) fn load(&mut self, hash: &BlobHash, what: &str) -> Result<Bytes, ArtifactError> {
        self.blobs
            .load(hash)
            .map_err(|e| self.storage_failure(&format!("cannot read {what}"), &e))
    }

    /// The datastore failed while this task was `doing` something: a step
    /// cannot handle that, so it fails the task too; the guest is told.
    pub(crate) fn storage_failure(
        &mut self,
        doing: &str,
        error: &dyn std::error::Error,
    ) -> ArtifactError {
        let message = format!(
            "{doing} for task {}: {}",
            self.spec.pathspec(),
            error_chain(error)
        );
        self.fail(TaskFailure::Host(message.clone()));
        ArtifactError::Storage(message)
    }
}

/// `error` and its causes, as one line, each cause once: what a task's
/// failure, its record, and mfw's own error messages keep of an error.
/// Many errors (the store's, the file system's) already include their
/// cause's text; printing it again made a full disk say so four times.
///
/// ```
/// let io = std::io::Error::other("disk full");
/// assert_eq!(mfw_host::error_chain(&io), "disk full");
/// ```
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let line = e.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = e.source();
    }
    text
}

/// Enforces a task's memory limit and remembers that it was hit, so the
/// failure that follows (a trap, or an allocation error the guest reports)
/// is explained as the limit.
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub(crate) exceeded: Option<usize>,
    /// The linear memory the instance's memories have grown to, together
    /// (they never shrink): its peak.
    pub(crate) grown: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.exceeded = Some(desired);
            return Ok(false);
        }
        self.grown = self.grown.saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold references; a million is far beyond any real flow.
        Ok(desired <= 1_000_000)
    }
}

/// A store's data: WASI, plus the task when one runs.
pub(crate) struct TaskState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) task: Option<Running>,
    /// When the task must stop (its deadline, Ctrl-C), for its waits too.
    pub(crate) stop: Stop,
    pub(crate) stderr: Option<Capture>,
    /// The task's stdout, which may hold a value being written.
    pub(crate) stdout: Option<Capture>,
    pub(crate) limiter: Limiter,
}

impl TaskState {
    /// For reading the graph: WASI with nothing granted and output dropped.
    pub(crate) fn without_task() -> Self {
        let discard = Capture::new(OutputStream::Stderr, None);
        Self {
            wasi: sandbox::wasi_for_task(
                b"graph",
                discard.clone(),
                discard,
                &Grants::default(),
                None,
            )
            .unwrap_or_else(|_| wasmtime_wasi::WasiCtxBuilder::new().build()),
            table: ResourceTable::new(),
            task: None,
            stop: Stop::default(),
            stderr: None,
            stdout: None,
            limiter: Limiter {
                memory_bytes: usize::MAX,
                exceeded: None,
                grown: 0,
            },
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
        let seed = match &spec.random_seed {
            Some(key) => key.as_bytes().to_vec(),
            None => format!("{}/{}/{}", spec.flow, spec.step, spec.task_id).into_bytes(),
        };
        let step = spec.step.clone();
        let limits = spec.limits.clone();
        let cancel = spec.cancel.clone();
        let failed = |failure: TaskFailure, stdout: &Capture, stderr: &Capture| TaskOutcome {
            failure: Some(failure),
            artifacts: BTreeMap::new(),
            objects: BTreeMap::new(),
            new_values: Vec::new(),
            transition: None,
            foreach_count: None,
            stdout: stdout.finish(),
            stderr: stderr.finish(),
            memory_bytes: 0,
            read_run_identity: false,
            parameters_read: Default::default(),
            runs_read: Default::default(),
        };
        // Before the task's clock starts: a component whose graph came
        // from the cache is compiled by its first task.
        let compiled = match inner.compiled() {
            Ok(compiled) => compiled,
            Err(e) => {
                let message = format!("cannot compile {}: {}", inner.name, error_chain(&e));
                return failed(TaskFailure::Host(message), &stdout, &stderr);
            }
        };
        let wasi = match sandbox::wasi_for_task(
            &seed,
            stdout.clone(),
            stderr.clone(),
            &spec.grants,
            inner.files.as_ref().map(|f| f.path()),
        ) {
            Ok(wasi) => wasi,
            Err(e) => {
                let message = format!(
                    "step `{step}` cannot be given its grants: {}",
                    error_chain(&e)
                );
                return failed(TaskFailure::Host(message), &stdout, &stderr);
            }
        };
        let artifacts = spec
            .artifacts
            .iter()
            .map(|(k, v)| (k.clone(), Slot::Stored(*v)))
            .collect();
        let objects = crate::objects::Objects::inherited(&spec);
        let running = Running {
            spec,
            graph: inner.graph.clone(),
            blobs,
            artifacts,
            objects,
            transition: None,
            foreach_count: None,
            failure: None,
            panic_message: None,
            max_artifact_bytes: inner.config().max_artifact_bytes,
            max_streamed_bytes: inner.config().max_streamed_bytes,
            held: std::collections::HashMap::new(),
            held_bytes: 0,
            read_run_identity: false,
            parameters_read: Default::default(),
            reads: Default::default(),
        };
        let state = TaskState {
            wasi,
            table: ResourceTable::new(),
            task: Some(running),
            stop: Stop::default(),
            stderr: Some(stderr.clone()),
            stdout: Some(stdout.clone()),
            limiter: Limiter {
                memory_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                exceeded: None,
                grown: 0,
            },
        };
        let mut store = Store::new(inner.engine(), state);
        store.limiter(|state| &mut state.limiter);
        // What one call copies out of the guest is bounded by the guest's
        // own memory, which its limit bounds. wasmtime's fuel is only the
        // backstop (its error has no type of its own); the host refuses
        // oversized values itself, by type (`Running::check_call`).
        let hostcall_limit = limits
            .memory_bytes
            .max(inner.config().max_artifact_bytes)
            .saturating_add(HOSTCALL_MARGIN);
        store.set_hostcall_fuel(usize::try_from(hostcall_limit).unwrap_or(usize::MAX));
        if inner.config().fuel {
            // Without a fuel limit a task still needs some to run at all.
            let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
        }
        // The timeout and Ctrl-C, while the guest runs and while it waits.
        stop_store_at(&mut store, Stop::new(limits.timeout, cancel));
        let result = match compiled.pre.instantiate(&mut store) {
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
        let memory_exceeded = store.data().limiter.exceeded;
        let memory_bytes = store.data().limiter.grown as u64;
        let timed_out = store.data().stop.timed_out();
        let Some(mut task) = store.data_mut().task.take() else {
            let failure = TaskFailure::Host("mfw lost the task's state".to_string());
            return failed(failure, &stdout, &stderr);
        };
        drop(store);
        let limit = |what: String| Some(TaskFailure::Limit(what));
        let memory_message = |_| {
            format!(
                "step `{step}` exceeded its memory limit of {} MB",
                limits.memory_bytes >> 20
            )
        };
        let failure = match result {
            Ok(Ok(())) => task.failure.take().or_else(|| missing_next(&task)),
            // The guest may report an allocation failure as an error.
            Ok(Err(_)) if memory_exceeded.is_some() => limit(memory_message(())),
            Ok(Err(e)) => task.failure.take().or(Some(TaskFailure::StepError {
                step: step.clone(),
                kind: bounded(e.kind, MAX_KIND_BYTES),
                message: bounded(e.message, MAX_MESSAGE_BYTES),
                detail: bounded(e.detail, MAX_DETAIL_BYTES),
            })),
            Err(Some(trap)) => match trap.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::Interrupt) if timed_out => limit(format!(
                    "step `{step}` timed out after {} s",
                    limits.timeout.map_or(0.0, |t| t.as_secs_f64())
                )),
                Some(wasmtime::Trap::Interrupt) => Some(TaskFailure::Interrupted(step.clone())),
                Some(wasmtime::Trap::OutOfFuel) => limit(format!(
                    "step `{step}` ran out of fuel ({} units)",
                    limits.fuel.unwrap_or(0)
                )),
                _ if memory_exceeded.is_some() => limit(memory_message(())),
                // A failure the host recorded (an oversized call) caused the trap.
                _ if task.failure.is_some() => task.failure.take(),
                _ => Some(match task.panic_message.take() {
                    Some(message) => TaskFailure::Panic {
                        step: step.clone(),
                        message,
                    },
                    None => describe_trap(&step, &trap),
                }),
            },
            Err(None) => task.failure.take(),
        };
        // Each distinct value set, once, unless the task inherited it.
        let inherited: std::collections::HashSet<&BlobHash> =
            task.spec.artifacts.values().collect();
        let mut new_values: Vec<(BlobHash, Bytes)> = Vec::new();
        let mut queued = std::collections::HashSet::new();
        let mut add_new = |slot: &Slot| {
            if let Slot::Set(hash, bytes) = slot
                && !inherited.contains(hash)
                && queued.insert(*hash)
            {
                new_values.push((*hash, bytes.clone()));
            }
        };
        let mut final_artifacts = BTreeMap::new();
        for (name, slot) in task.artifacts {
            add_new(&slot);
            final_artifacts.insert(name, slot.hash());
        }
        let mut final_objects = BTreeMap::new();
        for (key, slot) in task.objects.seen {
            add_new(&slot);
            final_objects.insert(key, slot.hash());
        }
        for (hash, bytes) in std::mem::take(&mut task.reads.answer_bytes) {
            if queued.insert(hash) {
                new_values.push((hash, bytes));
            }
        }
        TaskOutcome {
            failure,
            artifacts: final_artifacts,
            objects: final_objects,
            new_values,
            transition: task.transition,
            foreach_count: task.foreach_count,
            stdout: stdout.finish(),
            stderr: stderr.finish(),
            memory_bytes,
            read_run_identity: task.read_run_identity,
            parameters_read: task.parameters_read,
            runs_read: task.reads.answers,
        }
    }
}

/// The longest error kind, message and detail (traceback) a failure keeps:
/// a step's error is shown on the terminal and stored in the run's record,
/// and a guest decides its size.
const MAX_KIND_BYTES: usize = 256;
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 << 10;
const MAX_DETAIL_BYTES: usize = 256 << 10;

/// `text` cut to at most `limit` bytes (at a character boundary), saying how
/// much was left out; the whole of what the step wrote is in its log.
pub(crate) fn bounded(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let left_out = text.len() - cut;
    text.truncate(cut);
    text.push_str(&format!(" ... ({left_out} bytes more)"));
    text
}

fn missing_next(task: &Running) -> Option<TaskFailure> {
    let step = task.graph.step(&task.spec.step)?;
    // `end` declares no next; every other step must have called it.
    if step.next.is_empty() || task.transition.is_some() {
        return None;
    }
    Some(TaskFailure::Next(format!(
        "step `{}` returned without calling next; its graph declares {}",
        step.name,
        Transition::declared_text(step)
    )))
}

/// How far past the artifact limit one call may go and still be a
/// mistake the guest can handle (`too-large`) rather than a failed step.
const HOSTCALL_MARGIN: u64 = 64 << 20;

/// How many of the backtrace's frames (wasmtime keeps the top 20) must be
/// the trapping function for an out-of-bounds access to be taken for a
/// stack overflow: all of them, a function deep in itself.
const DEEP_RECURSION: usize = 20;

fn describe_trap(step: &str, error: &wasmtime::Error) -> TaskFailure {
    // How many frames down from the top are the top frame's function.
    let recursion = error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .and_then(|b| {
            let top = b.frames().first()?.func_index();
            Some(b.frames().iter().filter(|f| f.func_index() == top).count())
        })
        .unwrap_or(0);
    let message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap @ wasmtime::Trap::StackOverflow) => {
            format!("stack overflow: the step recursed too deeply ({trap})")
        }
        // Rust and C keep locals on a stack in linear memory, below the
        // data: running past its bottom reads out of bounds. A trap that
        // deep in calls is that, not a stray pointer.
        Some(trap @ wasmtime::Trap::MemoryOutOfBounds) if recursion >= DEEP_RECURSION => format!(
            "stack overflow: the step recursed too deeply ({trap} in a function at least \
             {recursion} calls deep in itself, past the bottom of its stack)"
        ),
        Some(trap) => trap.to_string(),
        // Not a wasm trap: say what went wrong, not where in the backtrace.
        None => error.root_cause().to_string(),
    };
    TaskFailure::Trap {
        step: step.to_string(),
        message,
        detail: format!("{error:?}"),
    }
}
