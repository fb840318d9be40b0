//! The subcommands.

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

/// Settings every command shares.
pub struct Context {
    pub datastore: String,
    pub cache_dir: PathBuf,
}

impl Context {
    pub(crate) fn store(&self) -> anyhow::Result<Datastore> {
        Ok(Datastore::open(&self.datastore)?)
    }

    /// How this command builds components; a remote datastore shares the
    /// native wheels Python builds make.
    pub(crate) fn build_options(&self, force: bool) -> mfw_build::BuildOptions<'_> {
        mfw_build::BuildOptions {
            cache_dir: &self.cache_dir,
            force,
            shared_store: self.shared_store(),
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
        let resolved = mfw_build::resolve(path, &self.build_options(false))?;
        let mut components = Vec::new();
        let mut prebuilt = Vec::new();
        for component in resolved.components {
            let flow = host.load(&component.bytes, &component.name)?;
            if component.prebuilt {
                prebuilt.push(component.name.clone());
            }
            components.push((flow, component.name));
        }
        Ok(FlowSet {
            components,
            name: resolved.name,
            prebuilt,
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
            return FlowPlan::single(flow.clone(), source).map_err(|e| match &e {
                mfw_orchestrator::OrchestratorError::Graph(g) => g.report(flow.graph()),
                other => other.to_string(),
            });
        }
        FlowPlan::assemble(self.components.clone(), self.name.as_deref()).map_err(|e| e.to_string())
    }
}

/// A component not built here may reach only what the user accepts: its
/// grants are shown, and asked about on a terminal; elsewhere the run stops
/// unless `--allow-grants` was given.
fn accept_grants(grants: &[String]) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if grants.is_empty() {
        return Ok(());
    }
    let listed: String = grants
        .iter()
        .map(|g| format!("\n  {}", crate::observer::for_terminal(g)))
        .collect();
    let asks = format!("this component was not built here, and asks for:{listed}");
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        eprint!("mfw: {asks}\nRun it with these grants? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
        bail!("not run: its grants were not accepted");
    }
    bail!("{asks}\nrun it with --allow-grants to accept them, or build it from its source")
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// How tasks run: shared by `mfw run` and `mfw resume`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// How many tasks run at once (default: the number of cores).
    #[arg(long)]
    max_workers: Option<usize>,
    /// The most tasks one foreach may create.
    #[arg(long, default_value_t = 100_000)]
    max_num_splits: u32,
    /// Print only the run's start and end, not each task's output.
    #[arg(long, short)]
    quiet: bool,
    /// Let steps' grants use this directory outside the flow's (repeatable).
    #[arg(long = "allow-dir", value_name = "DIR")]
    allow_dirs: Vec<PathBuf>,
    /// Accept the grants (files, environment, network) of a component you
    /// name as a .wasm, not built here from source; without it mfw shows
    /// them and asks (on a terminal) or refuses.
    #[arg(long, env = "MFW_ALLOW_GRANTS")]
    allow_grants: bool,
    /// Wall-time limit per task attempt, in seconds, for steps without
    /// @timeout (default: the config's, else none).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Memory limit per task in MB, for steps without @resources(memory).
    #[arg(long, value_name = "MB")]
    memory: Option<u64>,
    /// Fuel per task attempt: a deterministic limit on work done.
    #[arg(long)]
    fuel: Option<u64>,
    /// Tag the run (repeatable), as Metaflow's `run --tag`; `Flow(...).runs(tag)`
    /// finds it. mfw also tags it `user:NAME`, its namespace.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Write the run's pathspec (Flow/run_id) to this file when it ends:
    /// how the Python SDK's `Runner` finds the run it started.
    #[arg(long, value_name = "FILE", hide = true)]
    run_id_file: Option<PathBuf>,
    #[command(flatten)]
    kube: crate::cluster::KubeArgs,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
    /// The flow's parameters, as `--name value` or `--name=value`.
    #[arg(
        value_name = "PARAMETERS",
        allow_hyphen_values = true,
        trailing_var_arg = true,
        num_args = 0..
    )]
    parameters: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: PathBuf,
    /// The run to resume (default: the flow's latest run).
    run_id: Option<String>,
    /// Re-run this step and every step after it (default: the first step
    /// that failed).
    #[arg(long)]
    from_step: Option<String>,
    #[command(flatten)]
    exec: ExecArgs,
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// The flow's directory.
    flow: PathBuf,
    /// Copy the component here.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Rebuild even if the sources did not change.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args, Debug)]
