//! The mfw orchestrator: plans a flow's tasks from its graph, runs them in
//! parallel on the host, and records every task and the run in the
//! datastore.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mfw_orchestrator::{FlowPlan, RunOptions, run_flow};
//! let host = mfw_host::Host::new(mfw_host::HostConfig::default())?;
//! let flow = host.load(&std::fs::read("hello.wasm")?, "hello.wasm")?;
//! let plan = FlowPlan::single(flow, "hello.wasm")?;
//! let store = mfw_store::Datastore::open(".mfw")?;
//! let summary = run_flow(&store, &plan, RunOptions::default()).await?;
//! println!("run {} {}", summary.run_id, summary.status);
//! # Ok(()) }
//! ```

mod batch;
mod blobs;
mod cache;
mod executor;
mod key;
mod live;
mod observer;
mod params;
mod plan;
mod policy;
mod replay;
mod resume;
mod run;
mod runs;
mod scheduler;
mod task;
mod worker;

#[cfg(test)]
mod tests;

pub use batch::{LaunchError, RemoteBatch};
pub use blobs::StoreBlobs;
pub use executor::{Claim, Executor, ReadyTasks, TaskEnds};
pub use observer::{RunObserver, TaskKey};
pub use params::{ParameterError, encode_parameter, read_computed_default, resolve_parameters};
pub use plan::{AssemblyError, FlowPlan};
pub use policy::{PolicyError, RunDefaults, Sandbox};
pub use replay::{Difference, ReplayOptions, Replayed, Verdict, replay_run};
pub use run::{Resume, RunOptions, RunSummary, run_flow};
pub use runs::StoreRuns;
pub use worker::{WorkerOptions, WorkerReport, run_worker};

/// What stops a run from starting or being recorded. Task failures are not
/// errors: they end in a failed [`RunSummary`].
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// The graph failed its checks.
    #[error(transparent)]
    Graph(#[from] mfw_graph::GraphError),
    /// Parameters were missing or malformed.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// The datastore failed.
    #[error(transparent)]
    Store(#[from] mfw_store::StoreError),
    /// A step's decorators ask for limits or grants it cannot have.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A component cannot be loaded (a remote worker's).
    #[error(transparent)]
    Load(#[from] mfw_host::HostError),
    /// `--from-step` names no step of the flow.
    #[error("flow `{flow}` has no step `{step}` to resume from")]
    NoStepToResumeFrom {
        /// The flow.
        flow: String,
        /// The step given.
        step: String,
    },
    /// The run to resume succeeded and no step to re-run was given.
    #[error(
        "run {flow}/{run_id} succeeded: there is nothing to resume (give --from-step to re-run \
         from a step)"
    )]
    NothingToResume {
        /// The flow.
        flow: String,
        /// The run.
        run_id: String,
    },
    /// A batch's run was recorded without its graph.
    #[error("run {flow}/{run_id} has no recorded graph")]
    NoGraph {
        /// The flow.
        flow: String,
        /// The run.
        run_id: String,
    },
    /// A batch names a component its run does not use.
    #[error("run {flow}/{run_id} does not use component {component}")]
    UnknownComponent {
        /// The flow.
        flow: String,
        /// The run.
        run_id: String,
        /// The component's hash.
        component: mfw_graph::BlobHash,
    },
    /// A batch names a step its flow does not have.
    #[error("the flow has no step `{0}`")]
    NoSuchStep(String),
    /// The task to replay is not in its run (`Flow/run/step/task`).
    #[error("{0} is not a task of its run (`mfw dump Flow/run` lists them)")]
    NoSuchTask(String),
    /// A recorded task's successors cannot be planned again (replay).
    #[error("cannot plan what follows task {task} again")]
    Replan {
        /// `step/task`.
        task: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A foreach list a batch's tasks take their items from is not a list.
    #[error("foreach list {hash} is not a list")]
    ForeachList {
        /// The list's blob.
        hash: mfw_graph::BlobHash,
        /// What the decoder said.
        #[source]
        source: mfw_encoding::Error,
    },
    /// A batch's task takes an item past the end of its foreach list.
    #[error("foreach list {hash} has no item {index}")]
    ForeachItem {
        /// The list's blob.
        hash: mfw_graph::BlobHash,
        /// The item.
        index: u32,
    },
    /// A thread of the worker stopped (a panic: a bug in mfw).
    #[error("{what}")]
    Thread {
        /// What failed.
        what: &'static str,
        /// How the thread ended.
        #[source]
        source: tokio::task::JoinError,
    },
}
