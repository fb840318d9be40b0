//! `mfw run` and `mfw resume`: build, plan and run a flow, or resume a run.

use super::*;

/// How tasks run: shared by `mfw run` and `mfw resume`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// How many tasks run at once (default: the number of cores).
    #[arg(long)]
    max_workers: Option<usize>,
    /// The most tasks one foreach may create.
    #[arg(long, default_value_t = 100_000)]
    max_num_splits: u32,
    /// The most times a step may go back to itself (a recursive switch).
    #[arg(long, default_value_t = 100_000)]
    max_rounds: u32,
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
    /// Run every task, even one whose task key matches a task that already
    /// succeeded (by default that task's results are reused), and remember
    /// none of them for later runs.
    #[arg(long)]
    no_cache: bool,
    /// Write the run's pathspec (Flow/run_id) to this file when it starts:
    /// how the Python SDK's `Runner` finds the run it started.
    #[arg(long, value_name = "FILE", hide = true)]
    run_id_file: Option<PathBuf>,
    /// What started this run (a deployment's trigger, as JSON): set by the
    /// mfw that starts deployed flows.
    #[arg(long, value_name = "JSON", hide = true)]
    triggered_by: Option<String>,
    /// `NAME=VALUE` from a triggering event's payload: sets parameter NAME
    /// if the flow has one (repeatable).
    #[arg(long = "payload-parameter", value_name = "NAME=VALUE", hide = true)]
    payload_parameters: Vec<String>,
    #[command(flatten)]
    configs: super::configs::ConfigArgs,
    #[command(flatten)]
    kube: crate::cluster::KubeArgs,
}

impl ExecArgs {
    /// The texts given for the flow's Configs, by name.
    fn configs(&self) -> anyhow::Result<BTreeMap<String, String>> {
        self.configs.texts()
    }

    /// `--config VALUE` with one value: the flow's own parameter named
    /// `config`, as the command line's parameters take it.
    fn config_parameters(&self) -> Vec<String> {
        self.configs.parameters.clone()
    }
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The flow: a directory with its sources, or a .wasm component.
    #[arg(required_unless_present = "help")]
    flow: Option<PathBuf>,
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
    /// Print help, and the flow's own parameters when FLOW is given (as
    /// Metaflow's `run --help` lists them).
    #[arg(short, long)]
    help: bool,
}

impl RunArgs {
    /// Whether the user asked for help: `-h`/`--help` before the flow's
    /// parameters or among them (`mfw run flow.py --alpha 2 --help`).
    pub fn wants_help(&self) -> bool {
        self.help || self.parameters.iter().any(|p| p == "--help")
    }
}

