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

mod blobs;
mod params;
mod plan;
mod policy;
mod remote;
mod run;

pub use blobs::StoreBlobs;
pub use params::{ParameterError, encode_parameter, read_computed_default, resolve_parameters};
pub use plan::{AssemblyError, FlowPlan};
pub use policy::{RunDefaults, Sandbox};
pub use remote::{Executor, RemoteBatch, WorkerOptions, WorkerReport, run_worker};
pub use run::{Resume, RunObserver, RunOptions, RunSummary, TaskKey, run_flow};

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
    /// Something about the plan is inconsistent.
    #[error("{0}")]
    Plan(String),
}
