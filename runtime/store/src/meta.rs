//! The records the datastore keeps for runs and tasks.

use std::collections::BTreeMap;

use mfw_graph::{BlobHash, FlowGraph, ForeachFrame, Transition};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, for record timestamps.
///
/// ```
/// assert!(mfw_store::now_millis() > 1_700_000_000_000);
/// ```
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (or its process died: see `mfw resume`).
    Running,
    /// Every task succeeded.
    Succeeded,
    /// A task failed, or the flow could not start.
    Failed,
    /// Stopped by the user (Ctrl-C).
    Interrupted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        })
    }
}

/// A component a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// Its blake3; the bytes are at `components/<hash>.wasm`.
    pub hash: BlobHash,
    /// Where it was built from or loaded, as the user named it.
    pub source: String,
    /// The SDK that built it.
    pub sdk: String,
    /// The steps it provides.
    pub steps: Vec<String>,
    /// Each step's own code identity, when the build that made the
    /// component here computed one (Python): task keys use it instead of
    /// the component's hash, so editing one step reruns only that step.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub step_code: BTreeMap<String, BlobHash>,
}

/// One run of a flow: `flows/<Flow>/runs/<run>/run.json`.
///
/// ```
/// let run = mfw_store::RunRecord::new("HelloFlow");
/// assert_eq!(run.status, mfw_store::RunStatus::Running);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The record format; 1 for this version.
    pub format: u32,
    /// The flow's name.
    pub flow: String,
    /// Unique within the flow.
    pub run_id: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// When it started (ms since the epoch).
    pub started_at: u64,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The mfw version that ran it.
    pub mfw_version: String,
    /// The validated graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<FlowGraph>,
    /// Parameter values, encoded, by blob hash.
    #[serde(default)]
    pub parameters: BTreeMap<String, BlobHash>,
    /// The components that hold the flow's steps.
    #[serde(default)]
    pub components: Vec<ComponentRecord>,
    /// The run this one resumed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_run_id: Option<String>,
    /// Why the run failed, in one paragraph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tasks that finished, succeeded or failed.
    #[serde(default)]
    pub tasks_succeeded: u64,
    /// Tasks that failed.
    #[serde(default)]
    pub tasks_failed: u64,
    /// Tasks reused from earlier runs (`mfw resume`) instead of running;
    /// they count among `tasks_succeeded` too.
    #[serde(default)]
    pub tasks_reused: u64,
    /// Tasks taken from the cache (an earlier task with the same task key)
    /// instead of running; they count among `tasks_succeeded` too.
    #[serde(default)]
    pub tasks_cached: u64,
    /// Tags the user gave when starting the run (`mfw run --tag`); later
    /// changes (`mfw tag`) live beside the record, see
    /// `Datastore::run_tags`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Tags mfw gives every run: `user:NAME` (its namespace, as in
    /// Metaflow), `runtime:mfw`, `mfw_version:X`, `date:YYYY-MM-DD`.
    /// Empty for runs recorded before mfw tagged runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system_tags: Vec<String>,
    /// What started the run, when a deployment was triggered (Metaflow's
    /// `current.trigger`); none when a user started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<RunTrigger>,
}

/// What started a run of a deployed flow: another flow's run succeeding
/// (`@trigger_on_finish`), or an event (`@trigger`, `mfw event send`).
///
/// ```
/// let t = mfw_store::RunTrigger::Run { flow: "TrainFlow".into(), run_id: "7".into() };
/// assert_eq!(t.to_string(), "run TrainFlow/7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunTrigger {
    /// A run that succeeded.
    Run {
        /// Its flow.
        flow: String,
        /// Its id.
        run_id: String,
    },
    /// An event.
    Event {
        /// Its name.
        name: String,
        /// Its payload, a JSON object's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
    },
}

impl std::fmt::Display for RunTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunTrigger::Run { flow, run_id } => write!(f, "run {flow}/{run_id}"),
            RunTrigger::Event { name, .. } => write!(f, "event {name}"),
        }
    }
}

