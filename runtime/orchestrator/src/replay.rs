//! `mfw replay`: re-runs tasks of a recorded run from their records, in
//! the sandbox they ran in, and compares what they compute with what was
//! stored. The scheduler plans the run's tasks again from the stored
//! records (one definition of what a task inherits), and the replayed
//! tasks write nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mfw_graph::BlobHash;
use mfw_host::{Host, TaskOutcome};
use mfw_store::{Datastore, StoreError, TaskRecord, TaskStatus};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::executor::{Executors, LocalExecutor};
use crate::policy::{RunDefaults, Sandbox, step_policy};
use crate::run::run_info;
use crate::scheduler::Scheduler;
use crate::task::{Identity, ReadyTask, TaskContext};
use crate::{FlowPlan, OrchestratorError, StoreBlobs};

/// Which tasks of a run to replay, and how.
///
/// ```
/// let options = mfw_orchestrator::ReplayOptions {
///     step: Some("train".to_string()),
///     ..mfw_orchestrator::ReplayOptions::default()
/// };
/// assert!(options.task_id.is_none());
/// ```
#[derive(Clone)]
pub struct ReplayOptions {
    /// Only this step's tasks (every step's when `None`).
    pub step: Option<String>,
    /// Only this task of `step`.
    pub task_id: Option<String>,
    /// How many tasks run at once.
    pub max_workers: usize,
    /// Limits for steps whose decorators set none, as `mfw run` has them.
    pub defaults: RunDefaults,
    /// Becomes `true` when the user interrupts the replay.
    pub interrupt: Option<watch::Receiver<bool>>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            step: None,
            task_id: None,
            max_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            defaults: RunDefaults::default(),
            interrupt: None,
        }
    }
}

/// One replayed task and what its replay found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// The step.
    pub step: String,
    /// The task.
    pub task_id: String,
    /// What the replay found.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// What replaying a task found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every artifact, every object, the `next` it took and how many tasks
    /// its foreach made are what was stored (for a task whose failure
    /// `@catch` kept: the same failure).
    Identical,
    /// What differs from what was stored.
    Differs {
        /// Each difference.
        differences: Vec<Difference>,
    },
    /// Nothing to compare: the task could see the outside world (which
    /// grant says), or it did not succeed in its run.
    NotReplayable {
        /// Why.
        reason: String,
    },
    /// The replay could not run, or failed where the task had succeeded.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One thing a replay computed differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What: ``artifact `x` ``, ``object `k` ``, `next`, `foreach count`
    /// or `failure`.
    pub what: String,
    /// As stored; `None` when the task had none.
    pub recorded: Option<String>,
    /// As replayed; `None` when the replay had none.
    pub replayed: Option<String>,
}

