//! Write mfw flows in Rust.
//!
//! A flow is a struct (its parameters) and an `impl` block of steps. Steps
//! read and write artifacts through the [`Context`], typed with serde, and
//! say where the flow goes next with [`Context::next`]. The graph is read
//! from the source at build time, as Metaflow does, so a misspelt step is a
//! compile error. Build with `mfw build <dir>`; run with `mfw run <dir>`.
//!
//! ```ignore
//! use mfw::prelude::*;
//!
//! /// The classic: set x in start, increment it in end.
//! #[derive(FlowSpec)]
//! pub struct HelloFlow;
//!
//! #[steps]
//! impl HelloFlow {
//!     #[step]
//!     fn start(&self, cx: &mut Context) -> StepResult {
//!         cx.set("x", &1)?;
//!         cx.next("end")
//!     }
//!
//!     #[step]
//!     fn end(&self, cx: &mut Context) -> StepResult {
//!         let x: i64 = cx.get("x")?;
//!         cx.set("x", &(x + 1))?;
//!         println!("Hello world! The value of x is {}", x + 1);
//!         Ok(())
//!     }
//! }
//! ```

mod context;
mod error;
mod inputs;
mod parameter;
mod runs;
mod streams;

#[doc(hidden)]
pub mod __rt;
pub mod cards;

#[doc(hidden)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "mfw:flow/flow-component",
        pub_export_macro: true,
        export_macro_name: "__export",
        default_bindings_module: "mfw::__bindings",
    });
}

pub use context::Context;
pub use context::{Current, ForeachFrame, Level, RunInfo, SwitchCase};
pub use error::{Error, StepResult};
pub use inputs::{Input, Inputs};
pub use mfw_encoding::{ArrowTable, DType, NdArray, Value};
#[cfg(feature = "arrow")]
pub use mfw_encoding::{arrow_array, arrow_schema};
pub use mfw_macros::{FlowSpec, steps};
pub use parameter::{IncludeFile, Json, ParameterType};
pub use runs::{Flow, Run, Task, Trigger, trigger};
pub use streams::{BytesReader, BytesWriter};

/// What `#[derive(FlowSpec)]` implements: the flow's name, documentation,
/// decorators and parameters, and how to build it from a run's parameters.
pub trait FlowSpec: Sized {
    /// The flow's declaration.
    fn info() -> __rt::FlowInfo;
    /// The flow with the run's parameter values.
    fn from_parameters() -> Result<Self, Error>;
}

/// What `#[steps]` implements: the steps and how to run one.
pub trait Steps {
    /// Every step, in source order.
    fn steps() -> Vec<__rt::StepInfo>;
    /// Runs the step named `step`.
    fn run_step(&self, step: &str, cx: &mut Context) -> StepResult;
}

/// Everything a flow file needs: `use mfw::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Context, Error, FlowSpec, IncludeFile, Input, Inputs, Json, StepResult, Value, steps,
    };
}

/// Exports the flow as the component's `mfw:flow/flow` interface; emitted
/// by `#[steps]`, once per component.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_flow {
    ($ty:ty) => {
        const _: () = {
            struct MfwComponent;

            impl $crate::__bindings::exports::mfw::flow::flow::Guest for MfwComponent {
                fn graph() -> $crate::__bindings::mfw::flow::types::FlowGraph {
                    $crate::__rt::graph::<$ty>()
                }

                fn run_step(
                    step: ::std::string::String,
                ) -> ::core::result::Result<(), $crate::__bindings::mfw::flow::types::StepError>
                {
                    $crate::__rt::run_step::<$ty>(&step)
                }
            }

    $crate::__bindings::__export!(MfwComponent with_types_in $crate::__bindings);
        };
    };
}