/// A flow deployed to start on its own: `deployments/<Flow>.json`, written
/// by `mfw deploy`. Its package (the components, stored) runs when a run
/// of a flow in `on_finish` succeeds or an event in `events` is sent.
///
/// ```
/// let d = mfw_store::Deployment {
///     flow: "PredictFlow".into(),
///     package: mfw_store::BlobHash::of(b"a package"),
///     on_finish: vec!["TrainFlow".into()],
///     events: vec![],
///     deployed_at: 0,
///     user: "alice".into(),
///     allow_grants: false,
///     kubernetes: None,
/// };
/// assert!(d.starts_on_finish_of("TrainFlow") && !d.starts_on_event("x"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The flow.
    pub flow: String,
    /// The stored package of its components (`mfw run package:<hash>`).
    pub package: BlobHash,
    /// The flows whose successful runs start it.
    #[serde(default)]
    pub on_finish: Vec<String>,
    /// The events that start it.
    #[serde(default)]
    pub events: Vec<String>,
    /// When it was deployed (ms since the epoch).
    pub deployed_at: u64,
    /// Who deployed it; its runs are this user's.
    pub user: String,
    /// Whether the deployer accepted the grants of its steps.
    #[serde(default)]
    pub allow_grants: bool,
    /// Where it runs when triggered: a Kubernetes CronJob holding its job
    /// (`mfw kubernetes deploy`); none: a child `mfw run` of whoever
    /// triggers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesDeployment>,
}

/// A deployment's place in a cluster: the suspended CronJob its triggers
/// start jobs from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesDeployment {
    /// The namespace.
    pub namespace: String,
    /// The CronJob's name.
    pub cronjob: String,
}

impl Deployment {
    /// Whether a successful run of `flow` starts it.
    pub fn starts_on_finish_of(&self, flow: &str) -> bool {
        self.on_finish.iter().any(|f| f == flow)
    }

    /// Whether event `name` starts it.
    pub fn starts_on_event(&self, name: &str) -> bool {
        self.events.iter().any(|e| e == name)
    }
}

impl RunRecord {
    /// A new running record for `flow`, without a run id yet.
    pub fn new(flow: &str) -> Self {
        Self {
            format: 1,
            flow: flow.to_string(),
            run_id: String::new(),
            status: RunStatus::Running,
            started_at: now_millis(),
            finished_at: None,
            mfw_version: env!("CARGO_PKG_VERSION").to_string(),
            graph: None,
            parameters: BTreeMap::new(),
            components: Vec::new(),
            origin_run_id: None,
            error: None,
            tasks_succeeded: 0,
            tasks_failed: 0,
            tasks_reused: 0,
            tasks_cached: 0,
            tags: Vec::new(),
            system_tags: Vec::new(),
            trigger: None,
        }
    }

    /// Who started the run: its `user:` system tag, empty if it has none.
    ///
    /// ```
    /// let mut run = mfw_store::RunRecord::new("F");
    /// run.system_tags = vec!["runtime:mfw".into(), "user:ana".into()];
    /// assert_eq!(run.user(), "ana");
    /// ```
    pub fn user(&self) -> &str {
        self.system_tags
            .iter()
            .find_map(|t| t.strip_prefix("user:"))
            .unwrap_or_default()
    }

    /// How long the run took, or has taken so far, in milliseconds.
    pub fn duration_millis(&self) -> u64 {
        self.finished_at
            .unwrap_or_else(now_millis)
            .saturating_sub(self.started_at)
    }
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// The step returned normally and its `next` matched the graph.
    Succeeded,
    /// Every attempt failed.
    Failed,
}

/// Why a task attempt failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// `step-error` (the step returned one), `trap` (it crashed), `next`
    /// (a transition the graph does not declare), `host` (mfw failed).
    pub kind: String,
    /// One line for the summary.
    pub message: String,
    /// A traceback or other detail; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// For a step's own error: its kind as the step named it (an exception
    /// class such as `KeyError`); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step_kind: String,
    /// For a step's own error: its message, without the summary's prefix.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step_message: String,
}

/// One attempt at a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 0 for the first.
    pub attempt: u32,
    /// When it started (ms since the epoch).
    pub started_at: u64,
    /// When it finished.
    pub finished_at: u64,
    /// How it ended.
    pub status: TaskStatus,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskError>,
    /// Its stdout, if it wrote any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<BlobHash>,
    /// Its stderr and log messages, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<BlobHash>,
    /// The most memory its instance had, in bytes: what
    /// `@resources(memory=...)` must allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
}