/// Replays the tasks of `flow`/`run_id` that `options` selects, up to
/// `options.max_workers` at once, and says for each whether it computed
/// what was stored. Tasks come in the order the run planned them. Nothing
/// is written to the store.
///
/// ```no_run
/// # async fn f(store: mfw_store::Datastore, host: mfw_host::Host) -> Result<(), mfw_orchestrator::OrchestratorError> {
/// use mfw_orchestrator::{ReplayOptions, Verdict, replay_run};
/// let replayed = replay_run(&store, &host, "HelloFlow", "1764312345678901", ReplayOptions::default()).await?;
/// assert!(replayed.iter().all(|task| task.verdict == Verdict::Identical));
/// # Ok(()) }
/// ```
pub async fn replay_run(
    store: &Datastore,
    host: &Host,
    flow: &str,
    run_id: &str,
    options: ReplayOptions,
) -> Result<Vec<Replayed>, OrchestratorError> {
    let run = store.read_run(flow, run_id).await?;
    let graph = run
        .graph
        .clone()
        .ok_or_else(|| OrchestratorError::NoGraph {
            flow: flow.to_string(),
            run_id: run_id.to_string(),
        })?;
    if let Some(step) = &options.step
        && graph.step(step).is_none()
    {
        return Err(OrchestratorError::NoSuchStep(step.clone()));
    }
    let mut components = Vec::new();
    for record in &run.components {
        components.push((
            FlowPlan::load_recorded(store, host, record).await?,
            record.clone(),
        ));
    }
    let plan = FlowPlan::recorded(graph, components)?;
    let parameters = crate::run::recorded_parameters(store, &run).await?;
    // A step whose grants cannot be given here (a directory outside this
    // one) sees the outside world, so it is not replayable anyway.
    let sandbox = Sandbox {
        flow_dir: std::env::current_dir().ok(),
        allowed_dirs: Vec::new(),
    };
    let mut policies = HashMap::new();
    let mut refused = HashMap::new();
    for step in &plan.graph.steps {
        match step_policy(step, &options.defaults, &sandbox, options.max_workers) {
            Ok(policy) => {
                policies.insert(step.name.clone(), policy);
            }
            Err(e) => {
                refused.insert(step.name.clone(), e.to_string());
            }
        }
    }
    let user_tags = store.run_tags(&run).await?;
    let blobs = Arc::new(StoreBlobs::new(
        store.clone(),
        tokio::runtime::Handle::current(),
    ));
    let ctx = Arc::new(TaskContext {
        code: Arc::new(plan.clone()),
        graph: plan.graph.clone(),
        store: store.clone(),
        blobs: blobs.clone(),
        // Replay gives each task the answers it was given (see below).
        runs: None,
        flow: flow.to_string(),
        run_id: run_id.to_string(),
        parameters_key: crate::key::parameters_key(&parameters),
        parameter_hashes: crate::key::parameter_hashes(&parameters),
        parameters: Arc::new(parameters),
        // The run's own guard already let these foreach lists through.
        max_splits: u32::MAX,
        max_rounds: u32::MAX,
        observer: None,
        policies,
        cancel: Arc::new(AtomicBool::new(false)),
        origin: None,
        run_info: Arc::new(run_info(&run, &user_tags)),
        cache: false,
        presence: Default::default(),
        cache_book: Default::default(),
        steps: Default::default(),
        live: None,
    });
    let chosen = planned(&ctx, &plan, &options).await?;
    if let Some(mut interrupt) = options.interrupt.clone() {
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            while interrupt.changed().await.is_ok() {
                if *interrupt.borrow() {
                    cancel.store(true, Ordering::Relaxed);
                    break;
                }
            }
        });
    }
    let slots = Arc::new(Semaphore::new(options.max_workers.max(1)));
    let refused = Arc::new(refused);
    let mut running = JoinSet::new();
    for (index, (task, record)) in chosen.into_iter().enumerate() {
        let ctx = ctx.clone();
        let slots = slots.clone();
        let refused = refused.clone();
        running.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let verdict = match refused.get(&task.step) {
                Some(why) => Verdict::NotReplayable {
                    reason: format!("its step's limits or grants cannot be given here: {why}"),
                },
                None => replay_task(&ctx, &task, &record).await,
            };
            let replayed = Replayed {
                step: task.step.clone(),
                task_id: task.task_id(),
                verdict,
            };
            (index, replayed)
        });
    }
    let mut replayed = Vec::new();
    while let Some(joined) = running.join_next().await {
        replayed.push(joined.map_err(|source| OrchestratorError::Thread {
            what: "a replay thread failed",
            source,
        })?);
    }
    replayed.sort_by_key(|(index, _)| *index);
    Ok(replayed.into_iter().map(|(_, task)| task).collect())
}

