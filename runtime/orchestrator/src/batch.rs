//! Tasks that run elsewhere: a step's ready tasks are stored as one
//! [`Batch`], an executor's launcher starts workers that run them from the
//! datastore alone ([`crate::run_worker`]), and their records are read
//! back as they appear.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use mfw_graph::Step;
use mfw_host::OutputStream;
use mfw_store::{Batch, BatchInput, BatchTask, StoreError, TaskRecord, TaskStatus};

use crate::TaskKey;
use crate::executor::{Batches, ReadyTasks, TaskEnds};
use crate::task::{self, Finished, ReadyTask, TaskContext};

/// A batch stored for workers elsewhere.
#[derive(Debug, Clone)]
pub struct RemoteBatch {
    /// The batch's name in the datastore: all a worker needs.
    pub key: String,
    /// The flow.
    pub flow: String,
    /// The run.
    pub run_id: String,
    /// The step, with its decorators (resources, `@kubernetes`, ...).
    pub step: Step,
    /// How many tasks.
    pub tasks: usize,
    /// Attempts `@retry` allows after the first.
    pub retries: u32,
    /// Batches of this run before it (names each uniquely).
    pub number: u32,
}

/// Why the workers of a batch could not run it; any error, its causes
/// kept. A task's own failure is read from its record instead.
pub type LaunchError = Box<dyn std::error::Error + Send + Sync>;

