//! `mfw wheels`: native Python packages built for components ahead of a
//! flow's build, and what the cache holds.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Deserialize;

use crate::commands::Context;
use crate::python;

#[derive(clap::Subcommand, Debug)]
pub enum WheelsCommand {
    /// Build native packages for the component's CPython (cached; a flow
    /// that pins them builds them too, when needed).
    ///
    /// Example: `mfw wheels build numpy==2.3.5 pandas==2.3.3`
    Build {
        /// Packages as NAME==VERSION.
        #[arg(required = true)]
        packages: Vec<String>,
        /// Compile jobs at once (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// List the cached wheels and the packages the recipe builds.
    List,
}

/// One cached wheel, as `recipe.py list` prints it.
#[derive(Deserialize)]
struct Cached {
    name: String,
    version: String,
    path: String,
    size: u64,
    sdist_sha256: String,
    /// Built by today's recipe (an older recipe's wheel is no longer used).
    current: bool,
}

pub fn wheels(context: &Context, command: WheelsCommand) -> anyhow::Result<ExitCode> {
    let tools = python::tools(&context.cache_dir)?;
    match command {
        WheelsCommand::Build { packages, jobs } => {
            let mut recipe = python::wheel_recipe(&tools, "build");
            recipe.args(&packages);
            if let Some(jobs) = jobs {
                recipe.arg("--jobs").arg(jobs.to_string());
            }
            // Progress and errors go straight to the terminal.
            let status = recipe
                .status()
                .context("cannot run the host's Python (set MFW_PYTHON to choose one)")?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        WheelsCommand::List => {
            let output = python::wheel_recipe(&tools, "list")
                .output()
                .context("cannot run the host's Python (set MFW_PYTHON to choose one)")?;
            anyhow::ensure!(
                output.status.success(),
                "cannot list the wheel cache: {}",
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
            let cached: Vec<Cached> = serde_json::from_slice(&output.stdout)
                .context("the wheel recipe printed an unexpected list")?;
            let known = python::wheel_recipe_known(&tools)?;
            if cached.is_empty() {
                println!("no native wheels cached in {}", tools_cache(context));
            }
            for wheel in &cached {
                let stale = if wheel.current {
                    ""
                } else {
                    "  (older recipe)"
                };
                println!(
                    "{} {}  {:.1} MB  sdist sha256:{}{stale}\n  {}",
                    wheel.name,
                    wheel.version,
                    wheel.size as f64 / 1e6,
                    &wheel.sdist_sha256[..16],
                    wheel.path
                );
            }
            println!("\nthe recipe builds:");
            for (name, versions) in known {
                println!("  {name} {}", versions.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn tools_cache(context: &Context) -> String {
    context.cache_dir.join("wheels").display().to_string()
}
