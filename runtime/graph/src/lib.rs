//! The flow graph of mfw: what a flow component declares, and the checks the
//! runtime makes before any task runs.
//!
//! This crate knows nothing of WebAssembly: the host converts a component's
//! exported graph into a [`FlowGraph`], and the scheduler plans tasks from the
//! [`Topology`] that [`FlowGraph::validate`] returns.
//!
//! ```
//! use mfw_graph::{FlowGraph, Step};
//!
//! let graph = FlowGraph::new("HelloFlow")
//!     .with_step(Step::linear("start", ["end"]))
//!     .with_step(Step::end());
//! let topology = graph.validate().expect("a valid graph");
//! assert_eq!(topology.order(), ["start", "end"]);
//! ```

mod hash;
mod model;
mod transition;
mod validate;

pub use hash::{BlobHash, HashParseError};
pub use model::{Decorator, FlowGraph, ForeachFrame, ParamKind, Parameter, Step, Switch};
pub use transition::{Transition, TransitionError};
pub use validate::{GraphError, GraphProblem, StepKind, Topology};

/// Whether `name` can name a step, an artifact or a parameter: an ASCII
/// letter or `_`, then letters, digits or `_`, at most 128 bytes.
///
/// ```
/// assert!(mfw_graph::is_identifier("n_trees"));
/// assert!(!mfw_graph::is_identifier("2x"));
/// assert!(!mfw_graph::is_identifier("a-b"));
/// ```
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    name.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
