//! `mfw`: run, build, check and inspect flows. A thin layer over the
//! orchestrator, host and store crates.

mod book;
mod cluster;
mod commands;
mod config;
mod observer;
mod pathspec;
#[cfg(test)]
mod reference;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Metaflow's way of writing flows, with every step a sandboxed
/// WebAssembly component.
#[derive(Parser, Debug)]
#[command(name = "mfw", version, about, long_about = None, after_help = book::HELP)]
struct Cli {
    /// Where runs and artifacts are stored: a directory, a file:// URL, or
    /// an s3://, gs:// or az:// bucket and prefix (default: the config
    /// file's `datastore`, else .mfw here).
    #[arg(long, global = true, env = "MFW_DATASTORE")]
    datastore: Option<String>,

    /// Where compiled components and build records are cached.
    #[arg(long, global = true, env = "MFW_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the flow if its sources changed, then run it.
    #[command(disable_help_flag = true)]
    Run(commands::RunArgs),
    /// Start a new run that reuses an earlier run's successful tasks.
    Resume(commands::ResumeArgs),
    /// Build a flow into a component.
    Build(commands::BuildArgs),
    /// Check a flow's graph and print every problem.
    Check(commands::FlowArg),
    /// Print a flow's graph, parameters and decorators (or its lock: --env).
    Show(commands::ShowArgs),
    /// List past runs with their status and duration.
    Runs(commands::RunsArgs),
    /// Print the artifacts of a run, step or task.
    Dump(commands::DumpArgs),
    /// Print a task's output.
    Logs(commands::LogsArgs),
    /// Run past tasks again and check they compute what was stored.
    Replay(commands::ReplayArgs),
    /// Serve a web UI over the datastore: runs, graphs, timelines, logs
    /// and artifacts, live while runs go on.
    Ui(commands::UiArgs),
    /// A task's cards (@card) as HTML pages: get writes one, view opens it.
    #[command(subcommand)]
    Card(commands::card::CardCommand),
    /// Find damaged records and blobs in the datastore (and set them aside).
    Doctor(commands::doctor::DoctorArgs),
    /// Deploy a flow to run when another flow's run succeeds
    /// (@trigger_on_finish) or an event is sent (@trigger).
    Deploy(commands::deploy::DeployArgs),
    /// List the flows deployed on the datastore, and what starts them.
    Deployments,
    /// Stop a deployed flow from starting on its own.
    Undeploy(commands::deploy::UndeployArgs),
    /// Send an event that starts the flows deployed with @trigger.
    #[command(subcommand)]
    Event(commands::deploy::EventCommand),
    /// Schedule flows in Kubernetes and manage them.
    #[command(subcommand)]
    Kubernetes(cluster::KubeCommand),
    /// Add, remove or list a run's tags.
    #[command(subcommand)]
    Tag(commands::tag::TagCommand),
    /// Native Python packages (numpy, pandas) built for components.
    #[command(subcommand)]
    Wheels(commands::wheels::WheelsCommand),
    /// Run a pod's share of a step's tasks (what Kubernetes pods run).
    #[command(hide = true)]
    Worker(cluster::WorkerArgs),
}

/// Where mfw caches builds: `MFW_CACHE_DIR`, else `$XDG_CACHE_HOME/mfw`,
/// else `~/.cache/mfw`.
fn default_cache_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("mfw");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("mfw"),
        None => std::env::temp_dir().join("mfw-cache"),
    }
}

/// An error and its causes on one line, each cause once.
fn error_text(error: &anyhow::Error) -> String {
    let error: &(dyn std::error::Error + 'static) = error.as_ref();
    mfw_host::error_chain(error)
}

/// Two malloc arenas, not glibc's eight per core: the buffers a large value
/// passes through are allocated on a task's thread and freed on the
/// datastore's, and every arena kept what it was given back. A Python step
/// setting 100 MiB peaked at 255-270 MB with them, 225 MB with two, at the
/// same speed (2026-12-04; mimalloc peaked higher, 320 MB). glibc's own
/// `MALLOC_ARENA_MAX`, when set, wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of glibc's allocator,
        // before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let datastore = match cli.datastore {
        Some(datastore) => datastore,
        None => match config::Config::load() {
            Ok(config) => config
                .datastore
                .unwrap_or_else(|| mfw_store::DEFAULT_LOCATION.to_string()),
            Err(e) => {
                eprintln!("mfw: error: {}", observer::for_terminal(&error_text(&e)));
                eprintln!("mfw: see the mfw book: {}", book::CONFIGURATION);
                return ExitCode::from(1);
            }
        },
    };
    let context = commands::Context {
        datastore,
        cache_dir: cli.cache_dir.unwrap_or_else(default_cache_dir),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mfw: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) if args.wants_help() => {
                let mut cli = <Cli as clap::CommandFactory>::command();
                // Built, so the usage line says `mfw run`.
                cli.build();
                let usage = cli
                    .find_subcommand_mut("run")
                    .map(|run| run.render_long_help().to_string())
                    .unwrap_or_default();
                commands::run_help(&context, &args, usage)
            }
            Command::Run(args) => commands::run(&context, args).await,
            Command::Resume(args) => commands::resume(&context, args).await,
            Command::Build(args) => commands::build(&context, args),
            Command::Check(args) => commands::check(&context, args),
            Command::Show(args) => commands::show(&context, args),
            Command::Runs(args) => commands::runs(&context, args).await,
            Command::Dump(args) => commands::dump(&context, args).await,
            Command::Logs(args) => commands::logs(&context, args).await,
            Command::Replay(args) => commands::replay(&context, args).await,
            Command::Ui(args) => commands::ui(&context, args).await,
            Command::Card(command) => commands::card::card(&context, command).await,
            Command::Doctor(args) => commands::doctor::doctor(&context, args).await,
            Command::Deploy(args) => commands::deploy::deploy(&context, args).await,
            Command::Deployments => commands::deploy::deployments(&context).await,
            Command::Undeploy(args) => commands::deploy::undeploy(&context, args).await,
            Command::Event(command) => commands::deploy::event(&context, command).await,
            Command::Kubernetes(command) => cluster::kubernetes(&context, command).await,
            Command::Wheels(command) => commands::wheels::wheels(&context, command).await,
            Command::Tag(command) => commands::tag::tag(&context, command).await,
            Command::Worker(args) => cluster::worker(&context, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mfw: error: {}", observer::for_terminal(&error_text(&e)));
            if let Some(page) = book::page_for(&e) {
                eprintln!("mfw: see the mfw book: {page}");
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_each_cause_once() {
        let disk = std::io::Error::other("No space left on device (os error 28)");
        let error = anyhow::Error::new(disk)
            .context("Generic LocalFileSystem error: No space left on device (os error 28)")
            .context("cannot store task start/0");
        assert_eq!(
            error_text(&error),
            "cannot store task start/0: Generic LocalFileSystem error: No space left on device \
             (os error 28)"
        );
    }
}
