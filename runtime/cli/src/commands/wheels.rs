//! `mfw wheels`: native Python packages built for components ahead of a
//! flow's build, and what the cache holds.

use std::process::ExitCode;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mfw_store::Datastore;
use serde::Deserialize;

use crate::commands::Context;

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
    /// Fetch a built wheel from the datastore into the cache (`pull`), or
    /// share one from the cache through it (`push`). The recipe runs this
    /// when the datastore is remote, so a team builds each wheel once.
    ///
    /// Example: `mfw --datastore s3://team/flows wheels share pull
    /// --cache ~/.cache/mfw/wheels numpy-2.3.5-911215544402edc4`
    #[command(hide = true)]
    Share {
        /// `pull` or `push`.
        direction: ShareDirection,
        /// The wheel's cache entry: NAME-VERSION-KEY.
        entry: String,
        /// The wheel cache.
        #[arg(long)]
        cache: std::path::PathBuf,
    },
}

/// Which way `mfw wheels share` copies a wheel.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ShareDirection {
    /// From the datastore into the cache.
    Pull,
    /// From the cache into the datastore.
    Push,
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

pub async fn wheels(context: &Context, command: WheelsCommand) -> anyhow::Result<ExitCode> {
    let tools = mfw_build::python::tools(&context.cache_dir, context.shared_store())?;
    match command {
        WheelsCommand::Share {
            direction,
            entry,
            cache,
        } => {
            let store = context.store()?;
            let done = match direction {
                ShareDirection::Pull => pull(&store, &cache, &entry).await?,
                ShareDirection::Push => push(&store, &cache, &entry).await?,
            };
            eprintln!("mfw wheels: {done}");
            Ok(ExitCode::SUCCESS)
        }
        WheelsCommand::Build { packages, jobs } => {
            let mut recipe = mfw_build::python::wheel_recipe(&tools, "build");
            recipe.args(&packages);
            if let Some(jobs) = jobs {
                recipe.arg("--jobs").arg(jobs.to_string());
            }
            // Progress and errors go straight to the terminal.
            let status = recipe
                .status()
                .context("cannot run the host's Python (set MFW_PYTHON to choose one)")?;
            if status.success() {
                Ok(ExitCode::SUCCESS)
            } else {
                // The recipe said what failed, above.
                eprintln!("mfw: see the mfw book: {}", crate::book::NATIVE_PACKAGES);
                Ok(ExitCode::FAILURE)
            }
        }
        WheelsCommand::List => {
            let output = mfw_build::python::wheel_recipe(&tools, "list")
                .output()
                .context("cannot run the host's Python (set MFW_PYTHON to choose one)")?;
            anyhow::ensure!(
                output.status.success(),
                "cannot list the wheel cache: {}",
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
            let cached: Vec<Cached> = serde_json::from_slice(&output.stdout)
                .context("the wheel recipe printed an unexpected list")?;
            let known = mfw_build::python::wheel_recipe_known(&tools)?;
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

/// Where the recipe keeps wheels: `<cache>/wheels/<entry>/`, holding one
/// `.whl` and `recipe.json` (what it was built from).
fn entry_dir(cache: &Path, entry: &str) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        !entry.is_empty()
            && !entry.starts_with('.')
            && entry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
        "`{entry}` is not a wheel cache entry (NAME-VERSION-KEY)"
    );
    Ok(cache.join("wheels").join(entry))
}

/// Copies a shared wheel into the cache, unless it is there or nobody
/// shared it; the cache entry appears whole or not at all.
async fn pull(store: &Datastore, cache: &Path, entry: &str) -> anyhow::Result<String> {
    let dir = entry_dir(cache, entry)?;
    if dir.is_dir() {
        return Ok(format!("{entry} is already cached"));
    }
    let Some((shared, bytes)) = store.get_shared_build("wheels", entry).await? else {
        return Ok(format!("{entry} is not shared in {} yet", store.location()));
    };
    let file = Path::new(&shared.file);
    anyhow::ensure!(
        file.extension().is_some_and(|e| e == "whl") && file.file_name() == Some(file.as_os_str()),
        "the datastore's record of {entry} names `{}`, not a wheel file",
        shared.file
    );
    let staging = dir.with_extension(format!("{}.pull", std::process::id()));
    std::fs::create_dir_all(&staging)?;
    let written = std::fs::write(staging.join(file), &bytes)
        .and_then(|()| {
            std::fs::write(
                staging.join("recipe.json"),
                serde_json::to_vec(&shared.about)?,
            )
        })
        .and_then(|()| std::fs::rename(&staging, &dir));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        // Another build got the same wheel there first.
        if !dir.is_dir() {
            return Err(e).with_context(|| format!("cannot cache {entry} in {}", dir.display()));
        }
    }
    Ok(format!(
        "{entry}: fetched {} ({:.1} MB) from {}",
        shared.file,
        bytes.len() as f64 / 1e6,
        store.location()
    ))
}

/// Shares a wheel from the cache through the datastore.
async fn push(store: &Datastore, cache: &Path, entry: &str) -> anyhow::Result<String> {
    let dir = entry_dir(cache, entry)?;
    let about: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("recipe.json"))
            .with_context(|| format!("{entry} is not in the wheel cache {}", cache.display()))?,
    )
    .with_context(|| format!("{} is damaged", dir.join("recipe.json").display()))?;
    let wheel = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("{} holds no wheel", dir.display()))?;
    let file = wheel
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = std::fs::read(&wheel)?;
    let size = bytes.len();
    store
        .put_shared_build("wheels", entry, &file, bytes.into(), about)
        .await?;
    Ok(format!(
        "{entry}: shared {file} ({:.1} MB) in {}",
        size as f64 / 1e6,
        store.location()
    ))
}