/// One task: `flows/<Flow>/runs/<run>/tasks/<step>/<task>.json`, written
/// once per attempt, when the attempt ends.
///
/// ```
/// let task = mfw_store::TaskRecord::new("HelloFlow", "1", "start", "0");
/// assert_eq!(task.pathspec(), "HelloFlow/1/start/0");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The record format; 1 for this version.
    pub format: u32,
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: String,
    /// The step.
    pub step: String,
    /// `0`, or the foreach indices joined by `.`.
    pub task_id: String,
    /// How the last attempt ended.
    pub status: TaskStatus,
    /// Every attempt, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Every artifact the task ended with (inherited ones included), by
    /// blob hash; an inherited value keeps its parent's hash.
    #[serde(default)]
    pub artifacts: BTreeMap<String, BlobHash>,
    /// The objects it saw when it ended (Metaflow's `S3(run=self)`): those
    /// it put and those it inherited, by key, as blob hashes. They pass to
    /// the next steps with the artifacts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, BlobHash>,
    /// The tasks it came from, as `step/task`.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Enclosing foreach loops, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreach: Vec<ForeachFrame>,
    /// The `next` it took, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Transition>,
    /// How many tasks its foreach created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splits: Option<u32>,
    /// The component that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<BlobHash>,
    /// The run it was cloned from by `mfw resume` or the cache, if it did
    /// not run here: the run where it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloned_from: Option<String>,
    /// Whether it was taken from the cache: an earlier task with the same
    /// task key (in `cloned_from`) had computed it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// The worker image that ran it, when it ran in a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// What the task was granted beyond its artifacts (`read /data=...`,
    /// `env NAME`, `connect host:port`, `clock`, `random`); empty if nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
    /// One hash over everything the task was given (its place, the run's
    /// parameters, what it inherited, its foreach item): `mfw resume`
    /// reuses a task only for the same inputs. Absent from records that
    /// earlier versions of mfw wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_key: Option<BlobHash>,
    /// One hash over everything that can change what the task computed:
    /// its input key, its component, its decorators, its grants, the
    /// contract version and the host's determinism settings (see
    /// docs/reproducibility.md). A clone keeps the key of the task that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_key: Option<BlobHash>,
    /// The task key without the run's parameters: the cache finds a task
    /// by it, then compares the parameters it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<BlobHash>,
    /// The parameters the task read, with their values' hashes (when it
    /// succeeded): only these can have changed what it computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters_read: Option<BTreeMap<String, BlobHash>>,
    /// What the task read of other runs (Metaflow's client inside a step):
    /// each question (`run TrainFlow/7`) with the blake3 of the answer it
    /// was given, which is stored with its values. The cache reuses the
    /// task only while every answer is the same; replay gives it these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_read: Option<BTreeMap<String, BlobHash>>,
    /// The cards the task made (`@card`), by card id (`default` for the
    /// card without one): each a JSON document of its type and components
    /// (docs/ui.md), stored as a blob. Unlike objects, they are not passed
    /// on to the next steps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cards: BTreeMap<String, BlobHash>,
}

/// What a running task has written so far (the end of each stream), as
/// `flows/<Flow>/runs/<run>/live/<step>/<task>.json`: stored every second
/// or so while the task runs, removed when the run ends. The task's record,
/// once written, holds its whole output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveLog {
    /// The end of its stdout.
    pub stdout: String,
    /// The end of its stderr.
    pub stderr: String,
    /// When this was stored (ms since the epoch).
    pub at: u64,
}

/// The object keys under which a step hands the host its cards: `put`
/// under `mfw.cards/<id>` makes a card, not an object.
pub const CARD_PREFIX: &str = "mfw.cards/";

/// `objects` (what a task ended with, by key) without its cards, and the
/// cards by id.
///
/// ```
/// use std::collections::BTreeMap;
/// use mfw_store::{BlobHash, split_cards};
///
/// let hash = BlobHash::of(b"x");
/// let objects = BTreeMap::from([
///     ("models/a.pkl".to_string(), hash),
///     ("mfw.cards/default".to_string(), hash),
/// ]);
/// let (objects, cards) = split_cards(&objects);
/// assert_eq!(objects.keys().collect::<Vec<_>>(), ["models/a.pkl"]);
/// assert_eq!(cards.keys().collect::<Vec<_>>(), ["default"]);
/// ```
pub fn split_cards(
    objects: &BTreeMap<String, BlobHash>,
) -> (BTreeMap<String, BlobHash>, BTreeMap<String, BlobHash>) {
    let mut kept = BTreeMap::new();
    let mut cards = BTreeMap::new();
    for (key, hash) in objects {
        match key.strip_prefix(CARD_PREFIX) {
            Some(id) => cards.insert(id.to_string(), *hash),
            None => kept.insert(key.clone(), *hash),
        };
    }
    (kept, cards)
}

impl TaskRecord {
    /// An empty succeeded record, to fill in.
    pub fn new(flow: &str, run_id: &str, step: &str, task_id: &str) -> Self {
        Self {
            format: 1,
            flow: flow.to_string(),
            run_id: run_id.to_string(),
            step: step.to_string(),
            task_id: task_id.to_string(),
            status: TaskStatus::Succeeded,
            attempts: Vec::new(),
            artifacts: BTreeMap::new(),
            objects: BTreeMap::new(),
            parents: Vec::new(),
            foreach: Vec::new(),
            next: None,
            splits: None,
            component: None,
            cloned_from: None,
            cached: false,
            image: None,
            grants: Vec::new(),
            input_key: None,
            task_key: None,
            cache_key: None,
            parameters_read: None,
            runs_read: None,
            cards: BTreeMap::new(),
        }
    }