/// The selected tasks with their records, planned again from `start` as
/// the run planned them: each recorded task's successors come from the
/// scheduler, given the task's stored record.
async fn planned(
    ctx: &Arc<TaskContext>,
    plan: &FlowPlan,
    options: &ReplayOptions,
) -> Result<Vec<(ReadyTask, TaskRecord)>, OrchestratorError> {
    let local = LocalExecutor::new(&ctx.policies, options.defaults.memory_mb);
    let executors = Executors::new(
        None,
        Arc::new(local),
        plan.graph.clone(),
        options.defaults.clone(),
    );
    let mut scheduler = Scheduler::new(ctx.clone(), plan.topology.clone(), executors);
    let wanted = |task: &ReadyTask| {
        options.step.as_ref().is_none_or(|s| *s == task.step)
            && options
                .task_id
                .as_ref()
                .is_none_or(|t| *t == task.task_id())
    };
    let mut chosen = Vec::new();
    let mut queue = VecDeque::from([ReadyTask::start()]);
    while let Some(task) = queue.pop_front() {
        let record = match ctx
            .store
            .read_task(&ctx.flow, &ctx.run_id, &task.step, &task.task_id())
            .await
        {
            Ok(record) => record,
            // The run never got there (it failed or was stopped first).
            Err(StoreError::TaskNotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let succeeded = record.status == TaskStatus::Succeeded;
        if wanted(&task) {
            let single = options.task_id.is_some();
            chosen.push((task.clone(), record.clone()));
            if single {
                return Ok(chosen);
            }
        }
        if succeeded {
            let next = scheduler.successors(&task, &record).await.map_err(|e| {
                OrchestratorError::Replan {
                    task: format!("{}/{}", task.step, task.task_id()),
                    source: Box::new(e),
                }
            })?;
            queue.extend(next);
        }
    }
    if let (Some(step), Some(task_id)) = (&options.step, &options.task_id) {
        return Err(OrchestratorError::NoSuchTask(format!(
            "{}/{}/{step}/{task_id}",
            ctx.flow, ctx.run_id
        )));
    }
    Ok(chosen)
}

/// Runs `task` again as its record says it ran, and compares.
async fn replay_task(ctx: &Arc<TaskContext>, task: &ReadyTask, record: &TaskRecord) -> Verdict {
    let caught = record
        .last_attempt()
        .filter(|a| a.status == TaskStatus::Failed)
        .and_then(|a| a.error.clone());
    if record.status != TaskStatus::Succeeded {
        return Verdict::NotReplayable {
            reason: "it did not succeed in its run".to_string(),
        };
    }
    if let Some(reason) = outside_world(&record.grants) {
        return Verdict::NotReplayable { reason };
    }
    let identity = Identity::of(ctx, task);
    let same_inputs = record.input_key == Some(identity.input_key)
        || (record.cached && record.cache_key.is_some() && record.cache_key == identity.cache_key);
    if !same_inputs {
        return Verdict::Failed {
            reason: "what it was given cannot be rebuilt from the store: its input key differs \
                     from the recorded one"
                .to_string(),
        };
    }
    // The cache key covers the host's determinism settings and the
    // contract: another key means this host would give the task another
    // clock, randomness or floats than it had.
    if record.cache_key.is_some() && record.cache_key != identity.cache_key {
        return Verdict::NotReplayable {
            reason: format!(
                "it ran under other determinism settings or contract than this mfw's ({}, \
                 mfw:flow {}): its cache key differs",
                mfw_host::DETERMINISM,
                mfw_host::CONTRACT_KEY_VERSION
            ),
        };
    }
    let Some(policy) = ctx.policies.get(&task.step) else {
        return Verdict::Failed {
            reason: format!("step `{}` has no limits or grants here", task.step),
        };
    };
    let attempt = record.last_attempt().map_or(0, |a| a.attempt);
    let mut spec = crate::task::spec(ctx, task, &identity, attempt, Some(policy));
    // What it read of other runs, it reads again as it was then, however
    // those runs have changed since.
    let recorded_reads = record.runs_read.clone().unwrap_or_default();
    spec.runs = mfw_host::RunsAccess(Some(Arc::new(mfw_host::RecordedRuns::new(
        recorded_reads,
        ctx.blobs.clone(),
    ))));
    // A task cloned by resume or the cache ran in another run: it is
    // replayed as that run's.
    if let Some(origin) = &record.cloned_from {
        match origin_run_info(ctx, origin).await {
            Ok(info) => {
                spec.run_id = origin.clone();
                spec.run_info = Arc::new(info);
            }
            Err(e) => {
                return Verdict::Failed {
                    reason: format!("the run it was cloned from cannot be read: {e}"),
                };
            }
        }
    }
    let code = ctx.code.clone();
    let blobs = ctx.blobs.clone();
    let outcome = match tokio::task::spawn_blocking(move || code.run(spec, blobs, None)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            return Verdict::Failed {
                reason: format!("the replay stopped: {e}"),
            };
        }
    };
    if let Some(caught) = caught {
        // `@catch` kept a failure: the replay must fail the same way.
        let replayed = outcome
            .failure
            .as_ref()
            .map(|f| crate::task::task_error(f).message);
        return if replayed.as_deref() == Some(caught.message.as_str()) {
            Verdict::Identical
        } else {
            Verdict::Differs {
                differences: vec![Difference {
                    what: "failure".to_string(),
                    recorded: Some(caught.message),
                    replayed,
                }],
            }
        };
    }
    if let Some(failure) = &outcome.failure {
        return Verdict::Failed {
            reason: failure.to_string(),
        };
    }
    let differences = differences(record, &outcome);
    if differences.is_empty() {
        Verdict::Identical
    } else {
        Verdict::Differs { differences }
    }
}

/// What a task's run told it about itself, for the run `run_id` of its flow.
async fn origin_run_info(ctx: &TaskContext, run_id: &str) -> Result<mfw_host::RunInfo, StoreError> {
    let record = ctx.store.read_run(&ctx.flow, run_id).await?;
    let tags = ctx.store.run_tags(&record).await?;
    Ok(run_info(&record, &tags))
}

/// Why a task with `grants` (as its record lists them) is not replayable:
/// every grant lets it see something outside its inputs.
fn outside_world(grants: &[String]) -> Option<String> {
    if grants.is_empty() {
        return None;
    }
    let named: Vec<String> = grants
        .iter()
        .map(|grant| match grant.split_once(' ') {
            None if grant == "clock" => "the real clock".to_string(),
            None if grant == "random" => "real randomness".to_string(),
            Some(("env", name)) => format!("the host's variable {name}"),
            Some(("connect", address)) => format!("the network ({address})"),
            Some(("read" | "write", _)) => format!("files ({grant})"),
            _ => grant.clone(),
        })
        .collect();
    Some(format!(
        "it could see the outside world: granted {}",
        named.join(", ")
    ))
}

/// What `outcome` computed differently from `record`.
fn differences(record: &TaskRecord, outcome: &TaskOutcome) -> Vec<Difference> {
    let mut out = Vec::new();
    compare("artifact", &record.artifacts, &outcome.artifacts, &mut out);
    let (objects, cards) = mfw_store::split_cards(&outcome.objects);
    compare("object", &record.objects, &objects, &mut out);
    compare("card", &record.cards, &cards, &mut out);
    let recorded_reads = record.runs_read.clone().unwrap_or_default();
    compare("read of", &recorded_reads, &outcome.runs_read, &mut out);
    if record.next != outcome.transition {
        out.push(Difference {
            what: "next".to_string(),
            recorded: record.next.as_ref().map(ToString::to_string),
            replayed: outcome.transition.as_ref().map(ToString::to_string),
        });
    }
    if record.splits != outcome.foreach_count {
        out.push(Difference {
            what: "foreach count".to_string(),
            recorded: record.splits.map(|n| n.to_string()),
            replayed: outcome.foreach_count.map(|n| n.to_string()),
        });
    }
    out
}

/// Each name whose hash differs between `recorded` and `replayed`.
fn compare(
    kind: &str,
    recorded: &BTreeMap<String, BlobHash>,
    replayed: &BTreeMap<String, BlobHash>,
    out: &mut Vec<Difference>,
) {
    let names: BTreeSet<&String> = recorded.keys().chain(replayed.keys()).collect();
    for name in names {
        let (was, is) = (recorded.get(name), replayed.get(name));
        if was != is {
            out.push(Difference {
                what: format!("{kind} `{name}`"),
                recorded: was.map(BlobHash::to_hex),
                replayed: is.map(BlobHash::to_hex),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_is_named_as_the_reason() {
        assert_eq!(outside_world(&[]), None);
        let reason = outside_world(&[
            "clock".to_string(),
            "env HOME".to_string(),
            "read /data=/srv/data".to_string(),
        ])
        .unwrap();
        assert_eq!(
            reason,
            "it could see the outside world: granted the real clock, the host's variable HOME, \
             files (read /data=/srv/data)"
        );
    }

    #[test]
    fn a_changed_missing_or_new_value_is_a_difference() {
        let a = BlobHash::of(b"a");
        let b = BlobHash::of(b"b");
        let recorded = BTreeMap::from([("x".to_string(), a), ("gone".to_string(), a)]);
        let replayed = BTreeMap::from([("x".to_string(), b), ("new".to_string(), b)]);
        let mut out = Vec::new();
        compare("artifact", &recorded, &replayed, &mut out);
        let what: Vec<&str> = out.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(what, ["artifact `gone`", "artifact `new`", "artifact `x`"]);
        assert_eq!(out[0].replayed, None);
        assert_eq!(out[1].recorded, None);
        assert_eq!(out[2].recorded, Some(a.to_hex()));
        let mut same = Vec::new();
        compare("artifact", &recorded, &recorded, &mut same);
        assert!(same.is_empty());
    }
}
