//! Parameter defaults computed when a run starts: the optional
//! `parameter-defaults` export of the contract (since 0.1.2), which Python
//! components provide for Metaflow's deploy-time defaults
//! (`Parameter("n", default=lambda ctx: ...)`).
//!
//! The export is called once per run, before any task, in a sandbox that
//! grants nothing (virtual clock, seeded randomness, no files, environment
//! or network), so a default is a function of the run start alone.

use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, ComponentType, Lower};

use crate::bindings::mfw::flow::types::StepError;
use crate::engine::LoadedFlow;
use crate::task::TaskState;
use crate::waits::{Stop, stop_store_at};

/// The exported interface, at the version this host implements.
const INTERFACE: &str = "mfw:flow/parameter-defaults@0.1.6";

/// How long computing a run's defaults may take.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The run a default is computed for: what Metaflow's `ParameterContext`
/// tells a default function.
///
/// ```
/// let start = mfw_host::RunStart {
///     flow: "TrainFlow".into(),
///     user: "ana".into(),
///     datastore: "local".into(),
/// };
/// assert_eq!(start.user, "ana");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lower)]
#[component(record)]
pub struct RunStart {
    /// The flow's name.
    pub flow: String,
    /// Who starts the run (the run's `user:` tag).
    pub user: String,
    /// The kind of datastore: `local` or `s3`.
    pub datastore: String,
}

/// Why a run's parameter defaults could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefaultsError {
    /// A default's own code failed (the guest's error, with its traceback).
    #[error("{message}\n{detail}")]
    Failed {
        /// The error's kind, such as `ValueError`.
        kind: String,
        /// One line.
        message: String,
        /// The traceback.
        detail: String,
    },
    /// The component trapped, ran out of time, or could not start.
    #[error("{source_name} failed while computing parameter defaults: {reason}")]
    Trapped {
        /// The component as the user named it.
        source_name: String,
        /// The trap.
        reason: String,
    },
    /// The component returned a value that is not one well-formed value in
    /// the mfw encoding, or a parameter it was not asked for.
    #[error("{source_name} computed an invalid default for parameter `{name}`: {reason}")]
    Invalid {
        /// The component as the user named it.
        source_name: String,
        /// The parameter.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Finds the export in a component, if it has one.
pub(crate) fn find_export(
    component: &wasmtime::component::Component,
) -> Option<ComponentExportIndex> {
    let (_, interface) = component.get_export(None, INTERFACE)?;
    let (_, compute) = component.get_export(Some(&interface), "compute")?;
    Some(compute)
}

impl LoadedFlow {
    /// Computes, at run start, the defaults of those of `names` (parameters
    /// the run was not given and that have no fixed default) that the
    /// component computes. A component without the export computes none.
    pub fn compute_parameter_defaults(
        &self,
        names: &[String],
        start: &RunStart,
    ) -> Result<Vec<(String, Vec<u8>)>, DefaultsError> {
        let inner = &self.inner;
        if !inner.has_parameter_defaults || names.is_empty() {
            return Ok(Vec::new());
        }
        let trapped = |e: wasmtime::Error| DefaultsError::Trapped {
            source_name: inner.name.clone(),
            reason: format!("{e:#}"),
        };
        let compiled = inner.compiled().map_err(|e| DefaultsError::Trapped {
            source_name: inner.name.clone(),
            reason: crate::error_chain(&e),
        })?;
        let Some(compute) = compiled.parameter_defaults.as_ref() else {
            return Ok(Vec::new());
        };
        let mut store = Store::new(inner.engine(), TaskState::without_task());
        stop_store_at(&mut store, Stop::new(Some(TIME_LIMIT), None));
        // With fuel metering on, the call needs some.
        let _ = store.set_fuel(u64::MAX);
        let instance = compiled
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(trapped)?;
        type Computed = Result<Vec<(String, Vec<u8>)>, StepError>;
        let func = instance
            .get_typed_func::<(Vec<String>, RunStart), (Computed,)>(&mut store, compute)
            .map_err(trapped)?;
        let (computed,) = func
            .call(&mut store, (names.to_vec(), start.clone()))
            .map_err(trapped)?;
        let values = computed.map_err(|e| DefaultsError::Failed {
            kind: e.kind,
            message: e.message,
            detail: e.detail,
        })?;
        for (name, value) in &values {
            let invalid = |reason: String| DefaultsError::Invalid {
                source_name: inner.name.clone(),
                name: name.clone(),
                reason,
            };
            if !names.contains(name) {
                return Err(invalid("the host did not ask for it".to_string()));
            }
            mfw_encoding::decode(value).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(values)
    }
}
