//! The mfw host: loads flow components into wasmtime and runs one task at a
//! time, each in a fresh, sandboxed instance.
//!
//! A [`Host`] owns the engine (pooling allocator, copy-on-write memory
//! images) and the compiled-component cache. [`Host::load`] checks that a
//! file is an mfw flow built against a compatible contract, compiles it (or
//! loads it precompiled) and reads its graph. [`LoadedFlow::run_task`] then
//! runs one step as one task: the guest sees only what the [`TaskSpec`]
//! gives it, and the [`TaskOutcome`] says what it set, where it went next,
//! and what it printed.
//!
//! ```no_run
//! use mfw_host::{Host, HostConfig};
//! let host = Host::new(HostConfig::default())?;
//! let bytes = std::fs::read("hello.wasm")?;
//! let flow = host.load(&bytes, "hello.wasm")?;
//! println!("{} has {} steps", flow.graph().name, flow.graph().steps.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bindings;
mod compiled_cache;
mod contract;
mod defaults;
mod engine;
mod files;
mod function_cache;
mod imports;
mod objects;
mod output;
mod runs;
mod sandbox;
mod streams;
mod task;
mod waits;

pub use contract::{
    CONTRACT_KEY_VERSION, CONTRACT_PACKAGE, CONTRACT_VERSION, ContractError, custom_section,
};
pub use defaults::{DefaultsError, RunStart};
pub use engine::{GraphExportError, Host, HostConfig, LoadedFlow};
pub use files::{FILES_SECTION, FilesError};
pub use objects::inherited_objects;
pub use output::{OutputSink, OutputStream};
pub use runs::{
    Answer, NotAQuestion, Question, ReadError, RecordedRuns, RunReader, RunView, RunsAccess,
    RunsRead, TaskView, TriggerView, recorded_form,
};
pub use sandbox::DETERMINISM;
pub use task::{
    BlobError, BlobRead, BlobSource, BlobWrite, DirGrant, Grants, JoinInput, NameMap, RunInfo,
    TaskFailure, TaskLimits, TaskOutcome, TaskSpec, WholeValue, error_chain,
};

/// What can stop a component from loading. Task failures are not errors of
/// this kind: they are reported in [`TaskOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The engine could not be configured.
    #[error("cannot start the WebAssembly engine")]
    Engine(#[source] wasmtime::Error),
    /// The file is not a usable mfw component.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// Compilation failed.
    #[error("cannot compile {source_name}")]
    Compile {
        /// The component as the user named it.
        source_name: String,
        /// What Cranelift or the validator said.
        #[source]
        source: wasmtime::Error,
    },
    /// The component needs imports mfw does not provide, or failed to start.
    #[error("cannot instantiate {source_name}")]
    Instantiate {
        /// The component as the user named it.
        source_name: String,
        /// Why.
        #[source]
        source: wasmtime::Error,
    },
    /// The component's data files cannot be unpacked.
    #[error("cannot load {source_name}: {source}")]
    Files {
        /// The component as the user named it.
        source_name: String,
        /// Why.
        #[source]
        source: crate::files::FilesError,
    },
    /// Calling the component's `graph` export failed.
    #[error("{source_name} failed while exporting its graph")]
    Graph {
        /// The component as the user named it.
        source_name: String,
        /// The trap, or what is wrong with the graph.
        #[source]
        source: GraphExportError,
    },
}