pub struct FlowArg {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: PathBuf,
    /// Print the pinned packages the component bundles (its lock).
    #[arg(long)]
    env: bool,
}

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only this flow's runs.
    flow: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// Flow/run[/step[/task]].
    pathspec: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Flow/run/step/task.
    pathspec: String,
    /// Only stdout.
    #[arg(long, conflicts_with = "stderr")]
    stdout: bool,
    /// Only stderr.
    #[arg(long)]
    stderr: bool,
    /// Which attempt (default: the last).
    #[arg(long)]
    attempt: Option<u32>,
}

/// Splits `--name value` / `--name=value` pairs. A flag with no value is
/// `true` (for bool parameters).
fn parameter_pairs(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let Some(flag) = args[i].strip_prefix("--") else {
            bail!("unexpected `{}`: give parameters as --name value", args[i]);
        };
        if let Some((name, value)) = flag.split_once('=') {
            pairs.push((name.replace('-', "_"), value.to_string()));
            i += 1;
        } else if let Some(value) = args.get(i + 1).filter(|v| !v.starts_with("--")) {
            pairs.push((flag.replace('-', "_"), value.clone()));
            i += 2;
        } else {
            pairs.push((flag.replace('-', "_"), "true".to_string()));
            i += 1;
        }
    }
    Ok(pairs)
}

/// The step decorators `--with` can add, as Metaflow's `--with` takes them.
const WITH_DECORATORS: [&str; 6] = [
    "retry",
    "catch",
    "timeout",
    "resources",
    "kubernetes",
    "environment",
];

/// `retry` or `timeout:seconds=60,minutes=1` as a decorator; option values
/// are JSON where they parse as JSON (`2`, `true`), else text.
fn with_decorator(spec: &str) -> anyhow::Result<mfw_graph::Decorator> {
    let (name, options) = spec.split_once(':').unwrap_or((spec, ""));
    if !WITH_DECORATORS.contains(&name) {
        bail!(
            "--with {spec}: mfw adds these decorators to every step: {}",
            WITH_DECORATORS.join(", ")
        );
    }
    let mut decorator = mfw_graph::Decorator::new(name);
    for option in options.split(',').filter(|o| !o.is_empty()) {
        let Some((key, value)) = option.split_once('=') else {
            bail!("--with {spec}: write options as NAME=VALUE, e.g. --with timeout:seconds=60");
        };
        let json = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(_) => value.to_string(),
            Err(_) => serde_json::Value::String(value.to_string()).to_string(),
        };
        decorator = decorator.with_option(key, &json);
    }
    Ok(decorator)
}

/// Who runs flows here, as Metaflow names them: `MFW_USER`, else the login
/// name from the environment (`LOGNAME`, `USER`, `LNAME`, `USERNAME`, the
/// order Python's `getpass` reads), else `unknown`. The Python client
/// reads the same, so its default namespace is `user:` this.
pub(crate) fn username() -> String {
    ["MFW_USER", "LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Records a run that failed before its first task, so `mfw runs` shows it.
async fn record_failed_run(store: &Datastore, flow: &str, error: &str) -> Option<String> {
    let mut record = RunRecord::new(flow);
    record.status = RunStatus::Failed;
    record.finished_at = Some(mfw_store::now_millis());
    record.error = Some(error.to_string());
    store.create_run(&mut record).await.ok()?;
    Some(record.run_id)
}

/// The directory a flow's grants are relative to: the flow's own.
fn flow_dir(path: &Path) -> Option<PathBuf> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    std::fs::canonicalize(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .ok()
}

pub async fn run(context: &Context, args: RunArgs) -> anyhow::Result<ExitCode> {
    execute(
        context,
        &args.flow,
        args.exec,
        Launch::Fresh(args.parameters),
    )
    .await
}

pub async fn resume(context: &Context, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    execute(
        context,
        &args.flow,
        args.exec,
        Launch::Resume {
            run_id: args.run_id,
            from_step: args.from_step,
        },
    )
    .await
}

/// The value of `--name VALUE` or `--name=VALUE` among `args`, if any.
fn option_value(args: &[String], name: &str) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == name {
            return args.next().cloned();
        }
        if let Some(value) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
            return Some(value.to_string());
        }
    }
    None
}

