//! Resuming a run: which tasks of earlier runs the new run reuses instead
//! of running them.
//!
//! Every run in the origin chain (the run resumed, the run it resumed, and
//! so on) offers its successful tasks. A task is reused when one of them
//! was given the same inputs (see `key.rs`) and every value it recorded is
//! still stored; everything else runs. So a killed resume loses nothing
//! the run before it finished, one failed foreach task reruns alone, and a
//! task whose record or values were damaged (and set aside by
//! `mfw doctor --repair`) runs again.
//!
//! Two sets of steps narrow this down:
//! - `--from-step S` reruns S and everything after it, whatever they were
//!   given;
//! - by default, the first step with a failed task and the steps after it
//!   reuse a task only if it ran the same component, so a fix to a failed
//!   step's code reruns that step whole, while the steps before it are
//!   reused even though the code changed (as in Metaflow).

use std::collections::{BTreeMap, HashMap, HashSet};

use mfw_graph::BlobHash;
use mfw_store::{Datastore, RunStatus, TaskRecord, TaskStatus};

use crate::cache::Presence;
use crate::task::{Finished, Identity, ReadyTask, TaskContext};
use crate::{FlowPlan, OrchestratorError, Resume};

/// How many runs back the origin chain is followed.
const MAX_CHAIN: usize = 64;

/// What a resumed run may reuse.
pub(crate) struct Origin {
    /// The run resumed.
    pub(crate) run_id: String,
    /// The runs whose tasks are offered, newest first.
    pub(crate) chain: Vec<String>,
    /// Steps that run again, whatever earlier runs did (`--from-step`).
    always_run: HashSet<String>,
    /// Steps whose tasks are reused only if they ran the same component.
    same_code: HashSet<String>,
    /// Successful tasks of the chain by `(step, task id)`, newest first.
    offered: HashMap<(String, String), Vec<TaskRecord>>,
}

impl Origin {
    /// Reads the run to resume and the runs it came from.
    pub(crate) async fn load(
        store: &Datastore,
        plan: &FlowPlan,
        resume: &Resume,
    ) -> Result<Self, OrchestratorError> {
        let flow = &plan.graph.name;
        let run = store.read_run(flow, &resume.origin_run_id).await?;
        // A run killed mid-write leaves staging files, never half records:
        // clear them so nothing half-written stays behind.
        let _ = store.remove_staging(flow, &resume.origin_run_id);
        let (tasks, damaged) = store
            .list_tasks_checked(flow, &resume.origin_run_id)
            .await?;
        let mut always_run = HashSet::new();
        let mut same_code = HashSet::new();
        match &resume.from_step {
            Some(step) => {
                if plan.graph.step(step).is_none() {
                    return Err(OrchestratorError::NoStepToResumeFrom {
                        flow: flow.clone(),
                        step: step.clone(),
                    });
                }
                always_run = after(plan, step);
            }
            None => {
                if run.status == RunStatus::Succeeded && damaged.is_empty() && complete(&tasks) {
                    return Err(OrchestratorError::NothingToResume {
                        flow: flow.clone(),
                        run_id: resume.origin_run_id.clone(),
                    });
                }
                let failed = plan.topology.order().iter().find(|step| {
                    tasks
                        .get(*step)
                        .is_some_and(|list| list.iter().any(|t| t.status == TaskStatus::Failed))
                });
                if let Some(step) = failed {
                    same_code = after(plan, step);
                }
            }
        }
        let mut origin = Self {
            run_id: resume.origin_run_id.clone(),
            chain: vec![resume.origin_run_id.clone()],
            always_run,
            same_code,
            offered: HashMap::new(),
        };
        origin.offer(tasks);
        // Older runs of the chain: one that cannot be read ends the chain
        // (its tasks simply run again), it never stops the resume.
        let mut next = run.origin_run_id.clone();
        while let Some(run_id) = next.take() {
            if origin.chain.len() >= MAX_CHAIN || origin.chain.contains(&run_id) {
                break;
            }
            let Ok(run) = store.read_run(flow, &run_id).await else {
                break;
            };
            let Ok(tasks) = store.list_tasks(flow, &run_id).await else {
                break;
            };
            origin.chain.push(run_id);
            origin.offer(tasks);
            next = run.origin_run_id;
        }
        Ok(origin)
    }

    fn offer(&mut self, tasks: BTreeMap<String, Vec<TaskRecord>>) {
        for record in tasks.into_values().flatten() {
            if record.status == TaskStatus::Succeeded {
                self.offered
                    .entry((record.step.clone(), record.task_id.clone()))
                    .or_default()
                    .push(record);
            }
        }
    }

    /// How many tasks the chain offers a finished record of, outside the
    /// steps that run again whatever happened before.
    pub(crate) fn offered(&self) -> usize {
        self.offered
            .keys()
            .filter(|(step, _)| !self.always_run.contains(step))
            .count()
    }

    /// Whether `step` runs again whatever earlier runs did (`--from-step`
    /// and after): neither resume nor the cache may skip it.
    pub(crate) fn always_runs(&self, step: &str) -> bool {
        self.always_run.contains(step)
    }

    /// The earlier record `task` may reuse: same inputs, allowed code, and
    /// every value still stored.
    async fn reusable(
        &self,
        store: &Datastore,
        presence: &Presence,
        task: &ReadyTask,
        input_key: &BlobHash,
        component: Option<&BlobHash>,
    ) -> Option<&TaskRecord> {
        if self.always_run.contains(&task.step) {
            return None;
        }
        let offered = self.offered.get(&(task.step.clone(), task.task_id()))?;
        for record in offered {
            let inputs_match = match &record.input_key {
                Some(key) => key == input_key,
                // A record from before input keys: trusted as resume always
                // did, from the run resumed and before the failed step.
                None => record.run_id == self.run_id && !self.same_code.contains(&task.step),
            };
            if !inputs_match {
                continue;
            }
            if self.same_code.contains(&task.step) && record.component.as_ref() != component {
                continue;
            }
            if presence.all_stored(store, record).await {
                return Some(record);
            }
        }
        None
    }
}

/// `step` and every step after it.
fn after(plan: &FlowPlan, step: &str) -> HashSet<String> {
    let mut steps = HashSet::new();
    let mut queue = vec![step.to_string()];
    while let Some(step) = queue.pop() {
        if let Some(s) = plan.graph.step(&step)
            && steps.insert(step)
        {
            queue.extend(s.next.iter().cloned());
        }
    }
    steps
}

/// Whether a run's records are whole: it reached `end`, and every task a
/// record names as a parent has a record (`mfw doctor --repair` sets aside
/// damaged ones, whose tasks must run again).
fn complete(tasks: &BTreeMap<String, Vec<TaskRecord>>) -> bool {
    let recorded: HashSet<String> = tasks
        .values()
        .flatten()
        .map(|t| format!("{}/{}", t.step, t.task_id))
        .collect();
    recorded.contains("end/0")
        && tasks
            .values()
            .flatten()
            .all(|t| t.parents.iter().all(|p| recorded.contains(p)))
}

/// When resuming: the earlier record of this task, if it may be reused,
/// copied into this run. `None` means: run the task.
pub(crate) async fn clone_from_origin(
    ctx: &TaskContext,
    task: &ReadyTask,
    identity: &Identity,
) -> Option<Finished> {
    let origin = ctx.origin.as_ref()?;
    let old = origin
        .reusable(
            &ctx.store,
            &ctx.presence,
            task,
            &identity.input_key,
            identity.component.as_ref(),
        )
        .await?;
    crate::cache::clone_into_run(ctx, task, identity, old.clone(), false).await
}
