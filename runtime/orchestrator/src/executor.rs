//! Where tasks run. The scheduler hands every ready task to an
//! [`Executor`] and never learns where it ran: the [`LocalExecutor`] runs
//! tasks on this machine's blocking threads, one at a time as the run's
//! worker slots free up; an executor such as Kubernetes takes a step's
//! ready tasks as one batch and runs them elsewhere
//! ([`ReadyTasks::run_elsewhere`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use futures::future::BoxFuture;
use mfw_graph::{FlowGraph, Step};

use crate::RunDefaults;
use crate::policy::StepPolicy;
use crate::task::{self, Finished, ReadyTask, Retries, TaskContext};

/// Runs the tasks of the steps it claims: here, or somewhere else such as
/// a Kubernetes cluster.
///
/// An executor that runs its tasks elsewhere stores them as one batch and
/// starts workers that call [`crate::run_worker`] with its name; the
/// scheduler then reads the tasks' records back. A sketch of an executor
/// that runs the workers as local processes:
///
/// ```no_run
/// use futures::future::BoxFuture;
/// use mfw_orchestrator::{Executor, ReadyTasks, TaskEnds};
///
/// struct Processes;
///
/// impl Executor for Processes {
///     fn runs(&self, _step: &mfw_graph::Step) -> bool {
///         true
///     }
///     fn run(&self, tasks: ReadyTasks) -> BoxFuture<'static, TaskEnds> {
///         Box::pin(tasks.run_elsewhere(|batch| {
///             Box::pin(async move {
///                 let worker = move || {
///                     std::process::Command::new("mfw")
///                         .args(["worker", "--batch", &batch.key, "--shard", "0", "--shards", "1"])
///                         .status()
///                 };
///                 let status = tokio::task::spawn_blocking(worker).await??;
///                 if status.success() {
///                     Ok(())
///                 } else {
///                     Err(format!("worker {status}").into())
///                 }
///             })
///         }))
///     }
/// }
/// ```
pub trait Executor: Send + Sync {
    /// Whether `step` runs here (every step, or those that ask for it).
    fn runs(&self, step: &Step) -> bool;

    /// What one task of `step` takes from the run's worker slots and
    /// memory budget while it runs: the scheduler starts such tasks one at
    /// a time as the budget allows. `None` (the default) takes nothing:
    /// the step's ready tasks come together, as one batch.
    fn claim(&self, _step: &str) -> Option<Claim> {
        None
    }

    /// Runs `tasks` (all of one step) and says how each ended. A task that
    /// fails is an end like any other, never an error.
    fn run(&self, tasks: ReadyTasks) -> BoxFuture<'static, TaskEnds>;

    /// Removes everything it created; called once the run ends, however it
    /// ends (an interrupted run included).
    fn shutdown(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// What a running task takes from the run's budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claim {
    /// Worker slots (`@resources(cpu)`; at least one).
    pub slots: usize,
    /// The task's memory limit, in MB.
    pub memory_mb: u64,
}

/// Ready tasks of one step, handed to an [`Executor`].
pub struct ReadyTasks {
    pub(crate) ctx: Arc<TaskContext>,
    pub(crate) step: String,
    pub(crate) tasks: Vec<ReadyTask>,
    pub(crate) batches: Arc<Batches>,
}

impl ReadyTasks {
    /// The step.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// How many tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// How the tasks an [`Executor`] was given ended (their records are
/// written by then).
pub struct TaskEnds(pub(crate) Vec<Finished>);

/// What naming and describing a run's batches needs.
pub(crate) struct Batches {
    /// Limits steps get unless they set their own (sent to remote workers).
    pub(crate) defaults: RunDefaults,
    /// Batches stored so far (names them).
    pub(crate) stored: AtomicU32,
}

/// The executors of a run, the first that runs a step taking it; the
/// local executor, last, runs every other step.
pub(crate) struct Executors {
    elsewhere: Vec<Arc<dyn Executor>>,
    local: Arc<dyn Executor>,
    graph: Arc<FlowGraph>,
    batches: Arc<Batches>,
}

impl Executors {
    /// `elsewhere` first (when given), then `local`.
    pub(crate) fn new(
        elsewhere: Option<Arc<dyn Executor>>,
        local: Arc<dyn Executor>,
        graph: Arc<FlowGraph>,
        defaults: RunDefaults,
    ) -> Self {
        Self {
            elsewhere: elsewhere.into_iter().collect(),
            local,
            graph,
            batches: Arc::new(Batches {
                defaults,
                stored: AtomicU32::new(0),
            }),
        }
    }

    /// The executor that runs `step`.
    pub(crate) fn for_step(&self, step: &str) -> &Arc<dyn Executor> {
        self.graph
            .step(step)
            .and_then(|step| self.elsewhere.iter().find(|e| e.runs(step)))
            .unwrap_or(&self.local)
    }

    /// `tasks` of `step`, ready for their executor.
    pub(crate) fn ready(
        &self,
        ctx: &Arc<TaskContext>,
        step: String,
        tasks: Vec<ReadyTask>,
    ) -> ReadyTasks {
        ReadyTasks {
            ctx: ctx.clone(),
            step,
            tasks,
            batches: self.batches.clone(),
        }
    }
}

/// Runs tasks in this process, each on a blocking thread in a fresh
/// instance, retrying them here as `@retry` allows.
pub(crate) struct LocalExecutor {
    claims: HashMap<String, Claim>,
    default_memory_mb: u64,
}

impl LocalExecutor {
    pub(crate) fn new(policies: &HashMap<String, StepPolicy>, default_memory_mb: u64) -> Self {
        let claims = policies
            .iter()
            .map(|(step, p)| {
                let claim = Claim {
                    slots: p.cpu,
                    memory_mb: p.limits.memory_bytes >> 20,
                };
                (step.clone(), claim)
            })
            .collect();
        Self {
            claims,
            default_memory_mb,
        }
    }
}

impl Executor for LocalExecutor {
    fn runs(&self, _step: &Step) -> bool {
        true
    }

    fn claim(&self, step: &str) -> Option<Claim> {
        Some(self.claims.get(step).copied().unwrap_or(Claim {
            slots: 1,
            memory_mb: self.default_memory_mb,
        }))
    }

    fn run(&self, tasks: ReadyTasks) -> BoxFuture<'static, TaskEnds> {
        Box::pin(async move {
            let mut ends = Vec::with_capacity(tasks.len());
            for task in tasks.tasks {
                let ctx = tasks.ctx.clone();
                let ran = tokio::task::spawn_blocking(move || task::run(&ctx, task, Retries::Here));
                match ran.await {
                    Ok(finished) => ends.push(finished),
                    // A panic is a host bug: the scheduler reports it as one.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Cancelled: the runtime is shutting down.
                    Err(_) => {}
                }
            }
            TaskEnds(ends)
        })
    }
}