/// A new run with these command-line parameters, or a resumed one.
enum Launch {
    Fresh(Vec<String>),
    Resume {
        run_id: Option<String>,
        from_step: Option<String>,
    },
}

async fn execute(
    context: &Context,
    flow_path: &Path,
    mut exec: ExecArgs,
    launch: Launch,
) -> anyhow::Result<ExitCode> {
    // The engine's instance pool is sized by the workers, so a
    // `--max-workers` given after the flow (read with the parameters below)
    // must be known first too; if it turns out to be the flow's own
    // parameter, the pool is only larger than needed.
    let workers_after_parameters = match &launch {
        Launch::Fresh(raw) => option_value(raw, "--max-workers").and_then(|v| v.parse().ok()),
        Launch::Resume { .. } => None,
    };
    let max_workers = exec
        .max_workers
        .or(workers_after_parameters)
        .unwrap_or_else(default_workers);
    // Fuel changes how components compile, so the engine must know first.
    let fuel_after_parameters = matches!(&launch, Launch::Fresh(raw)
        if raw.iter().any(|a| a == "--fuel" || a.starts_with("--fuel=")));
    let host = context.host(max_workers, exec.fuel.is_some() || fuel_after_parameters)?;
    let store = context.store()?;
    if store.is_remote() {
        // A wrong bucket or credentials fail now, not at the first task.
        store.check().await?;
    }
    let flows = match crate::cluster::package_ref(flow_path) {
        Some(hash) => crate::cluster::load_package(&store, &host, hash).await?,
        None => context.load(flow_path, &host)?,
    };
    let graph = flows.graph()?;
    let plan = match flows.plan() {
        Ok(plan) => plan,
        Err(message) => {
            // Not recorded when the flow's name is itself invalid.
            let recorded = record_failed_run(&store, &graph.name, &message).await;
            eprintln!("mfw: {message}");
            if let Some(run_id) = recorded {
                eprintln!("mfw: recorded as failed run {}/{run_id}", graph.name);
            }
            return Ok(ExitCode::from(1));
        }
    };
    let (parameters, resume) = match launch {
        Launch::Fresh(raw) => {
            // Run options given after the parameters still count as run
            // options, unless the flow has a parameter of that name.
            let mut rest = Vec::new();
            for arg in raw {
                if (arg == "-q" || arg == "--quiet") && graph.parameter("quiet").is_none() {
                    exec.quiet = true;
                } else if arg == "--allow-grants" && graph.parameter("allow_grants").is_none() {
                    exec.allow_grants = true;
                } else {
                    rest.push(arg);
                }
            }
            let mut given = Vec::new();
            for (name, value) in parameter_pairs(&rest)? {
                let number = |what: &str| {
                    value
                        .parse::<usize>()
                        .map_err(|_| anyhow!("--{what} expects a number, got `{value}`"))
                };
                let option = graph.parameter(&name).is_none();
                match name.as_str() {
                    "max_workers" if option => exec.max_workers = Some(number("max-workers")?),
                    "max_num_splits" if option => {
                        exec.max_num_splits = number("max-num-splits")? as u32;
                    }
                    "fuel" if option => exec.fuel = Some(number("fuel")? as u64),
                    "memory" if option => exec.memory = Some(number("memory")? as u64),
                    "timeout" if option => {
                        exec.timeout =
                            Some(value.parse().map_err(|_| {
                                anyhow!("--timeout expects seconds, got `{value}`")
                            })?);
                    }
                    "allow_dir" if option => exec.allow_dirs.push(PathBuf::from(&value)),
                    "tag" if option => exec.tags.push(value),
                    _ if option && exec.kube.take(&name, &value)? => {}
                    _ => given.push((name, value)),
                }
            }
            let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            // A file parameter's default is read only from the flow's own
            // directory or one the user allows.
            let default_roots: Vec<PathBuf> = flow_dir(flow_path)
                .into_iter()
                .chain(exec.allow_dirs.iter().cloned())
                .collect();
            let mut values = resolve_parameters(&graph, &given, &base, &default_roots)?;
            // Deploy-time defaults: computed now, by the flow's own code, in
            // a sandbox that grants nothing.
            let unset: Vec<String> = graph
                .parameters
                .iter()
                .filter(|p| !values.contains_key(&p.name))
                .map(|p| p.name.clone())
                .collect();
            if !unset.is_empty() {
                let start = mfw_host::RunStart {
                    flow: graph.name.clone(),
                    user: username(),
                    datastore: store.kind().to_string(),
                };
                let computed = plan
                    .computed_defaults(unset, start)
                    .await
                    .map_err(|e| anyhow!("the run of {} did not start: {e}", graph.name))?;
                for (name, value) in computed {
                    let kind = graph.parameter(&name).map_or(ParamKind::Str, |p| p.kind);
                    let value = read_computed_default(&name, kind, &value)?;
                    values.insert(name, value);
                }
            }
            (values, None)
        }
        Launch::Resume { run_id, from_step } => {
            let origin = match run_id {
                Some(id) => store.read_run(&graph.name, &id).await?,
                None => {
                    let (mut runs, damaged) = store.list_runs_checked(&graph.name).await?;
                    warn_damaged(&damaged);
                    runs.pop()
                        .ok_or_else(|| anyhow!("flow `{}` has no run to resume", graph.name))?
                }
            };
            // A resumed run keeps the parameters of the run it resumes.
            let mut parameters = BTreeMap::new();
            for (name, hash) in &origin.parameters {
                let value = store.get_blob(hash).await.with_context(|| {
                    format!(
                        "cannot resume {}/{}: the value of its parameter `{name}` cannot be \
                         read; start a new run with `mfw run` (`mfw doctor` lists what else \
                         is damaged)",
                        graph.name, origin.run_id
                    )
                })?;
                parameters.insert(name.clone(), value);
            }
            let resume = mfw_orchestrator::Resume {
                origin_run_id: origin.run_id,
                from_step,
            };
            (parameters, Some(resume))
        }
    };
    let observer = Arc::new(TerminalObserver::new(exec.quiet));
    let (interrupt_tx, interrupt_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("mfw: interrupted; stopping running tasks (Ctrl-C again to exit now)");
            let _ = interrupt_tx.send(true);
        }
        // Every store write is atomic, so leaving at once loses nothing that
        // finished: the run resumes like one that was killed.
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("mfw: interrupted again; exiting now (`mfw resume` continues the run)");
            std::process::exit(130);
        }
    });
    let config = crate::config::Config::load()?;
    if !exec.allow_grants {
        accept_grants(&flows.grants_to_accept())?;
    }
    let executor =
        crate::cluster::executor(&exec.kube, &config.kubernetes, &store, &graph, exec.quiet)
            .await?;
    let defaults = RunDefaults {
        timeout: exec
            .timeout
            .or(config.defaults.timeout_seconds)
            .filter(|s| *s > 0.0)
            .map(std::time::Duration::from_secs_f64),
        memory_mb: exec
            .memory
            .or(config.defaults.memory_mb)
            .unwrap_or(RunDefaults::default().memory_mb),
        fuel: exec.fuel,
        in_flight_mb: config
            .defaults
            .in_flight_mb
            .unwrap_or(RunDefaults::default().in_flight_mb),
    };
    for tag in &exec.tags {
        crate::tag::check_tag(tag)?;
    }
    let mut plan = plan;
    // `--with kubernetes` picks where steps run (the executor); the other
    // decorators go on every step.
    for spec in exec.kube.with_decorators() {
        if !spec.starts_with("kubernetes") {
            plan = plan.with_step_decorator(with_decorator(spec)?);
        }
    }
    let options = RunOptions {
        max_workers: exec.max_workers.unwrap_or(max_workers).max(1),
        max_num_splits: exec.max_num_splits,
        parameters,
        observer: Some(observer.clone()),
        interrupt: Some(interrupt_rx),
        defaults,
        sandbox: Sandbox {
            flow_dir: flow_dir(flow_path),
            allowed_dirs: exec.allow_dirs.clone(),
        },
        resume,
        executor,
        tags: exec.tags.clone(),
        user: username(),
    };
    // What killed writers left (of any run) goes, once it is surely stale;
    // the store is walked at most once per STALE_STAGING.
    let sweeper = store.clone();
    let sweep = tokio::task::spawn_blocking(move || {
        sweeper.remove_stale_staging_now_and_then(STALE_STAGING, STALE_STAGING)
    });
    // What the run writes reaches the disk in batches while it goes on,
    // and all of it before mfw says how the run ended.
    // A heartbeat beside the run's record says the run is alive: `mfw
    // runs` shows a running run whose beats stopped as stale.
    let flusher = {
        let store = store.clone();
        let observer = observer.clone();
        tokio::spawn(async move {
            let mut last_beat = std::time::Instant::now();
            loop {
                tokio::time::sleep(SYNC_INTERVAL).await;
                if let Err(e) = store.sync().await {
                    eprintln!("mfw: warning: {e}");
                }
                if last_beat.elapsed() >= HEARTBEAT_INTERVAL
                    && let Some((flow, run_id)) = observer.run()
                {
                    last_beat = std::time::Instant::now();
                    if let Err(e) = store.beat(&flow, &run_id).await {
                        eprintln!("mfw: warning: {e}");
                    }
                }
            }
        })
    };
    let summary = run_flow(&store, &plan, options).await;
    flusher.abort();
    store.sync().await?;
    let _ = sweep.await;
    let summary = summary?;
    observer.finish();
    let seconds = summary.duration_ms as f64 / 1000.0;
    let pathspec = format!("{}/{}", summary.flow, summary.run_id);
    if let Some(file) = &exec.run_id_file {
        std::fs::write(file, &pathspec)
            .with_context(|| format!("cannot write the run's id to {}", file.display()))?;
    }
    let cloned = if summary.tasks_cloned > 0 {
        let ran = (summary.tasks_succeeded + summary.failures.len() as u64)
            .saturating_sub(summary.tasks_cloned);
        format!(
            " (reused {}, ran {})",
            crate::observer::thousands(summary.tasks_cloned),
            crate::observer::thousands(ran)
        )
    } else {
        String::new()
    };
    match summary.status {
        RunStatus::Succeeded => {
            eprintln!(
                "mfw: {pathspec} succeeded: {} tasks{cloned} in {seconds:.2} s",
                summary.tasks_succeeded
            );
            Ok(ExitCode::SUCCESS)
        }
        status => {
            eprintln!(
                "mfw: {pathspec} {status} after {seconds:.2} s: {} tasks succeeded{cloned}, {} failed",
                summary.tasks_succeeded,
                summary.failures.len()
            );
            for (task, why) in &summary.failures {
                eprintln!("  {task}: {}", crate::observer::for_terminal(why));
            }
            if let Some((task, _)) = summary.failures.first() {
                eprintln!("mfw: see its output with `mfw logs {pathspec}/{task}`");
                eprintln!("mfw: after fixing it, `mfw resume` reuses every task that succeeded");
            }
            Ok(ExitCode::from(if status == RunStatus::Interrupted {
                130
            } else {
                1
            }))
        }
    }
}

