//! The subcommands, one file each (`run` also holds `resume`, `build`
//! also `check`); what they share is here: the command context and the
//! loaded flow.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use mfw_graph::{FlowGraph, ParamKind, StepKind};
use mfw_host::{Host, HostConfig, LoadedFlow};
use mfw_orchestrator::{
    FlowPlan, RunDefaults, RunOptions, Sandbox, read_computed_default, resolve_parameters, run_flow,
};
use mfw_store::{Datastore, RunRecord, RunStatus, TaskRecord};

use crate::observer::TerminalObserver;
use crate::pathspec::Pathspec;

mod build;
pub mod card;
pub(crate) mod configs;
pub mod deploy;
pub mod doctor;
mod dump;
mod logs;
mod replay;
mod run;
mod runs;
mod show;
pub mod tag;
mod ui;
pub mod wheels;

pub use build::{BuildArgs, FlowArg, build, check};
pub use dump::{DumpArgs, dump};
pub use logs::{LogsArgs, logs};
pub use replay::{ReplayArgs, replay};
pub(crate) use run::username;
pub use run::{ResumeArgs, RunArgs, resume, run, run_help};
pub use runs::{RunsArgs, runs};
pub use show::{ShowArgs, show};
pub use ui::{UiArgs, ui};

/// Limits for steps whose decorators set none: the command line's, else
/// the config file's, else mfw's own (which follow the machine's memory).
pub(crate) fn run_defaults(
    config: &crate::config::Config,
    timeout_seconds: Option<f64>,
    memory_mb: Option<u64>,
    fuel: Option<u64>,
) -> RunDefaults {
    let builtin = RunDefaults::default();
    RunDefaults {
        timeout: timeout_seconds
            .or(config.defaults.timeout_seconds)
            .filter(|s| *s > 0.0)
            .map(std::time::Duration::from_secs_f64),
        memory_mb: memory_mb
            .or(config.defaults.memory_mb)
            .unwrap_or(builtin.memory_mb),
        fuel,
        in_flight_mb: config.defaults.in_flight_mb.unwrap_or(builtin.in_flight_mb),
    }
}

/// Turns true at the first Ctrl-C, after printing `first`; a second
/// Ctrl-C prints `second` and exits at once (code 130).
pub(crate) fn interrupt_on_ctrl_c(
    first: &'static str,
    second: &'static str,
) -> tokio::sync::watch::Receiver<bool> {
    let (interrupt_tx, interrupt_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("{first}");
            let _ = interrupt_tx.send(true);
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("{second}");
            std::process::exit(130);
        }
    });
    interrupt_rx
}

/// Settings every command shares.
pub struct Context {
    pub datastore: String,
    pub cache_dir: PathBuf,
}

impl Context {
    /// The datastore; a remote one's blobs are cached under the cache
    /// directory (`--cache-dir`), with the components.
    pub(crate) fn store(&self) -> anyhow::Result<Datastore> {
        let blobs = self.cache_dir.join("blobs");
        Ok(Datastore::open_caching_in(&self.datastore, Some(&blobs))?)
    }

