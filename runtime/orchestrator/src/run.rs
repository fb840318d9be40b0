//! A run: its record, its options, and resuming an earlier one. The
//! scheduler (`scheduler.rs`) plans and queues its tasks, executors
//! (`executor.rs`) run them, and the task module (`task.rs`) runs and
//! records each one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytes::Bytes;
use mfw_store::{Datastore, RunRecord, RunStatus, now_millis};
use tokio::sync::watch;

use crate::executor::{Executor, Executors, LocalExecutor};
use crate::policy::{RunDefaults, Sandbox, step_policy};
use crate::resume::Origin;
use crate::scheduler::Scheduler;
use crate::task::{StepCode, TaskContext};
use crate::{FlowPlan, OrchestratorError, RunObserver, StoreBlobs, TaskKey};

/// How to run a flow.
#[derive(Clone)]
pub struct RunOptions {
    /// How many tasks run at once.
    pub max_workers: usize,
    /// The most tasks one foreach may create.
    pub max_num_splits: u32,
    /// The most times a recursive switch's task may go back to its step.
    pub max_rounds: u32,
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
    /// Take a task from the cache when an earlier one had the same task
    /// key, and remember each task that ran (`--no-cache`: `false`).
    pub cache: bool,
    /// What started the run, when a deployment was triggered.
    pub trigger: Option<mfw_store::RunTrigger>,
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
            max_rounds: 100_000,
            parameters: BTreeMap::new(),
            observer: None,
            interrupt: None,
            defaults: RunDefaults::default(),
            sandbox: Sandbox::default(),
            resume: None,
            executor: None,
            tags: Vec::new(),
            user: "unknown".to_string(),
            cache: true,
            trigger: None,
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
    /// Tasks reused from earlier runs (the origin chain) without running.
    pub tasks_cloned: u64,
    /// Tasks taken from the cache without running.
    pub tasks_cached: u64,
    /// Tasks that failed, with why.
    pub failures: Vec<(TaskKey, String)>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// What tasks learn of their run (`current.username`, `current.tags`...).
pub(crate) fn run_info(record: &RunRecord, user_tags: &[String]) -> mfw_host::RunInfo {
    let user = record.user().to_string();
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

/// A recorded run's parameter values, read back from the store.
pub(crate) async fn recorded_parameters(
    store: &Datastore,
    record: &RunRecord,
) -> Result<BTreeMap<String, Bytes>, OrchestratorError> {
    let mut parameters = BTreeMap::new();
    for (name, hash) in &record.parameters {
        parameters.insert(name.clone(), store.get_blob(hash).await?);
    }
    Ok(parameters)
}

/// Runs the flow in `plan` to the end, recording the run and every task in
/// `store`. Returns a summary; a failed task makes a failed run, not an
/// error.
pub async fn run_flow(
    store: &Datastore,
    plan: &FlowPlan,
    options: RunOptions,
) -> Result<RunSummary, OrchestratorError> {
    run_with_code(store, plan, options, Arc::new(plan.clone())).await
}

/// [`run_flow`] with the steps' code given apart from the plan (the unit
/// tests script it).
pub(crate) async fn run_with_code(
    store: &Datastore,
    plan: &FlowPlan,
    options: RunOptions,
    code: Arc<dyn StepCode>,
) -> Result<RunSummary, OrchestratorError> {
    // Every step's limits and grants are checked before anything runs.
    let mut policies = HashMap::new();
    for step in &plan.graph.steps {
        let policy = step_policy(
            step,
            &options.defaults,
            &options.sandbox,
            options.max_workers,
        )?;
        policies.insert(step.name.clone(), policy);
    }
    let origin = match &options.resume {
        Some(resume) => Some(Origin::load(store, plan, resume).await?),
        None => None,
    };
    let mut record = RunRecord::new(&plan.graph.name);
    record.graph = Some((*plan.graph).clone());
    record.origin_run_id = origin.as_ref().map(|o| o.run_id.clone());
    record.tags = options.tags.clone();
    record.tags.sort();
    record.tags.dedup();
    record.system_tags = system_tags(&options.user);
    record.trigger = options.trigger.clone();
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
    let local = LocalExecutor::new(&policies, options.defaults.memory_mb);
    let info = Arc::new(run_info(&record, &record.tags));
    let blobs = Arc::new(StoreBlobs::new(
        store.clone(),
        tokio::runtime::Handle::current(),
    ));
    let ctx = Arc::new(TaskContext {
        code,
        graph: plan.graph.clone(),
        store: store.clone(),
        blobs: blobs.clone(),
        runs: crate::runs::StoreRuns::for_run(&info, &record, store, &blobs),
        flow: record.flow.clone(),
        run_id: record.run_id.clone(),
        parameters: Arc::new(options.parameters.clone()),
        parameters_key: crate::key::parameters_key(&options.parameters),
        parameter_hashes: crate::key::parameter_hashes(&options.parameters),
        max_splits: options.max_num_splits,
        max_rounds: options.max_rounds,
        observer: options.observer.clone(),
        policies,
        cancel: Arc::new(AtomicBool::new(false)),
        origin,
        run_info: info.clone(),
        cache: options.cache,
        presence: Default::default(),
        cache_book: crate::cache::CacheBook::packing(),
        steps: Default::default(),
        live: Some(Default::default()),
    });
    let live_storing = ctx.live.clone().map(|live| {
        tokio::spawn(live.keep_storing(store.clone(), record.flow.clone(), record.run_id.clone()))
    });
    if let Some(observer) = &options.observer {
        observer.run_started(&record.flow, &record.run_id);
        if let Some(origin) = &ctx.origin {
            observer.run_resumes(&origin.chain, origin.offered());
        }
    }
    let executors = Executors::new(
        options.executor.clone(),
        Arc::new(local),
        plan.graph.clone(),
        options.defaults.clone(),
    );
    let scheduler = Scheduler::new(ctx, plan.topology.clone(), executors);
    let outcome = scheduler
        .run(
            options.max_workers,
            options.defaults.in_flight_mb,
            options.interrupt.clone(),
        )
        .await;
    if let Some(executor) = &options.executor {
        // Whatever it created in the cluster goes, however the run ended.
        executor.shutdown().await;
    }
    if let Some(storing) = live_storing {
        storing.abort();
        // Every task's record holds its output now.
        let _ = store.remove_live_logs(&record.flow, &record.run_id).await;
    }
    record.finished_at = Some(now_millis());
    record.tasks_succeeded = outcome.succeeded;
    record.tasks_failed = outcome.failures.len() as u64;
    record.tasks_reused = outcome.cloned;
    record.tasks_cached = outcome.cached;
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
        tasks_cached: outcome.cached,
        failures: outcome.failures,
        duration_ms: record.duration_millis(),
    })
}