/// `mfw run --help`: `usage` (clap's help for `run`), then the parameters
/// of the flow named, if any, which it builds to know them.
pub fn run_help(context: &Context, args: &RunArgs, usage: String) -> anyhow::Result<ExitCode> {
    print!("{usage}");
    let Some(flow) = &args.flow else {
        return Ok(ExitCode::SUCCESS);
    };
    let host = context.host(1, false)?;
    let flows = context.load(flow, &host)?;
    let graph = flows.graph()?;
    let mut out = std::io::stdout().lock();
    if graph.parameters.is_empty() {
        writeln!(out, "\n{} has no parameters.", graph.name)?;
    } else {
        writeln!(out, "\nParameters of {}:", graph.name)?;
        super::show::write_parameters(&mut out, &graph)?;
    }
    Ok(ExitCode::SUCCESS)
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
const WITH_DECORATORS: [&str; 7] = [
    "retry",
    "catch",
    "timeout",
    "resources",
    "kubernetes",
    "environment",
    "batch",
];

/// The options of Metaflow's `@batch` that carry over: mfw runs a `batch`
/// step as a `kubernetes` one with the same resources (the Python SDK's
/// `@batch` does the same); AWS's options have no effect.
const BATCH_RESOURCES: [&str; 3] = ["cpu", "gpu", "memory"];

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
    let batch = name == "batch";
    let mut decorator = mfw_graph::Decorator::new(if batch { "kubernetes" } else { name });
    for option in options.split(',').filter(|o| !o.is_empty()) {
        let Some((key, value)) = option.split_once('=') else {
            bail!("--with {spec}: write options as NAME=VALUE, e.g. --with timeout:seconds=60");
        };
        if batch && !BATCH_RESOURCES.contains(&key) {
            continue;
        }
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
    // clap requires the flow unless --help was given, which main handles.
    let Some(flow) = &args.flow else {
        bail!("mfw run needs a flow: a directory with its sources, or a .wasm component");
    };
    // Given right after the flow, so before the other parameters.
    let mut parameters = args.exec.config_parameters();
    parameters.extend(args.parameters);
    execute(context, flow, args.exec, Launch::Fresh(parameters)).await
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
    let configs = exec.configs()?;
    let flows = match crate::cluster::package_ref(flow_path) {
        Some(_) if !configs.is_empty() => {
            bail!("--config: a deployed package is built already; run its sources to give configs")
        }
        Some(hash) => crate::cluster::load_package(&store, &host, hash).await?,
        None => context.load_configured(flow_path, &host, &configs)?,
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
            // An event's payload sets the parameters it names, unless the
            // command line does.
            for pair in &exec.payload_parameters {
                if let Some((name, value)) = pair.split_once('=')
                    && graph.parameter(name).is_some()
                    && option_value(&rest, &format!("--{name}")).is_none()
                {
                    given.push((name.to_string(), value.to_string()));
                }
            }
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
    let observer =
        Arc::new(TerminalObserver::new(exec.quiet).writing_run_id_to(exec.run_id_file.clone()));
    // Every store write is atomic, so leaving at once on a second Ctrl-C
    // loses nothing that finished: the run resumes like one that was killed.
    let interrupt_rx = interrupt_on_ctrl_c(
        "mfw: interrupted; stopping running tasks (Ctrl-C again to exit now)",
        "mfw: interrupted again; exiting now (`mfw resume` continues the run)",
    );
    let config = crate::config::Config::load()?;
    if !exec.allow_grants {
        accept_grants(&flows.grants_to_accept())?;
    }
    let executor =
        crate::cluster::executor(&exec.kube, &config.kubernetes, &store, &graph, exec.quiet)
            .await?;
    let defaults = run_defaults(&config, exec.timeout, exec.memory, exec.fuel);
    for tag in &exec.tags {
        super::tag::check_tag(tag)?;
    }
    let trigger: Option<mfw_store::RunTrigger> = match &exec.triggered_by {
        Some(json) => Some(
            serde_json::from_str(json)
                .map_err(|e| anyhow!("--triggered-by is not a trigger ({e})"))?,
        ),
        None => None,
    };
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
        max_rounds: exec.max_rounds,
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
        cache: !exec.no_cache,
        trigger: trigger.clone(),
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
    let cloned = reuse_summary(&summary);
    match summary.status {
        RunStatus::Succeeded => {
            eprintln!(
                "mfw: {pathspec} succeeded: {} tasks{cloned} in {seconds:.2} s",
                summary.tasks_succeeded
            );
            // Flows deployed to start when this one succeeds.
            let finished = mfw_store::RunTrigger::Run {
                flow: summary.flow.clone(),
                run_id: summary.run_id.clone(),
            };
            if let Err(e) = super::deploy::start_triggered(context, &finished).await {
                // The run succeeded, whatever happens to what it triggers.
                eprintln!(
                    "mfw: warning: the flows deployed to start after {pathspec} were not \
                     started: {}",
                    crate::observer::for_terminal(&mfw_host::error_chain(e.as_ref()))
                );
            }
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
                eprintln!(
                    "mfw: after fixing it, `mfw resume` reuses every task that succeeded \
                     (the mfw book: {})",
                    crate::book::RESUME
                );
            }
            Ok(ExitCode::from(if status == RunStatus::Interrupted {
                130
            } else {
                1
            }))
        }
    }
}

/// A component not built here may reach only what the user accepts: its
/// grants are shown, and asked about on a terminal; elsewhere the run stops
/// unless `--allow-grants` was given.
pub(crate) fn accept_grants(grants: &[String]) -> anyhow::Result<()> {
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

/// Staging files older than this, anywhere in a local store, are removed
/// when a run starts: no write takes that long.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often a running run says it is alive (`mfw runs` shows it stale
/// after `mfw_store::STALE_AFTER_MILLIS` without a beat).
const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// How often a run's writes to a local store are flushed to disk.
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// ` (reused N, cached C, ran M)` when tasks were not run, else nothing.
fn reuse_summary(summary: &mfw_orchestrator::RunSummary) -> String {
    if summary.tasks_cloned == 0 && summary.tasks_cached == 0 {
        return String::new();
    }
    let ran = (summary.tasks_succeeded + summary.failures.len() as u64)
        .saturating_sub(summary.tasks_cloned + summary.tasks_cached);
    let mut parts = Vec::new();
    if summary.tasks_cloned > 0 {
        parts.push(format!(
            "reused {}",
            crate::observer::thousands(summary.tasks_cloned)
        ));
    }
    if summary.tasks_cached > 0 {
        parts.push(format!(
            "cached {}",
            crate::observer::thousands(summary.tasks_cached)
        ));
    }
    parts.push(format!("ran {}", crate::observer::thousands(ran)));
    format!(" ({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_takes_options_as_json_or_text() {
        let decorator = with_decorator("timeout:seconds=60,name=x").unwrap();
        assert_eq!(decorator.name, "timeout");
        assert_eq!(decorator.option("seconds"), Some("60"));
        assert_eq!(decorator.option("name"), Some("\"x\""));
        let error = with_decorator("cards").unwrap_err().to_string();
        assert!(error.contains("retry, catch"), "{error}");
    }

    #[derive(clap::Parser)]
    #[command(disable_help_flag = true)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        <Cli as clap::Parser>::try_parse_from(std::iter::once("mfw").chain(args.iter().copied()))
            .unwrap()
            .run
    }

    #[test]
    fn config_with_a_name_and_text_is_a_config_and_with_one_value_a_parameter() {
        let given = parse(&["--config-value", "settings", "{}", "flow.py", "--n", "1"]);
        assert_eq!(
            given.exec.configs().unwrap(),
            BTreeMap::from([("settings".to_string(), "{}".to_string())])
        );
        assert!(given.exec.config_parameters().is_empty());
        // A flow's own parameter named `config`, after the flow as before.
        let parameter = parse(&["flow.py", "--config", r#"{"a": 1}"#, "--n", "1"]);
        assert!(parameter.exec.configs().unwrap().is_empty());
        let mut parameters = parameter.exec.config_parameters();
        parameters.extend(parameter.parameters);
        assert_eq!(parameters, ["--config", r#"{"a": 1}"#, "--n", "1"]);
        let last = parse(&["flow.py", "--config", "x"]);
        assert_eq!(last.exec.config_parameters(), ["--config", "x"]);
        let twice = parse(&[
            "--config-value",
            "a",
            "1",
            "--config-value",
            "a",
            "2",
            "f.py",
        ]);
        assert!(
            twice
                .exec
                .configs()
                .unwrap_err()
                .to_string()
                .contains("given twice")
        );
    }

    #[test]
    fn with_batch_is_kubernetes_with_batchs_resources() {
        let decorator = with_decorator("batch:cpu=4,memory=16000,queue=ml").unwrap();
        assert_eq!(decorator.name, "kubernetes");
        assert_eq!(
            decorator.options,
            [
                ("cpu".into(), "4".into()),
                ("memory".into(), "16000".into())
            ]
        );
    }
}