    /// `Flow/run/step/task`, the path users type.
    pub fn pathspec(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.flow, self.run_id, self.step, self.task_id
        )
    }

    /// The last attempt, if any ran.
    pub fn last_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
}

/// Orders task ids by their numeric foreach indices (`2` before `10`),
/// then a loop's repeats (`0_2` before `0_10`).
///
/// ```
/// assert!(mfw_store::task_order("2", "10").is_lt());
/// assert!(mfw_store::task_order("3", "3_1").is_lt());
/// assert!(mfw_store::task_order("3_2", "3_10").is_lt());
/// ```
pub fn task_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |id: &str| -> Vec<u64> {
        id.split(['.', '_'])
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect()
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// Part of the cache's index of one step (see `TaskRecord::cache_key`):
/// `cache/<step key>/<blake3 of the segment>.json`, what one run (or one
/// remote worker) remembered of the tasks of that step it ran. A run adds a
/// segment and never rewrites one, so runs sharing a datastore never lose
/// each other's entries; a reader merges a step's segments, newest first.
///
/// ```
/// let task = mfw_store::TaskRecord::new("TrainFlow", "7", "train", "2");
/// let key = mfw_store::BlobHash::of(b"a cache key");
/// let segment = mfw_store::CacheSegment {
///     entries: vec![mfw_store::CacheEntry {
///         key,
///         variant: mfw_store::CacheVariant::of(&task, Default::default()),
///     }],
/// };
/// assert_eq!(segment.entries[0].variant.pathspec(), "TrainFlow/7/train/2");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheSegment {
    /// Oldest first.
    pub entries: Vec<CacheEntry>,
}

/// A task that computed a cache key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The task's cache key.
    pub key: BlobHash,
    /// The task, and the parameters it read.
    pub variant: CacheVariant,
}

/// One task that computed a cache key, and the parameters it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheVariant {
    /// The parameters the task read, with their values' hashes.
    pub parameters: BTreeMap<String, BlobHash>,
    /// The flow of the task that ran.
    pub flow: String,
    /// Its run.
    pub run_id: String,
    /// Its step.
    pub step: String,
    /// Its task id.
    pub task_id: String,
}

impl CacheVariant {
    /// The variant naming `record`, which read `parameters`.
    pub fn of(record: &TaskRecord, parameters: BTreeMap<String, BlobHash>) -> Self {
        Self {
            parameters,
            flow: record.flow.clone(),
            run_id: record.run_id.clone(),
            step: record.step.clone(),
            task_id: record.task_id.clone(),
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

fn yes() -> bool {
    true
}

/// One input of a join task in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInput {
    /// The step it came from.
    pub step: String,
    /// Its task id.
    pub task_id: String,
    /// Its artifacts.
    pub artifacts: BTreeMap<String, BlobHash>,
    /// Its objects.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, BlobHash>,
}

/// One task of a batch: everything a worker needs to run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTask {
    /// Its foreach indices (empty outside a foreach).
    pub path: Vec<u32>,
    /// Its repeat in a recursive switch's loop (0 outside one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iteration: u32,
    /// What it inherits.
    pub artifacts: BTreeMap<String, BlobHash>,
    /// The objects it inherits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub objects: BTreeMap<String, BlobHash>,
    /// A join's inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<BatchInput>,
    /// Enclosing foreach loops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreach: Vec<ForeachFrame>,
    /// Each loop's item, as (the list's blob, the index in it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreach_items: Vec<(BlobHash, u32)>,
    /// The tasks it came from.
    #[serde(default)]
    pub parents: Vec<String>,
}

/// Tasks of one step handed to remote workers (a Kubernetes Job): the
/// workers get only this record's name and their shard index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: String,
    /// The step every task runs.
    pub step: String,
    /// The component with that step, by hash.
    pub component: BlobHash,
    /// Memory per task in MB, unless the step's decorators say otherwise.
    pub memory_mb: u64,
    /// Wall time per attempt in milliseconds, unless the step says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Fuel per attempt, when the run meters fuel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// The most tasks one foreach may create.
    pub max_splits: u32,
    /// Whether tasks may be taken from and put in the cache.
    #[serde(default = "yes")]
    pub cache: bool,
    /// The tasks; worker `i` of `n` runs those at positions `i, i+n, ...`.
    pub tasks: Vec<BatchTask>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
