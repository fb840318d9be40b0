//! Unit tests of the scheduler and the task runner: flows whose steps are
//! scripted (no wasm), run over the in-memory datastore.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::TryStreamExt as _;
use futures::future::BoxFuture;
use mfw_encoding::Value;
use mfw_graph::{BlobHash, Decorator, FlowGraph, Step, Transition};
use mfw_host::{BlobSource, OutputSink, TaskFailure, TaskOutcome, TaskSpec};
use mfw_store::{Datastore, RunStatus, TaskRecord, TaskStatus};
use object_store::ObjectStore as _;
use object_store::ObjectStoreExt as _;

use crate::executor::{Executor, ReadyTasks, TaskEnds};
use crate::run::run_with_code;
use crate::scheduler::Scheduler;
use crate::task::{ReadyTask, StepCode, TaskContext};
use crate::{FlowPlan, OrchestratorError, Resume, RunOptions, RunSummary, StoreBlobs};

/// What a scripted step does on one attempt.
enum Act {
    /// Sets these artifacts and takes the declared transition.
    Succeed(Vec<(&'static str, Value)>),
    /// Fails with a step error.
    Fail(&'static str),
    /// Sets these artifacts and takes the switch's case to this step.
    Choose(Vec<(&'static str, Value)>, &'static str),
}

type Behaviour = Box<dyn Fn(&TaskSpec) -> Act + Send + Sync>;

/// A task as the scripted code saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    task: String,
    attempt: u32,
    artifacts: Vec<String>,
    inputs: Vec<String>,
    item: Option<Value>,
}

/// Steps' code as closures: a step without one succeeds, setting nothing.
struct Script {
    graph: Arc<FlowGraph>,
    steps: HashMap<&'static str, Behaviour>,
    seen: Mutex<Vec<Seen>>,
    /// Which version of the code runs: every step's component changes
    /// with it.
    version: std::sync::atomic::AtomicU32,
}

impl Script {
    fn new(graph: &FlowGraph) -> Self {
        Self {
            graph: Arc::new(graph.clone()),
            steps: HashMap::new(),
            seen: Mutex::default(),
            version: Default::default(),
        }
    }

    /// The user edited the flow: every step has a new component.
    fn change_code(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn step(
        mut self,
        name: &'static str,
        act: impl Fn(&TaskSpec) -> Act + Send + Sync + 'static,
    ) -> Self {
        self.steps.insert(name, Box::new(act));
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The tasks that ran, in the order they started.
    fn order(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.task).collect()
    }
}

impl StepCode for Script {
    fn component(&self, _step: &str) -> Option<BlobHash> {
        let version = self.version.load(std::sync::atomic::Ordering::Relaxed);
        Some(BlobHash::of(&version.to_le_bytes()))
    }

    fn run(
        &self,
        spec: TaskSpec,
        blobs: Arc<dyn BlobSource>,
        _sink: Option<OutputSink>,
    ) -> TaskOutcome {
        let item = spec
            .foreach_input
            .as_ref()
            .map(|b| mfw_encoding::decode(b).unwrap());
        self.seen.lock().unwrap().push(Seen {
            task: format!("{}/{}", spec.step, spec.task_id),
            attempt: spec.attempt,
            artifacts: spec.artifacts.keys().cloned().collect(),
            inputs: spec
                .inputs
                .iter()
                .map(|i| format!("{}/{}", i.step, i.task_id))
                .collect(),
            item,
        });
        let act = match self.steps.get(spec.step.as_str()) {
            Some(behaviour) => behaviour(&spec),
            None => Act::Succeed(Vec::new()),
        };
        let mut outcome = TaskOutcome {
            failure: None,
            artifacts: (*spec.artifacts).clone(),
            objects: BTreeMap::new(),
            new_values: Vec::new(),
            transition: None,
            foreach_count: None,
            stdout: format!("ran {}\n", spec.step).into_bytes(),
            stderr: Vec::new(),
            memory_bytes: 1 << 20,
            read_run_identity: false,
            parameters_read: Default::default(),
            runs_read: Default::default(),
        };
        match act {
            Act::Fail(message) => {
                outcome.failure = Some(TaskFailure::StepError {
                    step: spec.step.clone(),
                    kind: "ValueError".to_string(),
                    message: message.to_string(),
                    detail: String::new(),
                });
            }
            Act::Choose(set, target) => {
                for (name, value) in set {
                    let bytes = Bytes::from(mfw_encoding::encode(&value));
                    let hash = BlobHash::of(&bytes);
                    outcome.artifacts.insert(name.to_string(), hash);
                    outcome.new_values.push((hash, bytes));
                }
                outcome.transition = Some(Transition::Steps(vec![target.to_string()]));
            }
            Act::Succeed(set) => {
                for (name, value) in set {
                    let bytes = Bytes::from(mfw_encoding::encode(&value));
                    let hash = BlobHash::of(&bytes);
                    outcome.artifacts.insert(name.to_string(), hash);
                    outcome.new_values.push((hash, bytes));
                }
                let step = self.graph.step(&spec.step).unwrap();
                outcome.transition = Transition::declared_by(step);
                if let Some(Transition::Foreach { over, .. }) = &outcome.transition {
                    // The list was set in this attempt, or inherited.
                    let hash = outcome.artifacts[over];
                    let list = match outcome.new_values.iter().find(|(h, _)| *h == hash) {
                        Some((_, bytes)) => bytes.clone(),
                        None => blobs.load(&hash).unwrap(),
                    };
                    let count = mfw_encoding::array_items(&list).unwrap().len();
                    outcome.foreach_count = Some(count as u32);
                }
            }
        }
        outcome
    }
}

fn ints(values: impl IntoIterator<Item = i128>) -> Value {
    Value::Array(values.into_iter().map(Value::Integer).collect())
}

fn memory_store() -> Datastore {
    memory_store_and_backend().0
}

/// A store in memory, and its objects to damage.
fn memory_store_and_backend() -> (Datastore, Arc<object_store::memory::InMemory>) {
    let backend = Arc::new(object_store::memory::InMemory::new());
    (Datastore::with_backend(backend.clone(), "memory"), backend)
}

/// A plan of `graph` with no components: the script stands in for them.
fn plan(graph: FlowGraph) -> FlowPlan {
    let topology = graph.validate().expect("a valid test graph");
    FlowPlan {
        graph: Arc::new(graph),
        topology: Arc::new(topology),
        components: Vec::new(),
        step_component: HashMap::new(),
    }
}

fn options(workers: usize) -> RunOptions {
    RunOptions {
        max_workers: workers,
        user: "tester".to_string(),
        ..RunOptions::default()
    }
}

async fn run(
    store: &Datastore,
    plan: &FlowPlan,
    script: &Arc<Script>,
    options: RunOptions,
) -> Result<RunSummary, OrchestratorError> {
    run_with_code(store, plan, options, script.clone()).await
}

/// The tasks that failed the run.
fn failed(summary: &RunSummary) -> Vec<String> {
    summary
        .failures
        .iter()
        .map(|(k, _)| k.to_string())
        .collect()
}

async fn record(store: &Datastore, summary: &RunSummary, task: &str) -> TaskRecord {
    let (step, id) = task.split_once('/').unwrap();
    store
        .read_task(&summary.flow, &summary.run_id, step, id)
        .await
        .unwrap_or_else(|e| panic!("no record of {task}: {e}"))
}

async fn recorded(store: &Datastore, summary: &RunSummary) -> Vec<String> {
    let tasks = store
        .list_tasks(&summary.flow, &summary.run_id)
        .await
        .unwrap();
    let mut all: Vec<String> = tasks
        .values()
        .flatten()
        .map(|t| format!("{}/{}", t.step, t.task_id))
        .collect();
    all.sort();
    all
}

async fn value(store: &Datastore, record: &TaskRecord, name: &str) -> Value {
    let hash = record
        .artifacts
        .get(name)
        .unwrap_or_else(|| panic!("no artifact {name}"));
    mfw_encoding::decode(&store.get_blob(hash).await.unwrap()).unwrap()
}

fn linear_graph() -> FlowGraph {
    FlowGraph::new("LinearFlow")
        .with_step(Step::linear("start", ["a"]))
        .with_step(Step::linear("a", ["end"]))
        .with_step(Step::end())
}

fn foreach_graph() -> FlowGraph {
    FlowGraph::new("ForeachFlow")
        .with_step(Step::foreach("start", "body", "xs"))
        .with_step(Step::linear("body", ["join"]))
        .with_step(Step::join("join", ["end"]))
        .with_step(Step::end())
}

fn split_graph() -> FlowGraph {
    FlowGraph::new("SplitFlow")
        .with_step(Step::linear("start", ["a", "b"]))
        .with_step(Step::linear("a", ["join"]))
        .with_step(Step::linear("b", ["join"]))
        .with_step(Step::join("join", ["end"]))
        .with_step(Step::end())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linear_flow_runs_each_step_once_and_passes_artifacts_on() {
    let store = memory_store();
    let plan = plan(linear_graph());
    let script = Arc::new(
        Script::new(&plan.graph).step("start", |_| Act::Succeed(vec![("x", Value::Integer(7))])),
    );
    let summary = run(&store, &plan, &script, options(2)).await.unwrap();
    assert_eq!(summary.status, RunStatus::Succeeded);
    assert_eq!(summary.tasks_succeeded, 3);
    assert_eq!(script.order(), ["start/0", "a/0", "end/0"]);
    // `a` inherits what `start` set, without setting it again.
    assert_eq!(script.seen()[1].artifacts, ["x"]);
    let a = record(&store, &summary, "a/0").await;
    assert_eq!(a.parents, ["start/0"]);
    assert_eq!(a.status, TaskStatus::Succeeded);
    assert_eq!(value(&store, &a, "x").await, Value::Integer(7));
    assert_eq!(a.next, Some(Transition::Steps(vec!["end".to_string()])));
    let run = store
        .read_run(&summary.flow, &summary.run_id)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.tasks_succeeded, 3);
}

/// A scheduler over `graph` that only plans (nothing is dispatched).
fn planner(store: &Datastore, graph: FlowGraph) -> Scheduler {
    let plan = plan(graph);
    let ctx = context(store, &plan);
    let local = crate::executor::LocalExecutor::new(&HashMap::new(), 64);
    let executors = crate::executor::Executors::new(
        None,
        Arc::new(local),
        plan.graph.clone(),
        crate::RunDefaults::default(),
    );
    Scheduler::new(ctx, plan.topology.clone(), executors)
}

/// What the tasks of run 1 of `plan` share, the cache on.
fn context(store: &Datastore, plan: &FlowPlan) -> Arc<TaskContext> {
    let policies = plan
        .graph
        .steps
        .iter()
        .map(|step| {
            let defaults = crate::RunDefaults::default();
            let policy = crate::policy::step_policy(step, &defaults, &Default::default(), 1);
            (step.name.clone(), policy.unwrap())
        })
        .collect();
    let blobs = Arc::new(StoreBlobs::new(
        store.clone(),
        tokio::runtime::Handle::current(),
    ));
    Arc::new(TaskContext {
        code: Arc::new(Script::new(&plan.graph)),
        graph: plan.graph.clone(),
        store: store.clone(),
        blobs: blobs.clone(),
        runs: Some(Arc::new(crate::runs::StoreRuns::new(
            "tester",
            None,
            store.clone(),
            blobs,
            tokio::runtime::Handle::current(),
        ))),
        flow: plan.graph.name.clone(),
        run_id: "1".to_string(),
        parameters: Arc::default(),
        parameters_key: crate::key::parameters_key(&BTreeMap::new()),
        parameter_hashes: crate::key::parameter_hashes(&BTreeMap::new()),
        max_splits: 100,
        max_rounds: 100,
        observer: None,
        policies,
        cancel: Arc::default(),
        origin: None,
        run_info: Arc::default(),
        cache: true,
        presence: Default::default(),
        cache_book: crate::cache::CacheBook::packing(),
        steps: Default::default(),
        live: None,
    })
}

/// `task` finished, having taken its declared transition and set `set`.
async fn finished(
    store: &Datastore,
    graph: &FlowGraph,
    task: &ReadyTask,
    set: &[(&str, Value)],
) -> TaskRecord {
    let mut record = TaskRecord::new(&graph.name, "1", &task.step, &task.task_id());
    record.artifacts = (*task.artifacts).clone();
    for (name, value) in set {
        let hash = store
            .put_blob(Bytes::from(mfw_encoding::encode(value)))
            .await
            .unwrap();
        record.artifacts.insert(name.to_string(), hash);
    }
    record.next = Transition::declared_by(graph.step(&task.step).unwrap());
    record.status = TaskStatus::Succeeded;
    record
}

/// A scheduler over `graph` that only plans, and its `start/0` finished
/// having set `set`.
async fn started(
    graph: &FlowGraph,
    set: &[(&str, Value)],
) -> (Datastore, Scheduler, ReadyTask, TaskRecord) {
    let store = memory_store();
    let scheduler = planner(&store, graph.clone());
    let start = ReadyTask::start();
    let record = finished(&store, graph, &start, set).await;
    (store, scheduler, start, record)
}

/// What becomes ready when `task` finishes having set `set`.
async fn end(
    store: &Datastore,
    graph: &FlowGraph,
    scheduler: &mut Scheduler,
    task: &ReadyTask,
    set: &[(&str, Value)],
) -> Vec<ReadyTask> {
    let record = finished(store, graph, task, set).await;
    scheduler.successors(task, &record).await.unwrap()
}

fn names(tasks: &[ReadyTask]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| format!("{}/{}", t.step, t.task_id()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_readies_each_branch_and_its_join_once_both_are_in() {
    let graph = split_graph();
    let (store, mut scheduler, start, record) = started(&graph, &[("x", Value::Integer(1))]).await;
    let branches = scheduler.successors(&start, &record).await.unwrap();
    assert_eq!(names(&branches), ["a/0", "b/0"]);
    assert!(branches.iter().all(|b| b.parents == ["start/0"]));
    assert!(branches.iter().all(|b| b.artifacts.contains_key("x")));
    // `b` ends first: the join still waits for `a`.
    let set_y = [("y", Value::Integer(2))];
    let after_b = end(&store, &graph, &mut scheduler, &branches[1], &set_y).await;
    assert!(after_b.is_empty());
    let join = end(&store, &graph, &mut scheduler, &branches[0], &[]).await;
    assert_eq!(names(&join), ["join/0"]);
    // Inputs in the order the graph lists the join's predecessors.
    let inputs: Vec<&str> = join[0].inputs.iter().map(|i| i.step.as_str()).collect();
    assert_eq!(inputs, ["a", "b"]);
    assert_eq!(join[0].parents, ["a/0", "b/0"]);
    assert!(join[0].artifacts.is_empty(), "a join starts empty");
    assert!(join[0].inputs[1].artifacts.contains_key("y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreach_readies_one_task_per_item_and_its_join_after_the_last() {
    let graph = foreach_graph();
    let (store, mut scheduler, start, record) =
        started(&graph, &[("xs", ints([10, 20, 30]))]).await;
    let body = scheduler.successors(&start, &record).await.unwrap();
    assert_eq!(names(&body), ["body/0", "body/1", "body/2"]);
    for (index, task) in body.iter().enumerate() {
        let frame = &task.foreach[0];
        assert_eq!((frame.step.as_str(), frame.over.as_str()), ("start", "xs"));
        assert_eq!((frame.index, frame.count), (index as u32, 3));
        let item = mfw_encoding::decode(&task.foreach_inputs[0]).unwrap();
        assert_eq!(item, Value::Integer(10 * (index as i128 + 1)));
        assert_eq!(
            task.foreach_items[0],
            (record.artifacts["xs"], index as u32)
        );
    }
    // The items end out of order; the join comes after the last, once.
    for index in [2, 0] {
        assert!(
            end(&store, &graph, &mut scheduler, &body[index], &[])
                .await
                .is_empty()
        );
    }
    let join = end(&store, &graph, &mut scheduler, &body[1], &[]).await;
    assert_eq!(names(&join), ["join/0"]);
    assert_eq!(join[0].parents, ["body/0", "body/1", "body/2"]);
    assert!(join[0].foreach.is_empty(), "the join closes the loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreach_over_something_else_than_a_list_fails_its_task() {
    let graph = foreach_graph();
    let (store, mut scheduler, start, record) = started(&graph, &[("xs", Value::Integer(3))]).await;
    let Err(error) = scheduler.successors(&start, &record).await else {
        panic!("a foreach over a number readied tasks");
    };
    assert!(error.to_string().contains("`xs` is not a list"), "{error}");
    let missing = finished(&store, &graph, &start, &[]).await;
    let Err(error) = scheduler.successors(&start, &missing).await else {
        panic!("a foreach over a missing artifact readied tasks");
    };
    assert!(error.to_string().contains("was not recorded"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_foreach_loops_run_every_pair_and_join_inside_out() {
    let store = memory_store();
    let graph = FlowGraph::new("NestedFlow")
        .with_step(Step::foreach("start", "outer", "xs"))
        .with_step(Step::foreach("outer", "inner", "ys"))
        .with_step(Step::linear("inner", ["inner_join"]))
        .with_step(Step::join("inner_join", ["outer_join"]))
        .with_step(Step::join("outer_join", ["end"]))
        .with_step(Step::end());
    let plan = plan(graph);
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", |_| Act::Succeed(vec![("xs", ints([1, 2]))]))
            .step("outer", |_| Act::Succeed(vec![("ys", ints([5, 6, 7]))])),
    );
    let summary = run(&store, &plan, &script, options(3)).await.unwrap();
    assert_eq!(
        summary.status,
        RunStatus::Succeeded,
        "{:?}",
        summary.failures
    );
    // 1 start, 2 outer, 6 inner, 2 inner joins, 1 outer join, 1 end.
    assert_eq!(summary.tasks_succeeded, 13);
    let all = recorded(&store, &summary).await;
    for task in [
        "inner/0.0",
        "inner/0.2",
        "inner/1.1",
        "inner_join/0",
        "inner_join/1",
        "outer_join/0",
        "end/0",
    ] {
        assert!(
            all.contains(&task.to_string()),
            "{task} missing from {all:?}"
        );
    }
    let inner = record(&store, &summary, "inner/1.2").await;
    let frames: Vec<(u32, u32)> = inner.foreach.iter().map(|f| (f.index, f.count)).collect();
    assert_eq!(frames, [(1, 2), (2, 3)]);
    let seen = script.seen();
    let item = seen
        .iter()
        .find(|s| s.task == "inner/1.2")
        .and_then(|s| s.item.clone());
    assert_eq!(item, Some(Value::Integer(7)));
    let join = seen.iter().find(|s| s.task == "inner_join/1").unwrap();
    assert_eq!(join.inputs, ["inner/1.0", "inner/1.1", "inner/1.2"]);
    let outer_join = record(&store, &summary, "outer_join/0").await;
    assert_eq!(outer_join.parents, ["inner_join/0", "inner_join/1"]);
    assert!(outer_join.foreach.is_empty());
}

fn with(graph: FlowGraph, step: &str, decorator: Decorator) -> FlowGraph {
    let mut graph = graph;
    for s in &mut graph.steps {
        if s.name == step {
            s.decorators.push(decorator.clone());
        }
    }
    graph
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_runs_a_failed_attempt_again_and_records_both() {
    let store = memory_store();
    let retry = Decorator::new("retry")
        .with_option("times", "2")
        .with_option("minutes_between_retries", "0");
    let plan = plan(with(linear_graph(), "a", retry));
    let script = Arc::new(
        Script::new(&plan.graph).step("a", |spec| match spec.attempt {
            0 => Act::Fail("flaky"),
            _ => Act::Succeed(vec![("ok", Value::Bool(true))]),
        }),
    );
    let summary = run(&store, &plan, &script, options(2)).await.unwrap();
    assert_eq!(summary.status, RunStatus::Succeeded);
    let attempts: Vec<(String, u32)> = script
        .seen()
        .into_iter()
        .map(|s| (s.task, s.attempt))
        .collect();
    assert_eq!(
        attempts,
        [
            ("start/0".into(), 0),
            ("a/0".into(), 0),
            ("a/0".into(), 1),
            ("end/0".into(), 0)
        ]
    );
    let a = record(&store, &summary, "a/0").await;
    let statuses: Vec<TaskStatus> = a.attempts.iter().map(|t| t.status).collect();
    assert_eq!(statuses, [TaskStatus::Failed, TaskStatus::Succeeded]);
    assert_eq!(a.attempts[0].error.as_ref().unwrap().step_message, "flaky");
    assert_eq!(a.status, TaskStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_that_run_out_fail_the_run_and_nothing_after_runs() {
    let store = memory_store();
    let retry = Decorator::new("retry").with_option("times", "1");
    let plan = plan(with(linear_graph(), "a", retry));
    let script = Arc::new(Script::new(&plan.graph).step("a", |_| Act::Fail("always")));
    let summary = run(&store, &plan, &script, options(2)).await.unwrap();
    assert_eq!(summary.status, RunStatus::Failed);
    assert_eq!(failed(&summary), ["a/0"]);
    assert!(
        summary.failures[0].1.contains("always"),
        "{}",
        summary.failures[0].1
    );
    assert_eq!(script.order(), ["start/0", "a/0", "a/0"]);
    assert_eq!(record(&store, &summary, "a/0").await.attempts.len(), 2);
    let run = store
        .read_run(&summary.flow, &summary.run_id)
        .await
        .unwrap();
    assert!(run.error.unwrap().starts_with("task a/0 failed: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_stores_the_failure_and_the_flow_goes_on() {
    let store = memory_store();
    let catch = Decorator::new("catch").with_option("var", "\"err\"");
    let plan = plan(with(linear_graph(), "a", catch));
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", |_| Act::Succeed(vec![("x", Value::Integer(1))]))
            .step("a", |_| Act::Fail("bad input")),
    );
    let summary = run(&store, &plan, &script, options(2)).await.unwrap();
    assert_eq!(summary.status, RunStatus::Succeeded);
    assert_eq!(script.order(), ["start/0", "a/0", "end/0"]);
    let a = record(&store, &summary, "a/0").await;
    assert_eq!(a.status, TaskStatus::Succeeded);
    assert_eq!(a.attempts[0].status, TaskStatus::Failed);
    assert_eq!(a.next, Some(Transition::Steps(vec!["end".to_string()])));
    let Value::Map(fields) = value(&store, &a, "err").await else {
        panic!("the caught error is a map");
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == Value::Text(name.into()))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("type"), Some(Value::Text("ValueError".into())));
    assert_eq!(field("message"), Some(Value::Text("bad input".into())));
    // `end` sees what `a` inherited and the caught error.
    let end = script
        .seen()
        .into_iter()
        .find(|s| s.task == "end/0")
        .unwrap();
    assert_eq!(end.artifacts, ["err", "x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_failing_mid_foreach_stops_new_tasks_and_fails_the_run() {
    let store = memory_store();
    let plan = plan(foreach_graph());
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", |_| Act::Succeed(vec![("xs", ints(0..4))]))
            .step("body", |spec| match spec.task_id.as_str() {
                "1" => Act::Fail("item 1 is bad"),
                _ => Act::Succeed(Vec::new()),
            }),
    );
    // One worker: the items run in order, so what never starts is known.
    let summary = run(&store, &plan, &script, options(1)).await.unwrap();
    assert_eq!(summary.status, RunStatus::Failed);
    assert_eq!(script.order(), ["start/0", "body/0", "body/1"]);
    assert_eq!(failed(&summary), ["body/1"]);
    assert_eq!(summary.tasks_succeeded, 2);
    assert_eq!(
        recorded(&store, &summary).await,
        ["body/0", "body/1", "start/0"]
    );
    assert_eq!(
        record(&store, &summary, "body/1").await.status,
        TaskStatus::Failed
    );
}

/// A flag a scripted step reads, flipped between runs.
fn flag(on: bool) -> Arc<std::sync::atomic::AtomicBool> {
    Arc::new(std::sync::atomic::AtomicBool::new(on))
}

fn is_on(flag: &std::sync::atomic::AtomicBool) -> bool {
    flag.load(std::sync::atomic::Ordering::Relaxed)
}

fn set(flag: &std::sync::atomic::AtomicBool, on: bool) {
    flag.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A step that fails (task `only`, or every task if `None`) while `flag`
/// is on, and otherwise succeeds setting nothing.
fn fails_while(
    flag: &Arc<std::sync::atomic::AtomicBool>,
    only: Option<&'static str>,
) -> impl Fn(&TaskSpec) -> Act + Send + Sync + 'static {
    let flag = flag.clone();
    move |spec| {
        if is_on(&flag) && only.is_none_or(|id| spec.task_id == id) {
            Act::Fail("not yet")
        } else {
            Act::Succeed(Vec::new())
        }
    }
}

/// A foreach over three items whose task `body/2` failed, on one worker:
/// the store, the plan, the script, the flag that makes `body/2` fail, and
/// the failed run.
async fn body_2_failed() -> (
    Datastore,
    FlowPlan,
    Arc<Script>,
    Arc<std::sync::atomic::AtomicBool>,
    RunSummary,
) {
    body_2_failed_in(memory_store()).await
}

/// [`body_2_failed`] in `store`.
async fn body_2_failed_in(
    store: Datastore,
) -> (
    Datastore,
    FlowPlan,
    Arc<Script>,
    Arc<std::sync::atomic::AtomicBool>,
    RunSummary,
) {
    let plan = plan(foreach_graph());
    let fail_item_2 = flag(true);
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", |_| Act::Succeed(vec![("xs", ints(0..3))]))
            .step("body", fails_while(&fail_item_2, Some("2"))),
    );
    let first = run(&store, &plan, &script, options(1)).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    (store, plan, script, fail_item_2, first)
}

/// Tasks run by `script` since it had seen `before`.
fn ran_since(script: &Script, before: usize) -> Vec<String> {
    script.order()[before..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_reruns_only_the_failed_foreach_task_and_what_follows() {
    let (store, plan, script, fail_item_2, first) = body_2_failed().await;
    set(&fail_item_2, false);
    let before = script.seen().len();
    let second = run(&store, &plan, &script, resuming(&first.run_id, None))
        .await
        .unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.failures);
    assert_ne!(second.run_id, first.run_id);
    // The siblings that succeeded are reused: only the failed task, and
    // the steps it feeds, run.
    assert_eq!(ran_since(&script, before), ["body/2", "join/0", "end/0"]);
    assert_eq!(second.tasks_cloned, 3);
    let start = record(&store, &second, "start/0").await;
    assert_eq!(start.cloned_from.as_deref(), Some(first.run_id.as_str()));
    assert_eq!(start.run_id, second.run_id);
    let body = record(&store, &second, "body/1").await;
    assert_eq!(body.cloned_from.as_deref(), Some(first.run_id.as_str()));
    let run = store.read_run(&second.flow, &second.run_id).await.unwrap();
    assert_eq!(run.origin_run_id.as_deref(), Some(first.run_id.as_str()));
    // A run that succeeded has nothing to resume unless a step is named.
    for (from_step, refused) in [(None, "nothing to resume"), (Some("nope"), "has no step")] {
        let options = resuming(&second.run_id, from_step);
        let Err(error) = run_with_code(&store, &plan, options, script.clone()).await else {
            panic!("resuming {from_step:?} was not refused");
        };
        let expected = match from_step {
            None => matches!(error, OrchestratorError::NothingToResume { .. }),
            Some(_) => matches!(error, OrchestratorError::NoStepToResumeFrom { .. }),
        };
        assert!(expected && error.to_string().contains(refused), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_failed_step_reruns_whole_while_earlier_steps_are_reused() {
    let (store, plan, script, fail_item_2, first) = body_2_failed().await;
    // The user fixes the bug: the code changes. Its siblings ran the old
    // code of the failed step, so they run again; `start` is reused.
    set(&fail_item_2, false);
    script.change_code();
    let before = script.seen().len();
    let second = run(&store, &plan, &script, resuming(&first.run_id, None))
        .await
        .unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.failures);
    assert_eq!(
        ran_since(&script, before),
        ["body/0", "body/1", "body/2", "join/0", "end/0"]
    );
    assert_eq!(second.tasks_cloned, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_reuses_work_from_every_earlier_run_but_only_for_the_same_inputs() {
    let (store, backend) = memory_store_and_backend();
    let plan = plan(foreach_graph());
    let (new_list, fail_body_1, fail_join) = (flag(false), flag(false), flag(true));
    let list = new_list.clone();
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", move |_| {
                let first = if is_on(&list) { 5 } else { 0 };
                Act::Succeed(vec![("xs", ints(first..first + 3))])
            })
            .step("body", fails_while(&fail_body_1, Some("1")))
            .step("join", fails_while(&fail_join, None)),
    );
    // Run 1: every `body` task succeeds over 0..3, `join` fails.
    let first = run(&store, &plan, &script, options(1)).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    // Run 2 reruns from `start`, which now lists 5..8; body/1 fails.
    set(&new_list, true);
    set(&fail_body_1, true);
    let second = run(
        &store,
        &plan,
        &script,
        resuming(&first.run_id, Some("start")),
    )
    .await
    .unwrap();
    assert_eq!(second.status, RunStatus::Failed);
    assert_eq!(failed(&second), ["body/1"]);
    // Run 3 resumes run 2. body/0 comes from run 2. Run 1's body/1 and
    // body/2 succeeded, but over other items, so they run again (body/2
    // does not start in run 2 once body/1 has failed: a failure stops new
    // tasks; it does if its lookup ended first, and then run 3 reuses it).
    set(&fail_body_1, false);
    set(&fail_join, false);
    let before = script.seen().len();
    let third = run(&store, &plan, &script, resuming(&second.run_id, None))
        .await
        .unwrap();
    assert_eq!(third.status, RunStatus::Succeeded, "{:?}", third.failures);
    let body_2 = record(&store, &third, "body/2").await;
    assert_ne!(body_2.cloned_from.as_deref(), Some(first.run_id.as_str()));
    let (ran, items) = match body_2.cloned_from {
        None => (
            vec!["body/1", "body/2", "join/0", "end/0"],
            vec![Some(Value::Integer(6)), Some(Value::Integer(7))],
        ),
        Some(_) => (
            vec!["body/1", "join/0", "end/0"],
            vec![Some(Value::Integer(6))],
        ),
    };
    assert_eq!(ran_since(&script, before), ran);
    let seen: Vec<_> = script.seen()[before..before + items.len()]
        .iter()
        .map(|s| s.item.clone())
        .collect();
    assert_eq!(seen, items);
    for task in ["start/0", "body/0"] {
        let reused = record(&store, &third, task).await;
        assert_eq!(reused.cloned_from.as_deref(), Some(second.run_id.as_str()));
    }

    // Run 4 resumes run 3 with its `end` record lost: the work of all three
    // earlier runs is there to reuse, and only `end` runs.
    let end = format!(
        "flows/{}/runs/{}/tasks/end/0.json",
        third.flow, third.run_id
    );
    backend.delete(&end.as_str().into()).await.unwrap();
    let before = script.seen().len();
    let fourth = run(&store, &plan, &script, resuming(&third.run_id, None))
        .await
        .unwrap();
    assert_eq!(fourth.status, RunStatus::Succeeded, "{:?}", fourth.failures);
    assert_eq!(ran_since(&script, before), ["end/0"]);
    assert_eq!(fourth.tasks_cloned, 5);
    // What a reused task says it came from is the run that ran it.
    let body_1 = record(&store, &fourth, "body/1").await;
    assert_eq!(body_1.cloned_from.as_deref(), Some(third.run_id.as_str()));
    let body_0 = record(&store, &fourth, "body/0").await;
    assert_eq!(body_0.cloned_from.as_deref(), Some(second.run_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_values_are_gone_runs_again_on_resume() {
    let (store, backend) = memory_store_and_backend();
    let plan = plan(foreach_graph());
    let fail_join = flag(true);
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", |_| Act::Succeed(vec![("xs", ints(0..3))]))
            .step("body", |spec| {
                let n: i128 = spec.task_id.parse().unwrap();
                Act::Succeed(vec![("y", Value::Integer(n * 10))])
            })
            .step("join", fails_while(&fail_join, None)),
    );
    let first = run(&store, &plan, &script, options(1)).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    // body/1's value is lost (as after `mfw doctor --repair` set it aside).
    let lost = record(&store, &first, "body/1").await.artifacts["y"];
    let path = format!("blobs/{}/{}", &lost.to_hex()[..2], lost.to_hex());
    backend.delete(&path.as_str().into()).await.unwrap();
    // The next resume is another process, which trusts nothing it did not
    // see stored.
    let store = Datastore::with_backend(backend.clone(), "memory");
    set(&fail_join, false);
    let before = script.seen().len();
    let second = run(&store, &plan, &script, resuming(&first.run_id, None))
        .await
        .unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.failures);
    assert_eq!(ran_since(&script, before), ["body/1", "join/0", "end/0"]);
    assert!(
        store.has_blob(&lost).await.unwrap(),
        "body/1 stored it again"
    );
}

/// Options resuming `run_id`, from `from_step` or the first failed step.
fn resuming(run_id: &str, from_step: Option<&str>) -> RunOptions {
    RunOptions {
        resume: Some(Resume {
            origin_run_id: run_id.to_string(),
            from_step: from_step.map(str::to_string),
        }),
        ..options(1)
    }
}

/// Takes the steps decorated `@elsewhere` in batches and "runs" them as a
/// remote worker would: straight from the stored batch, writing records.
struct Elsewhere {
    batches: Mutex<Vec<(String, usize)>>,
}

impl Executor for Elsewhere {
    fn runs(&self, step: &Step) -> bool {
        step.decorator("elsewhere").is_some()
    }

    fn run(&self, tasks: ReadyTasks) -> BoxFuture<'static, TaskEnds> {
        self.batches
            .lock()
            .unwrap()
            .push((tasks.step().to_string(), tasks.len()));
        let store = tasks.ctx.store.clone();
        Box::pin(tasks.run_elsewhere(move |batch| {
            Box::pin(async move {
                let stored = store.read_batch(&batch.key).await?;
                for task in stored.tasks {
                    let id = crate::task::task_id(&task.path, task.iteration);
                    let mut record =
                        TaskRecord::new(&stored.flow, &stored.run_id, &stored.step, &id);
                    record.artifacts = task.artifacts;
                    record.parents = task.parents;
                    record.next = Some(Transition::Steps(vec!["join".to_string()]));
                    record.status = if id == "1" {
                        TaskStatus::Failed
                    } else {
                        TaskStatus::Succeeded
                    };
                    store.write_task(&record).await?;
                }
                Ok(())
            })
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_elsewhere_gets_a_foreach_as_one_batch_and_its_records_are_read_back() {
    let store = memory_store();
    let graph = with(foreach_graph(), "body", Decorator::new("elsewhere"));
    let plan = plan(graph);
    let script = Arc::new(
        Script::new(&plan.graph).step("start", |_| Act::Succeed(vec![("xs", ints(0..3))])),
    );
    let elsewhere = Arc::new(Elsewhere {
        batches: Mutex::default(),
    });
    let options = RunOptions {
        executor: Some(elsewhere.clone()),
        ..options(2)
    };
    let summary = run(&store, &plan, &script, options).await.unwrap();
    assert_eq!(
        *elsewhere.batches.lock().unwrap(),
        [("body".to_string(), 3)]
    );
    // Nothing of `body` ran here; its failed item fails the run.
    assert_eq!(script.order(), ["start/0"]);
    assert_eq!(summary.status, RunStatus::Failed);
    assert_eq!(failed(&summary), ["body/1"]);
    assert_eq!(summary.tasks_succeeded, 3);
    let stored: HashSet<String> = recorded(&store, &summary).await.into_iter().collect();
    assert!(stored.contains("body/2") && !stored.contains("join/0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloned_tasks_are_recorded_as_one_pack_per_step_and_read_like_the_others() {
    let (store, backend) = memory_store_and_backend();
    let (store, plan, script, fail_item_2, first) = body_2_failed_in(store).await;
    set(&fail_item_2, false);
    let second = run(&store, &plan, &script, resuming(&first.run_id, None))
        .await
        .unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.failures);
    assert_eq!(second.tasks_cloned, 3);
    let prefix = object_store::path::Path::from(format!(
        "flows/{}/runs/{}/tasks",
        second.flow, second.run_id
    ));
    let objects: Vec<String> = backend
        .list(Some(&prefix))
        .map_ok(|o| o.location.as_ref()[prefix.as_ref().len() + 1..].to_string())
        .try_collect()
        .await
        .unwrap();
    // start/0, body/0 and body/1 were cloned: two packs; what ran has files.
    let mut shape: Vec<String> = objects
        .iter()
        .map(|o| match o.rsplit_once('/') {
            Some((step, name)) if name.ends_with(".pack") => {
                format!("{step}/pack of {}", name.split('-').next().unwrap())
            }
            _ => o.clone(),
        })
        .collect();
    shape.sort();
    assert_eq!(
        shape,
        [
            "body/2.json",
            "body/pack of 2",
            "end/0.json",
            "join/0.json",
            "start/pack of 1"
        ]
    );
    assert_eq!(
        recorded(&store, &second).await,
        ["body/0", "body/1", "body/2", "end/0", "join/0", "start/0"]
    );
    let body = record(&store, &second, "body/1").await;
    assert_eq!(body.cloned_from.as_deref(), Some(first.run_id.as_str()));
    assert_eq!(body.run_id, second.run_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomness_is_keyed_by_the_cache_key_so_unread_parameters_leave_it_alone() {
    let store = memory_store();
    let plan = plan(foreach_graph());
    // What each task (run, task id) was seeded with.
    type Seeds = BTreeMap<(String, String), Option<BlobHash>>;
    let seeds: Arc<Mutex<Seeds>> = Arc::default();
    let seen = seeds.clone();
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", |_| Act::Succeed(vec![("xs", ints([1, 2]))]))
            .step("body", move |spec| {
                let task = (spec.run_id.clone(), spec.task_id.clone());
                seen.lock().unwrap().insert(task, spec.random_seed);
                Act::Succeed(Vec::new())
            }),
    );
    let mut runs = Vec::new();
    for alpha in [1, 2] {
        let mut options = options(2);
        // Both runs run every task, so both draw.
        options.cache = false;
        let value = mfw_encoding::encode(&Value::Integer(alpha));
        options.parameters = BTreeMap::from([("alpha".to_string(), Bytes::from(value))]);
        runs.push(run(&store, &plan, &script, options).await.unwrap());
    }
    let seeds = seeds.lock().unwrap().clone();
    let seed = |run: &RunSummary, task: &str| seeds[&(run.run_id.clone(), task.to_string())];
    for task in ["0", "1"] {
        let first = record(&store, &runs[0], &format!("body/{task}")).await;
        let second = record(&store, &runs[1], &format!("body/{task}")).await;
        assert!(seed(&runs[0], task).is_some());
        assert_eq!(
            seed(&runs[0], task),
            first.cache_key,
            "the cache key seeds it"
        );
        assert_ne!(first.task_key, second.task_key, "alpha is in the task key");
        assert_eq!(
            seed(&runs[0], task),
            seed(&runs[1], task),
            "alpha, which no task read, changes nothing it draws"
        );
    }
    assert_ne!(seed(&runs[0], "0"), seed(&runs[0], "1"));
}

#[tokio::test]
async fn a_step_found_empty_in_the_cache_is_not_looked_up_again() {
    let store = memory_store();
    let plan = plan(foreach_graph());
    let ctx = context(&store, &plan);
    assert!(!ctx.cache_book.holds_nothing_for("start"));
    // Nothing cached: the lookup misses, and says so for the whole step.
    assert!(crate::task::reuse(&ctx, ReadyTask::start()).await.is_err());
    assert!(ctx.cache_book.holds_nothing_for("start"));
    assert!(!ctx.cache_book.holds_nothing_for("body"), "not read yet");
    // Once a run remembered it, a new run's lookup finds it.
    let script =
        Arc::new(Script::new(&plan.graph).step("start", |_| Act::Succeed(vec![("xs", ints([1]))])));
    run(&store, &plan, &script, options(1)).await.unwrap();
    let ctx = context(&store, &plan);
    assert!(crate::task::reuse(&ctx, ReadyTask::start()).await.is_ok());
    assert!(!ctx.cache_book.holds_nothing_for("start"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_cached_foreach_is_packed_as_it_goes_and_every_record_reads_back() {
    let (store, backend) = memory_store_and_backend();
    let plan = plan(foreach_graph());
    let n = 2 * crate::scheduler::CLONES_PER_PACK + 10;
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("start", move |_| {
                Act::Succeed(vec![("xs", ints(0..i128::try_from(n).unwrap()))])
            })
            .step("body", |spec| {
                let item = spec.task_id.parse::<i128>().unwrap();
                Act::Succeed(vec![("y", ints([item]))])
            }),
    );
    let first = run(&store, &plan, &script, options(2)).await.unwrap();
    let second = run(&store, &plan, &script, options(2)).await.unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.failures);
    assert_eq!(second.tasks_cached, first.tasks_succeeded);
    let prefix = object_store::path::Path::from(format!(
        "flows/{}/runs/{}/tasks/body",
        second.flow, second.run_id
    ));
    let packs: Vec<_> = backend
        .list(Some(&prefix))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(
        packs.len() > 1,
        "written as it went: {} pack(s)",
        packs.len()
    );
    assert!(packs.iter().all(|o| o.location.as_ref().ends_with(".pack")));
    assert_eq!(
        recorded(&store, &second).await,
        recorded(&store, &first).await
    );
    for task in ["body/0", "body/300", &format!("body/{}", n - 1)] {
        let record = record(&store, &second, task).await;
        let item = task.rsplit('/').next().unwrap().parse::<i128>().unwrap();
        assert_eq!(value(&store, &record, "y").await, ints([item]));
    }
}

/// The linear flow with `a` granted `env` (and cached all the same).
fn granted_graph(env: &str) -> FlowGraph {
    let a = Step::linear("a", ["end"])
        .with_decorator(Decorator::new("cache").with_option("enabled", "true"))
        .with_decorator(Decorator::new("grant").with_option("env", env));
    FlowGraph::new("LinearFlow")
        .with_step(Step::linear("start", ["a"]))
        .with_step(a)
        .with_step(Step::end())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_grant_alone_reruns_that_step() {
    let store = memory_store();
    let home = plan(granted_graph(r#"["HOME"]"#));
    // One script, so every step's code is the same in every run.
    let script = Arc::new(
        Script::new(&home.graph)
            .step("start", |_| Act::Succeed(vec![("x", Value::Integer(1))]))
            .step("a", |_| Act::Succeed(vec![("y", Value::Integer(2))])),
    );
    let first = run(&store, &home, &script, options(1)).await.unwrap();
    assert_eq!(first.tasks_cached, 0);
    let again = run(&store, &home, &script, options(1)).await.unwrap();
    assert_eq!(again.tasks_cached, 3, "granted, but @cache(True)");

    let path = plan(granted_graph(r#"["HOME", "PATH"]"#));
    let regranted = run(&store, &path, &script, options(1)).await.unwrap();
    assert_eq!(regranted.tasks_cached, 2);
    let a = record(&store, &regranted, "a/0").await;
    assert_eq!(a.cloned_from, None, "a ran again");
    assert_eq!(a.grants, ["env HOME", "env PATH"]);
    for task in ["start/0", "end/0"] {
        let cached = record(&store, &regranted, task).await;
        assert_eq!(cached.cloned_from.as_deref(), Some(first.run_id.as_str()));
    }
}

/// start -> poll, which goes round again until its third task, -> end.
fn loop_graph() -> FlowGraph {
    FlowGraph::new("LoopFlow")
        .with_step(Step::linear("start", ["poll"]))
        .with_step(Step::switch(
            "poll",
            "again",
            [("true", "poll"), ("false", "end")],
        ))
        .with_step(Step::end())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_switch_runs_a_task_per_round_and_resume_reuses_them() {
    let store = memory_store();
    let plan = plan(loop_graph());
    let end_fails = flag(true);
    let script = Arc::new(
        Script::new(&plan.graph)
            .step("poll", |spec| {
                // Each round counts on from what the last one set.
                let round = spec
                    .task_id
                    .split_once('_')
                    .map_or(0, |(_, n)| n.parse().unwrap());
                let again = round < 2;
                let set = vec![
                    ("round", Value::Integer(round)),
                    ("again", Value::Bool(again)),
                ];
                Act::Choose(set, if again { "poll" } else { "end" })
            })
            .step("end", fails_while(&end_fails, None)),
    );
    let first = run(&store, &plan, &script, options(2)).await.unwrap();
    assert_eq!(first.status, RunStatus::Failed);
    assert_eq!(
        script.order(),
        ["start/0", "poll/0", "poll/0_1", "poll/0_2", "end/0"]
    );
    // Each round is the child of the one before, and `end` of the last.
    let second_round = record(&store, &first, "poll/0_1").await;
    assert_eq!(second_round.parents, ["poll/0"]);
    assert_eq!(
        second_round.next,
        Some(Transition::Steps(vec!["poll".into()]))
    );
    let end = record(&store, &first, "end/0").await;
    assert_eq!(end.parents, ["poll/0_2"]);
    assert_eq!(value(&store, &end, "round").await, Value::Integer(2));

    set(&end_fails, false);
    let before = script.seen().len();
    let second = run(&store, &plan, &script, resuming(&first.run_id, None))
        .await
        .unwrap();
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.failures);
    assert_eq!(ran_since(&script, before), ["end/0"]);
    assert_eq!(second.tasks_cloned, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_that_never_stops_fails_at_the_runs_limit_of_rounds() {
    let store = memory_store();
    let plan = plan(loop_graph());
    let script = Arc::new(Script::new(&plan.graph).step("poll", |_| {
        Act::Choose(vec![("again", Value::Bool(true))], "poll")
    }));
    let limited = RunOptions {
        max_rounds: 100,
        ..options(1)
    };
    let summary = run(&store, &plan, &script, limited).await.unwrap();
    assert_eq!(summary.status, RunStatus::Failed);
    // 100 rounds are allowed: start/0, poll/0 and 100 more tasks of poll ran.
    assert_eq!(script.order().len(), 2 + 100);
    let (task, why) = &summary.failures[0];
    assert_eq!(task.to_string(), "poll/0_100");
    assert!(
        why.contains("step `poll` went back to itself 100 times, the most a run allows"),
        "{why}"
    );
}