    /// How this command builds components; a remote datastore shares the
    /// native wheels Python builds make.
    pub(crate) fn build_options<'a>(
        &'a self,
        force: bool,
        configs: &'a BTreeMap<String, String>,
    ) -> mfw_build::BuildOptions<'a> {
        mfw_build::BuildOptions {
            cache_dir: &self.cache_dir,
            force,
            shared_store: self.shared_store(),
            configs,
        }
    }

    /// The datastore, when it is remote (a bucket a team shares).
    pub(crate) fn shared_store(&self) -> Option<&str> {
        Datastore::open(&self.datastore)
            .is_ok_and(|store| store.is_remote())
            .then_some(self.datastore.as_str())
    }

    pub(crate) fn host(&self, max_concurrent_tasks: usize, fuel: bool) -> anyhow::Result<Host> {
        Ok(Host::new(HostConfig {
            cache_dir: Some(self.cache_dir.join("compiled")),
            max_concurrent_tasks: u32::try_from(max_concurrent_tasks).unwrap_or(u32::MAX),
            fuel,
            ..HostConfig::default()
        })?)
    }

    /// Builds what needs building and loads the flow at `path`: one
    /// component, or every component a manifest names.
    pub(crate) fn load(&self, path: &Path, host: &Host) -> anyhow::Result<FlowSet> {
        self.load_configured(path, host, &BTreeMap::new())
    }

    /// As `load`, building Python flows with these Config texts (`mfw run
    /// --config`).
    pub(crate) fn load_configured(
        &self,
        path: &Path,
        host: &Host,
        configs: &BTreeMap<String, String>,
    ) -> anyhow::Result<FlowSet> {
        let resolved = mfw_build::resolve(path, &self.build_options(false, configs))?;
        let mut components = Vec::new();
        let mut prebuilt = Vec::new();
        let mut step_code = std::collections::BTreeMap::new();
        for component in resolved.components {
            // Seconds to a minute for a large Python component: say so.
            let compiling = || {
                eprintln!(
                    "mfw: compiling {} ({:.1} MB) to native code, kept for the next runs",
                    component.name,
                    component.bytes.len() as f64 / 1e6
                )
            };
            let flow = host.load_reporting(&component.bytes, &component.name, &compiling)?;
            if component.prebuilt {
                prebuilt.push(component.name.clone());
            } else {
                step_code.extend(component.step_code);
            }
            components.push((flow, component.name));
        }
        Ok(FlowSet {
            components,
            name: resolved.name,
            prebuilt,
            step_code,
        })
    }
}

/// A flow's components, loaded.
pub(crate) struct FlowSet {
    pub(crate) components: Vec<(LoadedFlow, String)>,
    pub(crate) name: Option<String>,
    /// The components (by name) not built from local source here: the
    /// user named a `.wasm`, or a package from the datastore.
    pub(crate) prebuilt: Vec<String>,
    /// Each step's own code identity, from the builds done here.
    pub(crate) step_code: std::collections::BTreeMap<String, mfw_graph::BlobHash>,
}

impl FlowSet {
    fn is_single(&self) -> bool {
        self.components.len() == 1 && self.name.is_none()
    }

    /// The flow's graph, merged from its components but not validated.
    pub(crate) fn graph(&self) -> anyhow::Result<FlowGraph> {
        if self.is_single() {
            return Ok(self.components[0].0.graph().clone());
        }
        Ok(FlowPlan::merged_graph(
            &self.components,
            self.name.as_deref(),
        )?)
    }

    /// What the prebuilt components' steps are granted beyond their
    /// artifacts (files, environment, network), one line per step: what a
    /// user must accept before a component from elsewhere runs.
    pub(crate) fn grants_to_accept(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (flow, name) in &self.components {
            if !self.prebuilt.contains(name) {
                continue;
            }
            for step in &flow.graph().steps {
                let granted: Vec<String> = step
                    .decorators
                    .iter()
                    .filter(|d| d.name == "grant")
                    .flat_map(|d| d.options.iter())
                    .filter(|(key, _)| matches!(key.as_str(), "read" | "write" | "env" | "network"))
                    .map(|(key, value)| format!("{key} {value}"))
                    .collect();
                if !granted.is_empty() {
                    lines.push(format!(
                        "step `{}` of {}: {}",
                        step.name,
                        name,
                        granted.join("; ")
                    ));
                }
            }
        }
        lines
    }

    /// The validated plan, or the located message saying why not.
    pub(crate) fn plan(&self) -> Result<FlowPlan, String> {
        if self.is_single() {
            let (flow, source) = &self.components[0];
            return FlowPlan::single(flow.clone(), source)
                .map(|plan| plan.with_step_code(&self.step_code))
                .map_err(|e| match &e {
                    mfw_orchestrator::OrchestratorError::Graph(g) => g.report(flow.graph()),
                    other => other.to_string(),
                });
        }
        FlowPlan::assemble(self.components.clone(), self.name.as_deref())
            .map(|plan| plan.with_step_code(&self.step_code))
            .map_err(|e| e.to_string())
    }
}

fn format_duration(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.2} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}

/// Says on stderr which objects a listing left out because they cannot be
/// read, and where to look further.
fn warn_damaged(damaged: &[mfw_store::Damaged]) {
    for object in damaged {
        eprintln!(
            "mfw: warning: left out {}, which is damaged ({}); `mfw doctor` lists every \
             damaged object and `mfw doctor --repair` sets them aside",
            object.path, object.reason
        );
    }
}