/// Why a batch could not be handed over.
#[derive(Debug, thiserror::Error)]
enum SubmitError {
    #[error("no component provides step `{0}`")]
    NoComponent(String),
    #[error("the flow has no step `{0}`")]
    NoStep(String),
    #[error("cannot store the batch for the workers")]
    Store(#[source] StoreError),
}

/// How long the scheduler waits between looks at a batch's progress.
const POLL: Duration = Duration::from_millis(250);

impl ReadyTasks {
    /// Runs the tasks elsewhere: stores them as one batch (the scheduler
    /// has cloned those resume or the cache reuse), and calls `launch` with it; `launch` resolves
    /// once no worker will record any more of its tasks, with an error only
    /// if the workers could not run at all. Meanwhile the tasks that
    /// succeed are reported with their output; at the end every record is
    /// read and the tasks end as their records say (`@catch` included).
    pub async fn run_elsewhere<L>(self, launch: L) -> TaskEnds
    where
        L: FnOnce(RemoteBatch) -> BoxFuture<'static, Result<(), LaunchError>>,
    {
        let ReadyTasks {
            ctx,
            step,
            tasks,
            batches,
        } = self;
        // The scheduler has looked each one up in the origin run and the
        // cache already.
        let todo = tasks;
        if todo.is_empty() {
            return TaskEnds(Vec::new());
        }
        let batch = match submit(&ctx, &batches, &step, &todo).await {
            Ok(batch) => batch,
            Err(why) => {
                let why = mfw_host::error_chain(&why);
                return TaskEnds(
                    todo.into_iter()
                        .map(|t| Finished::unrecorded(&ctx, t, why.clone()))
                        .collect(),
                );
            }
        };
        if let Some(observer) = &ctx.observer {
            for task in &todo {
                observer.task_started(&task.key());
            }
        }
        let mut running = launch(batch);
        let wanted: HashSet<String> = todo.iter().map(ReadyTask::task_id).collect();
        let mut seen: HashMap<String, TaskRecord> = HashMap::new();
        let mut ticks = 0u32;
        let outcome = loop {
            tokio::select! {
                outcome = &mut running => break Some(outcome),
                () = tokio::time::sleep(POLL) => {
                    if ctx.cancel.load(Ordering::Relaxed) {
                        break None;
                    }
                    ticks += 1;
                    if ticks.is_multiple_of(4) {
                        progress(&ctx, &step, &wanted, &mut seen).await;
                    }
                }
            }
        };
        let Some(outcome) = outcome else {
            // Interrupted: the executor's shutdown removes the workers.
            return TaskEnds(
                todo.into_iter()
                    .map(|task| Finished {
                        interrupted: true,
                        ..Finished::unrecorded(&ctx, task, "interrupted".to_string())
                    })
                    .collect(),
            );
        };
        let records: Vec<(ReadyTask, Result<TaskRecord, StoreError>)> = futures::stream::iter(todo)
            .map(|task| {
                let ctx = ctx.clone();
                let known = seen.remove(&task.task_id());
                async move {
                    let record = match known {
                        Some(record) => Ok(record),
                        None => {
                            ctx.store
                                .read_task(&ctx.flow, &ctx.run_id, &task.step, &task.task_id())
                                .await
                        }
                    };
                    (task, record)
                }
            })
            .buffered(32)
            .collect()
            .await;
        let mut done = Vec::with_capacity(records.len());
        for (task, record) in records {
            done.push(conclude(&ctx, task, record, &outcome).await);
        }
        TaskEnds(done)
    }
}

/// Stores the batch and describes it for the executor.
async fn submit(
    ctx: &TaskContext,
    batches: &Batches,
    step: &str,
    todo: &[ReadyTask],
) -> Result<RemoteBatch, SubmitError> {
    let defaults = &batches.defaults;
    let component = ctx
        .code
        .component(step)
        .ok_or_else(|| SubmitError::NoComponent(step.to_string()))?;
    let step_def = ctx
        .graph
        .step(step)
        .cloned()
        .ok_or_else(|| SubmitError::NoStep(step.to_string()))?;
    let batch = Batch {
        flow: ctx.flow.clone(),
        run_id: ctx.run_id.clone(),
        step: step.to_string(),
        component,
        memory_mb: defaults.memory_mb,
        timeout_ms: defaults.timeout.map(|t| t.as_millis() as u64),
        fuel: defaults.fuel,
        max_splits: ctx.max_splits,
        cache: ctx.cache,
        tasks: todo.iter().map(batch_task).collect(),
    };
    let number = batches.stored.fetch_add(1, Ordering::Relaxed);
    let key = ctx
        .store
        .write_batch(&batch, &format!("{number:04}"))
        .await
        .map_err(SubmitError::Store)?;
    Ok(RemoteBatch {
        key,
        flow: ctx.flow.clone(),
        run_id: ctx.run_id.clone(),
        step: step_def,
        tasks: todo.len(),
        retries: ctx.policies.get(step).map_or(0, |p| p.retries),
        number,
    })
}

fn batch_task(task: &ReadyTask) -> BatchTask {
    BatchTask {
        path: task.path.clone(),
        iteration: task.iteration,
        artifacts: (*task.artifacts).clone(),
        objects: (*task.objects).clone(),
        inputs: task
            .inputs
            .iter()
            .map(|input| BatchInput {
                step: input.step.clone(),
                task_id: input.task_id.clone(),
                artifacts: (*input.artifacts).clone(),
                objects: (*input.objects).clone(),
            })
            .collect(),
        foreach: task.foreach.clone(),
        foreach_items: task.foreach_items.clone(),
        parents: task.parents.clone(),
    }
}

/// Reports the tasks of a running batch that have succeeded so far, with
/// their output, and keeps their records.
async fn progress(
    ctx: &TaskContext,
    step: &str,
    wanted: &HashSet<String>,
    seen: &mut HashMap<String, TaskRecord>,
) {
    let Ok(ids) = ctx.store.list_task_ids(&ctx.flow, &ctx.run_id, step).await else {
        return; // Progress is best effort; the end reads every record.
    };
    let new: Vec<String> = ids
        .into_iter()
        .filter(|id| wanted.contains(id) && !seen.contains_key(id))
        .collect();
    let records: Vec<TaskRecord> = futures::stream::iter(new)
        .map(|id| async move {
            ctx.store
                .read_task(&ctx.flow, &ctx.run_id, step, &id)
                .await
                .ok()
        })
        .buffer_unordered(32)
        .filter_map(|r| async move { r })
        .collect()
        .await;
    for record in records {
        if record.status != TaskStatus::Succeeded {
            continue; // It may be retried: its end is read at the end.
        }
        report(ctx, &record, None).await;
        seen.insert(record.task_id.clone(), record);
    }
}

/// Shows a remote task's output and its end.
async fn report(ctx: &TaskContext, record: &TaskRecord, failure: Option<&str>) {
    let Some(observer) = &ctx.observer else {
        return;
    };
    let key = TaskKey {
        step: record.step.clone(),
        task_id: record.task_id.clone(),
    };
    for attempt in &record.attempts {
        for (stream, log) in [
            (OutputStream::Stdout, &attempt.stdout),
            (OutputStream::Stderr, &attempt.stderr),
        ] {
            if let Some(hash) = log
                && let Ok(bytes) = ctx.store.get_blob(hash).await
            {
                for line in String::from_utf8_lossy(&bytes).lines() {
                    observer.task_output(&key, stream, line);
                }
            }
        }
    }
    observer.task_finished(&key, failure);
}

/// Why the workers' outcome leaves a task without an end of its own.
fn workers_failed(outcome: &Result<(), LaunchError>, otherwise: &str) -> String {
    match outcome {
        Err(why) => format!(
            "its workers failed: {}",
            mfw_host::error_chain(why.as_ref())
        ),
        Ok(()) => otherwise.to_string(),
    }
}

/// A task the workers ran (or did not), as the scheduler continues it.
async fn conclude(
    ctx: &Arc<TaskContext>,
    task: ReadyTask,
    record: Result<TaskRecord, StoreError>,
    outcome: &Result<(), LaunchError>,
) -> Finished {
    let Ok(record) = record else {
        let why = workers_failed(
            outcome,
            "no worker recorded it (its pods ended without running it)",
        );
        let finished = Finished::unrecorded(ctx, task, why.clone());
        if let Some(observer) = &ctx.observer {
            observer.task_finished(&finished.task.key(), Some(&why));
        }
        return finished;
    };
    if record.status == TaskStatus::Succeeded {
        return Finished::succeeded(task, record);
    }
    let error = record
        .attempts
        .last()
        .and_then(|a| a.error.clone())
        .unwrap_or_else(|| mfw_store::TaskError {
            kind: "host".to_string(),
            message: workers_failed(outcome, "it did not finish"),
            ..mfw_store::TaskError::default()
        });
    let catch = ctx.policies.get(&task.step).and_then(|p| p.catch.clone());
    if let Some(var) = catch {
        let fallback = task.clone();
        let runner = ctx.clone();
        let handle =
            tokio::task::spawn_blocking(move || task::caught(&runner, task, record, &error, var));
        return match handle.await {
            Ok(finished) => finished,
            Err(e) => Finished::unrecorded(ctx, fallback, format!("mfw worker failed: {e}")),
        };
    }
    report(ctx, &record, Some(&error.message)).await;
    let mut finished = Finished::succeeded(task, record);
    finished.failure = Some(error.message);
    finished
}