pub fn build(context: &Context, args: BuildArgs) -> anyhow::Result<ExitCode> {
    let resolved = mfw_build::resolve(&args.flow, &context.build_options(args.force))?;
    if args.output.is_some() && resolved.components.len() != 1 {
        bail!(
            "-o takes one component, but {} has {}",
            args.flow.display(),
            resolved.components.len()
        );
    }
    for component in &resolved.components {
        let hash = blake3::hash(&component.bytes);
        let written = match &args.output {
            Some(output) => {
                std::fs::write(output, &component.bytes)
                    .with_context(|| format!("cannot write {}", output.display()))?;
                output.clone()
            }
            None => component.wasm.clone(),
        };
        eprintln!(
            "mfw: built {} ({} bytes, blake3 {})",
            written.display(),
            component.bytes.len(),
            hash.to_hex()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(context: &Context, args: FlowArg) -> anyhow::Result<ExitCode> {
    let host = context.host(1, false)?;
    let flows = context.load(&args.flow, &host)?;
    let graph = flows.graph()?;
    match graph.validate() {
        Ok(_) => {
            println!(
                "{}: the graph is valid ({} steps)",
                graph.name,
                graph.steps.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{}", e.report(&graph));
            Ok(ExitCode::from(1))
        }
    }
}

fn describe_kind(graph: &FlowGraph, step: &str, kind: Option<&StepKind>) -> String {
    let next = graph
        .step(step)
        .map(|s| s.next.join(", "))
        .unwrap_or_default();
    match kind {
        Some(StepKind::Foreach(over)) => format!("foreach over {over} -> {next}"),
        Some(StepKind::Split) => format!("split -> {next}"),
        Some(StepKind::Join { split, .. }) => format!("join of {split} -> {next}"),
        Some(StepKind::End) => "end".to_string(),
        _ => format!("-> {next}"),
    }
}

/// A bundled package, as the build's lock records it.
#[derive(serde::Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    file: String,
    sha256: String,
    /// For a native package mfw built: the sha256 of its source release.
    source_sha256: Option<String>,
    /// For a native package mfw built: the key of the recipe that built it.
    recipe: Option<String>,
}

pub fn show(context: &Context, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let host = context.host(1, false)?;
    let flows = context.load(&args.flow, &host)?;
    let graph = &flows.graph()?;
    if args.env {
        let mut out = std::io::stdout().lock();
        for (flow, source) in &flows.components {
            match mfw_host::custom_section(flow.bytes(), "mfw-lock") {
                None => writeln!(out, "{source}: no pinned packages")?,
                Some(lock) => {
                    let packages: Vec<LockedPackage> = serde_json::from_slice(&lock)
                        .context("the component's mfw-lock section is not a valid lock")?;
                    writeln!(out, "{source}: {} pinned packages", packages.len())?;
                    for p in packages {
                        write!(
                            out,
                            "  {} {}  {}  sha256:{}",
                            p.name, p.version, p.file, p.sha256
                        )?;
                        if let (Some(source), Some(recipe)) = (&p.source_sha256, &p.recipe) {
                            write!(
                                out,
                                "  built from source sha256:{source} by recipe {recipe}"
                            )?;
                        }
                        writeln!(out)?;
                    }
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let topology = graph.validate().ok();
    let mut out = std::io::stdout().lock();
    let hashes: Vec<String> = flows
        .components
        .iter()
        .map(|(f, _)| f.hash().short())
        .collect();
    let noun = if hashes.len() == 1 {
        "component"
    } else {
        "components"
    };
    writeln!(
        out,
        "{}  ({}, {noun} {})",
        graph.name,
        graph.sdk,
        hashes.join(", ")
    )?;
    if !graph.doc.is_empty() {
        writeln!(out, "  {}", graph.doc.replace('\n', "\n  "))?;
    }
    for decorator in &graph.decorators {
        writeln!(out, "  {decorator}")?;
    }
    if !graph.parameters.is_empty() {
        writeln!(out, "\nParameters:")?;
        for p in &graph.parameters {
            let default = match &p.default {
                Some(bytes) if p.kind == ParamKind::File => mfw_encoding::decode(bytes)
                    .map(|v| format!("default {v}"))
                    .unwrap_or_default(),
                Some(bytes) => mfw_encoding::decode(bytes)
                    .map(|v| format!("default {v}"))
                    .unwrap_or_default(),
                None if p.required => "required".to_string(),
                None => "optional".to_string(),
            };
            writeln!(
                out,
                "  --{:<16} {:<6} {:<20} {}",
                p.name, p.kind, default, p.help
            )?;
        }
    }
    writeln!(out, "\nSteps:")?;
    for step in &graph.steps {
        let kind = topology.as_ref().and_then(|t| t.kind(&step.name));
        let at = if step.source.is_empty() {
            String::new()
        } else {
            format!("   ({})", step.source)
        };
        writeln!(
            out,
            "  {:<16} {}{at}",
            step.name,
            describe_kind(graph, &step.name, kind)
        )?;
        for decorator in &step.decorators {
            writeln!(out, "  {:<16} {decorator}", "")?;
        }
        if let Some(first) = step.doc.lines().next().filter(|l| !l.is_empty()) {
            writeln!(out, "  {:<16} {first}", "")?;
        }
    }
    if let Err(e) = graph.validate() {
        writeln!(out, "\n{}", e.report(graph))?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
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

pub async fn runs(context: &Context, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let flows = match args.flow {
        Some(flow) => vec![flow],
        None => store.list_flows().await?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<24} {:<18} {:<11} {:>9} {:>7}  TAGS",
        "FLOW", "RUN", "STATUS", "DURATION", "TASKS"
    )?;
    for flow in flows {
        let (runs, damaged) = store.list_runs_checked(&flow).await?;
        warn_damaged(&damaged);
        for run in runs {
            let tags = store.run_tags(&run).await.unwrap_or_default();
            // A running run whose process stopped beating is not running:
            // show it as stale, with the time it was last seen alive.
            let (status, duration) = if run.status == RunStatus::Running {
                let last = store.last_beat(&run).await;
                let silent = mfw_store::now_millis().saturating_sub(last);
                if silent > STALE_AFTER.as_millis() as u64 {
                    ("stale".to_string(), last.saturating_sub(run.started_at))
                } else {
                    (run.status.to_string(), run.duration_millis())
                }
            } else {
                (run.status.to_string(), run.duration_millis())
            };
            writeln!(
                out,
                "{:<24} {:<18} {:<11} {:>9} {:>7}  {}",
                run.flow,
                run.run_id,
                status,
                format_duration(duration),
                run.tasks_succeeded + run.tasks_failed,
                tags.join(",")
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Staging files older than this, anywhere in a local store, are removed
/// when a run starts: no write takes that long.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often a running run says it is alive, and after how long without a
/// beat `mfw runs` shows it as stale (its process was killed, or lost its
/// store).
const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// How often a run's writes to a local store are flushed to disk.
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

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

/// Reads and decodes a stored value for display.
async fn value_of(
    store: &Datastore,
    hash: &mfw_graph::BlobHash,
    what: &str,
) -> anyhow::Result<mfw_encoding::Value> {
    let bytes = store
        .get_blob(hash)
        .await
        .with_context(|| format!("cannot read {what}"))?;
    mfw_encoding::decode(&bytes).with_context(|| format!("{what} is not a valid value"))
}

/// The values of a task's artifacts, by name.
async fn artifact_values(
    store: &Datastore,
    task: &TaskRecord,
) -> anyhow::Result<Vec<(String, mfw_encoding::Value)>> {
    let mut values = Vec::with_capacity(task.artifacts.len());
    for (name, hash) in &task.artifacts {
        let what = format!("artifact `{name}` of {}", task.pathspec());
        values.push((name.clone(), value_of(store, hash, &what).await?));
    }
    Ok(values)
}

async fn task_json(store: &Datastore, task: &TaskRecord) -> anyhow::Result<serde_json::Value> {
    let artifacts: serde_json::Map<String, serde_json::Value> = artifact_values(store, task)
        .await?
        .into_iter()
        .map(|(name, value)| (name, mfw_encoding::to_json(&value)))
        .collect();
    let mut json = serde_json::json!({
        "pathspec": task.pathspec(),
        "step": task.step,
        "task_id": task.task_id,
        "status": task.status,
        "attempts": task.attempts.len(),
        "artifacts": artifacts,
    });
    if !task.objects.is_empty() {
        json["objects"] = serde_json::json!(task.objects);
    }
    if let Some(image) = &task.image {
        json["image"] = serde_json::json!(image);
    }
    if let Some(run) = &task.cloned_from {
        json["cloned_from"] = serde_json::json!(run);
    }
    if let Some(last) = task.attempts.last() {
        json["started_at"] = serde_json::json!(last.started_at);
        json["finished_at"] = serde_json::json!(last.finished_at);
        if let Some(bytes) = last.memory_bytes {
            json["memory_bytes"] = serde_json::json!(bytes);
        }
        if let Some(error) = &last.error {
            json["error"] = serde_json::json!({
                "kind": error.kind,
                "message": error.message,
                "traceback": error.detail,
            });
        }
    }
    Ok(json)
}

async fn print_task(
    store: &Datastore,
    task: &TaskRecord,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let status = match task.status {
        mfw_store::TaskStatus::Succeeded => "succeeded",
        mfw_store::TaskStatus::Failed => "failed",
    };
    let mut how = vec![status.to_string()];
    how.extend(task.image.as_ref().map(|image| format!("in {image}")));
    how.extend(
        task.cloned_from
            .as_ref()
            .map(|run| format!("reused from run {run}")),
    );
    writeln!(out, "{} ({})", task.pathspec(), how.join(", "))?;
    for (name, value) in artifact_values(store, task).await? {
        writeln!(out, "  {name} = {value}")?;
    }
    // Objects are raw bytes of any size: their keys and hashes only.
    for (key, hash) in &task.objects {
        writeln!(out, "  object {} (blake3 {hash})", key.escape_debug())?;
    }
    if let Some(error) = task.last_attempt().and_then(|a| a.error.as_ref()) {
        writeln!(out, "  error: {}", error.message)?;
        for line in error.detail.trim_end().lines() {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(())
}

pub async fn dump(context: &Context, args: DumpArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let spec = Pathspec::parse(&args.pathspec)?;
    let run = store.read_run(&spec.flow, &spec.run_id).await?;
    let mut out = std::io::stdout().lock();
    if let (Some(step), Some(task_id)) = (&spec.step, &spec.task_id) {
        let task = store
            .read_task(&spec.flow, &spec.run_id, step, task_id)
            .await?;
        if args.json {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&task_json(&store, &task).await?)?
            )?;
        } else {
            print_task(&store, &task, &mut out).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (all, damaged) = store.list_tasks_checked(&spec.flow, &spec.run_id).await?;
    warn_damaged(&damaged);
    let order: Vec<String> = match &run.graph {
        Some(graph) => graph.steps.iter().map(|s| s.name.clone()).collect(),
        None => all.keys().cloned().collect(),
    };
    let steps: Vec<&String> = match &spec.step {
        Some(step) => {
            if !all.contains_key(step) {
                bail!(
                    "run {}/{} has no tasks of step `{step}` (its steps: {})",
                    spec.flow,
                    spec.run_id,
                    order.join(", ")
                );
            }
            vec![step]
        }
        None => order.iter().filter(|s| all.contains_key(*s)).collect(),
    };
    let mut parameters = BTreeMap::new();
    for (name, hash) in &run.parameters {
        parameters.insert(
            name.clone(),
            value_of(&store, hash, &format!("parameter `{name}`")).await?,
        );
    }
    if args.json {
        let mut tasks = Vec::new();
        for step in &steps {
            for task in &all[*step] {
                tasks.push(task_json(&store, task).await?);
            }
        }
        let parameters: serde_json::Map<String, serde_json::Value> = parameters
            .iter()
            .map(|(k, v)| (k.clone(), mfw_encoding::to_json(v)))
            .collect();
        let doc = serde_json::json!({
            "flow": run.flow,
            "run_id": run.run_id,
            "status": run.status,
            "parameters": parameters,
            "tasks": tasks,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}/{} ({}, {})",
        run.flow,
        run.run_id,
        run.status,
        format_duration(run.duration_millis())
    )?;
    for (name, value) in &parameters {
        writeln!(out, "  parameter {name} = {value}")?;
    }
    if let Some(error) = &run.error {
        writeln!(out, "  error: {error}")?;
    }
    for step in steps {
        for task in &all[step] {
            print_task(&store, task, &mut out).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A task's stored output: exactly as stored into a file or a pipe, with
/// control characters escaped on a terminal (a guest must not drive it).
fn write_output<W: Write + std::io::IsTerminal>(out: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    if out.is_terminal() {
        let text = String::from_utf8_lossy(bytes);
        out.write_all(crate::observer::for_terminal(&text).as_bytes())
    } else {
        out.write_all(bytes)
    }
}

pub async fn logs(context: &Context, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let spec = Pathspec::parse(&args.pathspec)?;
    let Some(step) = &spec.step else {
        bail!("`mfw logs` needs a step or a task: Flow/run/step[/task]");
    };
    let tasks = match &spec.task_id {
        Some(task_id) => vec![
            store
                .read_task(&spec.flow, &spec.run_id, step, task_id)
                .await?,
        ],
        // A step: every task's, in order, as Metaflow's `logs run/step`.
        None => store
            .list_tasks(&spec.flow, &spec.run_id)
            .await?
            .remove(step)
            .ok_or_else(|| anyhow!("{}/{}/{step} has no tasks", spec.flow, spec.run_id))?,
    };
    let many = tasks.len() > 1;
    for task in &tasks {
        let attempt = match args.attempt {
            Some(n) => task
                .attempts
                .iter()
                .find(|a| a.attempt == n)
                .ok_or_else(|| anyhow!("{} has no attempt {n}", task.pathspec()))?,
            None => task
                .last_attempt()
                .ok_or_else(|| anyhow!("{} has not run", task.pathspec()))?,
        };
        if many {
            println!("==> {} <==", task.pathspec());
        }
        if !args.stderr
            && let Some(hash) = &attempt.stdout
        {
            let bytes = store.get_blob(hash).await?;
            write_output(&mut std::io::stdout().lock(), &bytes)?;
        }
        if !args.stdout {
            if let Some(hash) = &attempt.stderr {
                let bytes = store.get_blob(hash).await?;
                write_output(&mut std::io::stderr().lock(), &bytes)?;
            }
            // How it failed, with the step's traceback (file and line).
            if let Some(error) = &attempt.error {
                let mut err = std::io::stderr().lock();
                let message = crate::observer::for_terminal(&error.message);
                writeln!(err, "{message}")?;
                if !error.detail.is_empty() {
                    let detail = crate::observer::for_terminal(error.detail.trim_end());
                    writeln!(err, "{detail}")?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
