//! Python flows: stage the flow with the host's CPython (which reads its
//! source and resolves its pinned packages, but never runs it), turn it into
//! a component with componentize-py, whose sandboxed start-up derives the
//! graph, and check that graph; cached by the hash of everything that goes
//! in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mfw_graph::{BlobHash, FlowGraph};
use serde::Deserialize;
use wasm_encoder::ComponentSection as _;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The WIT contract, as embedded in this binary.
pub use embedded::WIT;

use mfw_python_build::COMPONENTIZE_PY;

use crate::error::{BuildError, Language, io};

/// The Python side of the toolchain.
pub struct Tools {
    /// The host's Python, which stages builds (never running a flow's code).
    python: PathBuf,
    /// Holds `mfw/` (the SDK), `wit/flow.wit` and `wheels/` (the recipe
    /// for native packages, with the target CPython's data in
    /// `wheels/target`).
    sdk: PathBuf,
    /// Where built native wheels are cached.
    wheel_cache: PathBuf,
    /// A remote datastore that shares built wheels.
    shared_store: Option<String>,
    /// Hash of the SDK, the contract and the build recipe.
    hash: String,
}

/// The host's Python (`MFW_PYTHON`, or `python3`), and the embedded SDK and
/// contract written under the cache, once per version.
pub fn tools(cache: &Path, shared_store: Option<&str>) -> Result<Tools, BuildError> {
    let mut hasher = blake3::Hasher::new();
    for (name, content) in embedded::PYTHON_SDK {
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(content.as_bytes());
        hasher.update(&[0]);
    }
    hasher.update(embedded::WIT.as_bytes());
    hasher.update(mfw_python_build::RECIPE.as_bytes());
    hasher.update(mfw_python_build::wheels::recipe_hash().as_bytes());
    let hash = hasher.finalize().to_hex()[..16].to_string();
    let root = cache.join("python");
    let sdk = root.join(format!("sdk-{hash}"));
    if !sdk.join(".complete").exists() {
        let staging = root.join(format!("sdk-{hash}.{}", std::process::id()));
        let write = |staging: &Path| -> std::io::Result<()> {
            std::fs::create_dir_all(staging.join("mfw"))?;
            std::fs::create_dir_all(staging.join("wit"))?;
            for (name, content) in embedded::PYTHON_SDK {
                std::fs::write(staging.join("mfw").join(name), content)?;
            }
            std::fs::write(staging.join("wit/flow.wit"), embedded::WIT)?;
            mfw_python_build::wheels::write_recipe(&staging.join("wheels"))?;
            std::fs::write(staging.join(".complete"), "")
        };
        write(&staging).map_err(io("write the Python SDK to", &staging))?;
        // Another build may have won the race: theirs is identical.
        if std::fs::rename(&staging, &sdk).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    let python = PathBuf::from(std::env::var("MFW_PYTHON").unwrap_or_else(|_| "python3".into()));
    // Wheels are content-addressed and slow to build: one cache may serve
    // several mfw caches (MFW_WHEEL_CACHE).
    let wheel_cache = std::env::var_os("MFW_WHEEL_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("wheels"));
    Ok(Tools {
        python,
        sdk,
        wheel_cache,
        shared_store: shared_store.map(str::to_string),
        hash,
    })
}

/// The SDK's build script, `python -m mfw._build`, in the host's Python.
fn build_script(tools: &Tools) -> Command {
    let mut command = Command::new(&tools.python);
    command
        .args(["-m", "mfw._build"])
        .env("PYTHONPATH", &tools.sdk)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// The native-wheel recipe, `python recipe.py ...`, in the host's Python,
/// with its cache and the component CPython's data.
pub fn wheel_recipe(tools: &Tools, action: &str) -> Command {
    let recipe = tools.sdk.join("wheels");
    let mut command = Command::new(&tools.python);
    command
        .arg(recipe.join("recipe.py"))
        .arg(action)
        .arg("--cache")
        .arg(&tools.wheel_cache)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if action == "build" {
        command.arg("--target").arg(recipe.join("target"));
        if let Some(share) = wheel_share(tools) {
            command.arg("--share").arg(share);
        }
    }
    command
}

/// The command (JSON list) the recipe runs to fetch a wheel from the
/// shared datastore before building it, and to share one it built:
/// `mfw --datastore URL wheels share`.
fn wheel_share(tools: &Tools) -> Option<String> {
    let store = tools.shared_store.as_deref()?;
    let exe = std::env::current_exe().ok()?;
    serde_json::to_string(&[
        exe.to_string_lossy().as_ref(),
        "--datastore",
        store,
        "wheels",
        "share",
    ])
    .ok()
}

/// The packages the recipe builds, with their versions.
pub fn wheel_recipe_known(tools: &Tools) -> Result<Vec<(String, Vec<String>)>, BuildError> {
    let mut command = Command::new(&tools.python);
    command.arg(tools.sdk.join("wheels/recipe.py")).arg("known");
    let output = command.output().map_err(|source| BuildError::Launch {
        tool: tools.python.display().to_string(),
        hint: "to read the wheel recipe (set MFW_PYTHON to choose a Python)".to_string(),
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::Toolchain(format!(
            "cannot read the wheel recipe: {}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        )));
    }
    let known: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_slice(&output.stdout).map_err(|source| BuildError::Output {
            what: "the wheel recipe printed something unexpected".to_string(),
            source,
        })?;
    Ok(known.into_iter().collect())
}

/// Runs `command` (a [`build_script`] for `flow`); returns what it printed.
fn run_build_script(
    tools: &Tools,
    flow: &Path,
    command: &mut Command,
) -> Result<String, BuildError> {
    let output = output_showing_wheel_progress(command).map_err(|source| BuildError::Launch {
        tool: tools.python.display().to_string(),
        hint: "(Python 3.11 or newer builds Python flows; set MFW_PYTHON to choose one)"
            .to_string(),
        source,
    })?;
    if !output.status.success() {
        // The SDK itself needs 3.11: say so rather than show its SyntaxError.
        let too_old = Command::new(&tools.python)
            .args(["-c", "import sys; sys.exit(sys.version_info < (3, 11))"])
            .status()
            .is_ok_and(|status| !status.success());
        if too_old {
            return Err(BuildError::Toolchain(format!(
                "cannot build {}: Python flows are read with Python 3.11 or newer, and {} is \
                 older (set MFW_PYTHON to a newer one)",
                flow.display(),
                tools.python.display()
            )));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(BuildError::Staging {
            flow: flow.to_path_buf(),
            message: stderr.trim_end().to_string(),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| {
        BuildError::Toolchain(format!(
            "cannot build {}: the SDK's build script printed something not UTF-8",
            flow.display()
        ))
    })
}

/// Runs `command` for its output, passing on at once the lines the wheel
/// recipe prints for the user (`mfw wheels: ...`: a native build's
/// progress, a wheel fetched from the datastore), which can take minutes.
fn output_showing_wheel_progress(command: &mut Command) -> std::io::Result<std::process::Output> {
    use std::io::{BufRead, Read};
    use std::process::Stdio;

    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take();
    let relay = std::thread::spawn(move || {
        let mut all = Vec::new();
        if let Some(stderr) = stderr {
            let mut lines = std::io::BufReader::new(stderr);
            let mut line = Vec::new();
            while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                if line.starts_with(b"mfw wheels: ") {
                    eprint!("{}", String::from_utf8_lossy(&line));
                }
                all.append(&mut line);
            }
        }
        all
    });
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)?;
    }
    let status = child.wait()?;
    let stderr = relay.join().unwrap_or_default();
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// Directories under a flow's that are never part of its code package.
const NOT_CODE: [&str; 3] = ["__pycache__", "node_modules", "site-packages"];

/// The most entries (files and directories) a flow's directory tree may
/// hold: a flow in a home directory or at the root of a large repository
/// would otherwise package everything under it.
const MAX_CODE_PACKAGE_ENTRIES: usize = 20_000;

/// Files besides `.py` that a code package takes: what Metaflow's `Config`
/// reads when the flow is built (`Config("c", default="config.json")`).
const CONFIG_SUFFIXES: [&str; 6] = [".json", ".yaml", ".yml", ".toml", ".ini", ".cfg"];

/// The largest configuration file a code package takes: larger ones are
/// data, which steps read with `IncludeFile`, not part of every build.
const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// The flow's code package: every `.py` under `dir`, and every
/// configuration file (`CONFIG_SUFFIXES`, up to `MAX_CONFIG_FILE_BYTES`,
/// not a symbolic link), outside hidden, cache and virtualenv directories,
/// without following symlinked directories; paths relative to `dir`. The
/// build bundles exactly these files and its cache key covers them.
fn code_package(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    let mut seen = 0usize;
    while let Some(relative) = pending.pop() {
        let listed = dir.join(&relative);
        let entries = std::fs::read_dir(&listed).map_err(io("list", &listed))?;
        for entry in entries {
            let entry = entry.map_err(io("list", &listed))?;
            seen += 1;
            if seen > MAX_CODE_PACKAGE_ENTRIES {
                return Err(BuildError::NotAFlow(format!(
                    "{} holds more than {MAX_CODE_PACKAGE_ENTRIES} files and directories: a \
                     Python flow's code package is every .py under its directory, so give \
                     the flow a directory of its own",
                    dir.display()
                )));
            }
            let file_name = entry.file_name();
            let name = file_name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                let not_code = NOT_CODE.contains(&name.as_ref())
                    || path.join("pyvenv.cfg").exists()
                    || path.join("CACHEDIR.TAG").exists();
                if !not_code {
                    pending.push(relative.join(&file_name));
                }
            } else {
                let code = name.ends_with(".py") && path.is_file();
                let config = CONFIG_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
                    && entry.file_type().is_ok_and(|t| t.is_file())
                    && entry
                        .metadata()
                        .is_ok_and(|m| m.len() <= MAX_CONFIG_FILE_BYTES);
                if code || config {
                    found.push(relative.join(&file_name));
                }
            }
        }
    }
    Ok(found)
}

/// What goes into a Python component: the tools, its code package (every
/// `.py` under the flow's directory), its `requirements.txt`, and where the flow
/// lives, since defaults are evaluated at build time and one computed from
/// `__file__` holds that path. (`flow` is canonical.)
fn build_key(
    tools: &Tools,
    flow: &Path,
    partial: bool,
    code: &[PathBuf],
    configs: &BTreeMap<String, String>,
) -> Result<String, BuildError> {
    let dir = flow.parent().unwrap_or(Path::new("."));
    let mut hasher = blake3::Hasher::new();
    hasher.update(tools.hash.as_bytes());
    hasher.update(if partial { b"partial" } else { b"whole  " });
    hasher.update(dir.as_os_str().as_encoded_bytes());
    hasher.update(&[0]);
    hasher.update(
        flow.file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default(),
    );
    let mut names = code.to_vec();
    if dir.join("requirements.txt").is_file() {
        names.push(PathBuf::from("requirements.txt"));
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        hasher.update(name.as_os_str().as_encoded_bytes());
        hasher.update(&[0]);
        hasher.update(&std::fs::read(&path).map_err(io("read", &path))?);
        hasher.update(&[0]);
    }
    hash_configs(&mut hasher, configs);
    Ok(hasher.finalize().to_hex()[..32].to_string())
}

/// Adds the configs given for a build (`run --config`) to a hash: they
/// change the component as its files do. None given adds nothing, so the
/// keys of builds without them stay as they were.
fn hash_configs(hasher: &mut blake3::Hasher, configs: &BTreeMap<String, String>) {
    for (name, text) in configs {
        hasher.update(b"config\0");
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
}

/// Where the component's start-up leaves the graph it derived, or why it
/// could not, in the staged app (`GRAPH_FILE`, `ERROR_FILE` in the SDK's
/// `_build.py`). The graph comes last: it also tells the Python build that
/// the imports are done.
const GRAPH_FILE: &str = mfw_python_build::IMPORTS_DONE_FILE;
const ERROR_FILE: &str = ".mfw-build-error.txt";

/// The most bytes of a derived graph (or build error) the host reads: the
/// guest wrote them.
const MAX_DERIVED_BYTES: u64 = 64 << 20;

/// Reads a file the component's start-up wrote in `app`, if it did.
fn read_derived(app: &Path, name: &str) -> Result<Option<String>, BuildError> {
    use std::io::Read as _;
    let path = app.join(name);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &path)(e)),
    };
    let mut text = String::new();
    file.take(MAX_DERIVED_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io("read", &path))?;
    if text.len() as u64 > MAX_DERIVED_BYTES {
        return Err(BuildError::Code {
            language: Language::Python,
            message: format!(
                "the flow's graph is larger than {} MiB",
                MAX_DERIVED_BYTES >> 20
            ),
        });
    }
    Ok(Some(text))
}

/// The graph the component's start-up derived in `app`, checked unless the
/// flow is `partial` (a part of a flow is checked when it is assembled).
fn derived_graph(flow: &Path, app: &Path, partial: bool) -> Result<FlowGraph, BuildError> {
    let text = read_derived(app, GRAPH_FILE)?.ok_or_else(|| BuildError::Code {
        language: Language::Python,
        message: format!(
            "cannot build {}: the component's start-up left no graph",
            flow.display()
        ),
    })?;
    let graph: FlowGraph = serde_json::from_str(&text).map_err(|source| BuildError::Output {
        what: format!("the SDK derived an unexpected graph for {}", flow.display()),
        source,
    })?;
    if !partial && let Err(e) = graph.validate() {
        return Err(BuildError::Graph {
            flow: flow.to_path_buf(),
            report: e.report(&graph),
        });
    }
    Ok(graph)
}

/// What `python -m mfw._build stage` prints.
#[derive(Deserialize)]
struct Staged {
    /// The directory componentize-py turns into the component.
    app: PathBuf,
    /// The pinned packages bundled in it, with their hashes.
    lock: Vec<serde_json::Value>,
    /// The bundled packages' data files, encoded for the component's
    /// `mfw-files` section (see `mfw_host::FILES_SECTION`).
    files: Option<PathBuf>,
}

/// A built Python component.
pub struct Built {
    /// Where it is.
    pub wasm: PathBuf,
    /// Each step's own code identity (see `step_code.rs`); empty for a
    /// build cached by an earlier mfw that did not record them.
    pub step_code: BTreeMap<String, BlobHash>,
}

/// Where a build's step code identities are kept, beside its component.
fn step_code_path(wasm: &Path) -> PathBuf {
    wasm.with_extension("steps.json")
}

fn read_step_code(wasm: &Path) -> BTreeMap<String, BlobHash> {
    std::fs::read(step_code_path(wasm))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The part of every step's code identity that is not the flow file:
/// the toolchain, the other files of the code package, `requirements.txt`,
/// the resolved packages and their data files.
fn common_code(
    tools: &Tools,
    flow: &Path,
    partial: bool,
    code: &[PathBuf],
    lock: &[serde_json::Value],
    files: Option<&Path>,
    configs: &BTreeMap<String, String>,
) -> Result<blake3::Hasher, BuildError> {
    let dir = flow.parent().unwrap_or(Path::new("."));
    let own = flow.file_name().map(PathBuf::from).unwrap_or_default();
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"mfw python step code v1\0");
    hasher.update(tools.hash.as_bytes());
    hasher.update(COMPONENTIZE_PY.as_bytes());
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    hasher.update(if partial { b"partial" } else { b"whole  " });
    hasher.update(own.as_os_str().as_encoded_bytes());
    hasher.update(&[0]);
    let mut names: Vec<&PathBuf> = code.iter().filter(|name| **name != own).collect();
    let requirements = PathBuf::from("requirements.txt");
    if dir.join(&requirements).is_file() {
        names.push(&requirements);
    }
    names.sort();
    for name in names {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(io("read", &path))?;
        hasher.update(name.as_os_str().as_encoded_bytes());
        hasher.update(&[0]);
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let lock = serde_json::to_vec(lock).map_err(|source| BuildError::Output {
        what: "the lock does not serialize".to_string(),
        source,
    })?;
    hasher.update(&(lock.len() as u64).to_le_bytes());
    hasher.update(&lock);
    if let Some(files) = files {
        let bytes = std::fs::read(files).map_err(io("read", files))?;
        hasher.update(blake3::hash(&bytes).as_bytes());
    }
    hash_configs(&mut hasher, configs);
    Ok(hasher)
}

/// Builds the Python flow `flow` into a component, unless an identical
/// build is cached.
pub fn build(
    flow: &Path,
    options: &crate::source::BuildOptions,
    partial: bool,
) -> Result<Built, BuildError> {
    let (cache, force) = (options.cache_dir, options.force);
    let flow = std::fs::canonicalize(flow).map_err(io("resolve", flow))?;
    let tools = tools(cache, options.shared_store)?;
    let code = code_package(flow.parent().unwrap_or(Path::new(".")))?;
    let key = build_key(&tools, &flow, partial, &code, options.configs)?;
    let builds = cache.join("python/builds");
    let out = builds.join(format!("{key}.wasm"));
    if out.exists() && !force {
        let step_code = read_step_code(&out);
        return Ok(Built {
            wasm: out,
            step_code,
        });
    }
    eprintln!(
        "mfw: building {} with componentize-py {COMPONENTIZE_PY}",
        flow.display()
    );
    // Per process: two builds of the same flow at once must not share it.
    let work = cache
        .join("python/work")
        .join(format!("{key}.{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(io("create", &work))?;
    std::fs::create_dir_all(&builds).map_err(io("create", &builds))?;
    // The files the key covers are the ones bundled: one walk decides both.
    let code_file = work.join("code-package.json");
    let code_paths = code;
    let code: Vec<String> = code_paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let listed = serde_json::to_vec(&code).map_err(|source| BuildError::Output {
        what: "the code package does not serialize".to_string(),
        source,
    })?;
    std::fs::write(&code_file, listed).map_err(io("write", &code_file))?;
    let configs_file = work.join("configs.json");
    let configs = serde_json::to_vec(options.configs).map_err(|source| BuildError::Output {
        what: "the configs do not serialize".to_string(),
        source,
    })?;
    std::fs::write(&configs_file, configs).map_err(io("write", &configs_file))?;
    let staged = run_build_script(
        &tools,
        &flow,
        build_script(&tools)
            .arg("stage")
            .arg("--flow")
            .arg(&flow)
            .arg("--code-package")
            .arg(&code_file)
            .arg("--configs")
            .arg(&configs_file)
            .arg("--sdk")
            .arg(&tools.sdk)
            .arg("--work")
            .arg(&work)
            .arg("--wheel-cache")
            .arg(&tools.wheel_cache)
            .args(partial.then_some("--partial"))
            .args(
                wheel_share(&tools)
                    .map(|share| ["--wheel-share".to_string(), share])
                    .into_iter()
                    .flatten(),
            ),
    )?;
    let staged: Staged = serde_json::from_str(&staged).map_err(|source| BuildError::Output {
        what: format!("the SDK's build script printed {staged}"),
        source,
    })?;
    let staging = builds.join(format!("{key}.{}.wasm", std::process::id()));
    let built = mfw_python_build::componentize(&tools.sdk.join("wit"), &staged.app, &staging)
        .map_err(|source| {
            // The flow's own error (a bad decorator, a failing import),
            // as the SDK worded it, rather than componentize-py's trace.
            match read_derived(&staged.app, ERROR_FILE) {
                Ok(Some(message)) => BuildError::Code {
                    language: Language::Python,
                    message: format!("cannot build {}:\nmfw: error: {message}", flow.display()),
                },
                _ => BuildError::Python {
                    flow: flow.clone(),
                    source,
                },
            }
        })
        .and_then(|()| derived_graph(&flow, &staged.app, partial))
        .and_then(|graph| {
            // Each step's own code identity, beside the component (written
            // first: a component in place always has it).
            let common = common_code(
                &tools,
                &flow,
                partial,
                &code_paths,
                &staged.lock,
                staged.files.as_deref(),
                options.configs,
            )?;
            let source = std::fs::read_to_string(&flow).map_err(io("read", &flow))?;
            let steps: Vec<String> = graph.steps.iter().map(|s| s.name.clone()).collect();
            let step_code: BTreeMap<String, BlobHash> =
                crate::step_code::step_codes(&common, &source, &steps)
                    .into_iter()
                    .map(|(step, hash)| (step, BlobHash::from_bytes(*hash.as_bytes())))
                    .collect();
            let json = serde_json::to_vec(&step_code).map_err(|source| BuildError::Output {
                what: "the step code identities do not serialize".to_string(),
                source,
            })?;
            let path = step_code_path(&out);
            let staging_steps = path.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&staging_steps, json)
                .and_then(|()| std::fs::rename(&staging_steps, &path))
                .map_err(io("write", &path))?;
            Ok(step_code)
        })
        .and_then(|step_code| {
            // Top-level custom sections: the lock, which `mfw show --env`
            // reads, and the data files the host unpacks for each task.
            let mut sections = Vec::new();
            if !staged.lock.is_empty() {
                let lock =
                    serde_json::to_vec(&staged.lock).map_err(|source| BuildError::Output {
                        what: "the lock does not serialize".to_string(),
                        source,
                    })?;
                wasm_encoder::CustomSection {
                    name: "mfw-lock".into(),
                    data: lock.into(),
                }
                .append_to_component(&mut sections);
            }
            if let Some(files) = &staged.files {
                let data = std::fs::read(files).map_err(io("read", files))?;
                wasm_encoder::CustomSection {
                    name: mfw_host::FILES_SECTION.into(),
                    data: data.into(),
                }
                .append_to_component(&mut sections);
            }
            std::fs::OpenOptions::new()
                .append(true)
                .open(&staging)
                .and_then(|mut file| std::io::Write::write_all(&mut file, &sections))
                .map_err(io("write", &staging))?;
            Ok(step_code)
        });
    let step_code = match built {
        Ok(step_code) => step_code,
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
    };
    std::fs::rename(&staging, &out).map_err(io("store the component in", &out))?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(Built {
        wasm: out,
        step_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, relative: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    fn sorted(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
        paths.sort();
        paths
    }

    #[test]
    fn the_code_package_takes_every_py_file_subpackages_and_configuration_files() {
        let dir = tempfile::tempdir().unwrap();
        for relative in [
            "flow.py",
            "util.py",
            "lib/__init__.py",
            "lib/deep/mod.py",
            "data.csv",
            "config.json",
            "conf/prod.yaml",
        ] {
            touch(dir.path(), relative);
        }
        // Configuration files, but not large ones (data) or links.
        std::fs::write(dir.path().join("big.json"), vec![b' '; 2 << 20]).unwrap();
        std::os::unix::fs::symlink(dir.path().join("config.json"), dir.path().join("link.json"))
            .unwrap();
        assert_eq!(
            sorted(code_package(dir.path()).unwrap()),
            [
                "conf/prod.yaml",
                "config.json",
                "flow.py",
                "lib/__init__.py",
                "lib/deep/mod.py",
                "util.py"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn the_code_package_leaves_out_environments_caches_and_hidden_dirs() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("flow");
        for relative in [
            "flow.py",
            "venv/pyvenv.cfg",
            "venv/lib/site.py",
            "target/CACHEDIR.TAG",
            "target/gen.py",
            ".git/hook.py",
            "__pycache__/flow.py",
            "node_modules/x.py",
        ] {
            touch(&root, relative);
        }
        // A symlinked directory is not followed (it may lead anywhere).
        touch(top.path(), "elsewhere/other.py");
        std::os::unix::fs::symlink(top.path().join("elsewhere"), root.join("linked")).unwrap();
        assert_eq!(code_package(&root).unwrap(), [PathBuf::from("flow.py")]);
    }
}
