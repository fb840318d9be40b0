//! Turning what the user names into component bytes: a `.wasm` file as is,
//! a Rust crate built for wasm32-wasip2, or a Python flow built with
//! componentize-py, each rebuilt only when its sources changed.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{BuildError, Language, io};

/// A flow's component, ready to load.
pub struct Component {
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// How messages name it: the path the user gave.
    pub name: String,
    /// Where the wasm file is.
    pub wasm: PathBuf,
    /// Whether the user named a component (`.wasm`) rather than source that
    /// was built here: its grants need the user's consent.
    pub prebuilt: bool,
    /// Each step's own code identity, when this build computed one (Python
    /// flows): editing one step's body changes only that step's. Empty
    /// otherwise, and for a component named as a `.wasm`, whose claims
    /// about itself are not trusted.
    pub step_code: BTreeMap<String, mfw_graph::BlobHash>,
}

/// What kind of source a path is.
enum Source {
    Wasm(PathBuf),
    Rust(PathBuf),
    Python(PathBuf),
    Go(PathBuf),
}

/// The one `.py` file in `dir`, if there is exactly one.
fn single_python_file(dir: &Path) -> Option<PathBuf> {
    let mut found = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn classify(path: &Path) -> Result<Source, BuildError> {
    let metadata = std::fs::metadata(path)
        .map_err(|e| BuildError::NotAFlow(format!("flow not found: {} ({e})", path.display())))?;
    if metadata.is_dir() {
        if path.join("Cargo.toml").is_file() {
            return Ok(Source::Rust(path.to_path_buf()));
        }
        if path.join("go.mod").is_file() {
            return Ok(Source::Go(path.to_path_buf()));
        }
        if let Some(file) = single_python_file(path) {
            return Ok(Source::Python(file));
        }
        return Err(BuildError::NotAFlow(format!(
            "{} is not a flow: expected a Cargo.toml (Rust), a go.mod (Go) or a single .py file in it; \
             or name a flow file (.py) or a component (.wasm)",
            path.display()
        )));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("wasm") => Ok(Source::Wasm(path.to_path_buf())),
        Some("py") => Ok(Source::Python(path.to_path_buf())),
        _ => Err(BuildError::NotAFlow(format!(
            "{} is not a flow: give a flow file (.py), a flow directory (with Cargo.toml) or a \
             .wasm component",
            path.display()
        ))),
    }
}

/// What the user named: one component, or a manifest's several.
pub struct Resolved {
    /// The components, in manifest order.
    pub components: Vec<Component>,
    /// The flow's name, if the manifest gives one.
    pub name: Option<String>,
}

/// A flow manifest, `mfw.toml`: the components a flow's steps live in.
///
/// ```toml
/// name = "PolyglotFlow"      # optional; else the name the start step's component gives
/// [[component]]
/// path = "start.py"          # a Python file, a Rust crate, or a .wasm component
/// [[component]]
/// path = "train"
/// ```
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: Option<String>,
    #[serde(rename = "component", default)]
    components: Vec<ManifestComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestComponent {
    path: PathBuf,
}

fn manifest_path(path: &Path) -> Option<PathBuf> {
    if path.is_dir() && path.join("mfw.toml").is_file() {
        return Some(path.join("mfw.toml"));
    }
    (path.is_file() && path.extension().is_some_and(|e| e == "toml")).then(|| path.to_path_buf())
}

/// How components are built.
pub struct BuildOptions<'a> {
    /// Where builds are cached.
    pub cache_dir: &'a Path,
    /// Rebuild even what is up to date.
    pub force: bool,
    /// A remote datastore the run uses: native wheels built for Python
    /// components are shared through it, so a team builds each once.
    pub shared_store: Option<&'a str>,
    /// Values for Python flows' Metaflow `Config`s, by config name: the
    /// text of the file or value given (`mfw run --config NAME FILE`). A
    /// Python build bakes them in instead of the configs' defaults.
    pub configs: &'a BTreeMap<String, String>,
}

/// Finds the components for `path`, building each whose sources changed.
pub fn resolve(path: &Path, options: &BuildOptions) -> Result<Resolved, BuildError> {
    let Some(manifest_file) = manifest_path(path) else {
        return Ok(Resolved {
            components: vec![component(path, options, false)?],
            name: None,
        });
    };
    let text = std::fs::read_to_string(&manifest_file).map_err(io("read", &manifest_file))?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| {
        BuildError::Manifest(format!(
            "{} is not a valid flow manifest: {e}",
            manifest_file.display()
        ))
    })?;
    if manifest.components.is_empty() {
        return Err(BuildError::Manifest(format!(
            "{} lists no components: add [[component]] entries with a path",
            manifest_file.display()
        )));
    }
    let base = manifest_file.parent().unwrap_or(Path::new("."));
    if let Some(name) = options.configs.keys().next()
        && !manifest
            .components
            .iter()
            .any(|entry| matches!(classify(&base.join(&entry.path)), Ok(Source::Python(_))))
    {
        return Err(BuildError::ConfigNotTaken {
            name: name.clone(),
            flow: manifest_file.display().to_string(),
        });
    }
    let mut components = Vec::new();
    for entry in &manifest.components {
        let path = base.join(&entry.path);
        if !path.exists() {
            return Err(BuildError::Manifest(format!(
                "{} names {}, which does not exist ({})",
                manifest_file.display(),
                entry.path.display(),
                path.display()
            )));
        }
        components.push(component(&path, options, true)?);
    }
    Ok(Resolved {
        components,
        name: manifest.name,
    })
}

/// Finds the component for `path`, building it if it is a source tree whose
/// sources are newer than the last build. `partial`: the flow's other steps
/// live in other components (a manifest).
fn component(path: &Path, options: &BuildOptions, partial: bool) -> Result<Component, BuildError> {
    let name = path.display().to_string();
    let (cache_dir, force) = (options.cache_dir, options.force);
    let source = classify(path)?;
    let prebuilt = matches!(source, Source::Wasm(_));
    let mut step_code = BTreeMap::new();
    // A manifest's other components may be Python ones (`resolve` checks).
    if let Some(name) = options.configs.keys().next()
        && !partial
        && !matches!(source, Source::Python(_))
    {
        return Err(BuildError::ConfigNotTaken {
            name: name.clone(),
            flow: path.display().to_string(),
        });
    }
    let wasm = match source {
        Source::Wasm(wasm) => wasm,
        Source::Rust(dir) => build_rust(&dir, cache_dir, force)?,
        Source::Python(file) => {
            let built = crate::python::build(&file, options, partial)?;
            step_code = built.step_code;
            built.wasm
        }
        Source::Go(dir) => crate::go::build(&dir, cache_dir, force)?,
    };
    let bytes = std::fs::read(&wasm).map_err(io("read", &wasm))?;
    Ok(Component {
        bytes,
        name,
        wasm,
        prebuilt,
        step_code,
    })
}

/// Remembers where a crate's last build put its component.
#[derive(Serialize, Deserialize)]
struct BuildRecord {
    wasm: PathBuf,
    depinfo: PathBuf,
}

fn record_path(dir: &Path, cache_dir: &Path) -> PathBuf {
    let key = blake3::hash(dir.to_string_lossy().as_bytes()).to_hex();
    cache_dir
        .join("builds")
        .join(format!("{}.json", &key[..32]))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether the last build is newer than every file it was built from, as
/// cargo's dep-info lists them (sources of path dependencies and the WIT
/// included), plus the manifest and lock file.
fn up_to_date(dir: &Path, record: &BuildRecord) -> bool {
    let Some(built) = modified(&record.wasm) else {
        return false;
    };
    let Ok(depinfo) = std::fs::read_to_string(&record.depinfo) else {
        return false;
    };
    let mut inputs: Vec<PathBuf> = vec![dir.join("Cargo.toml")];
    if dir.join("Cargo.lock").exists() {
        inputs.push(dir.join("Cargo.lock"));
    }
    // "target: dep1 dep2 ..." with spaces in paths escaped as "\ ".
    for line in depinfo.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        inputs.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            inputs.push(PathBuf::from(current));
        }
    }
    inputs
        .iter()
        .all(|input| modified(input).is_some_and(|m| m <= built))
}

/// Whether the toolchain that builds `dir` has the wasm32-wasip2 standard
/// library: asked of rustc (run in `dir`, so toolchain overrides apply)
/// rather than read from cargo's wording. `None` when rustc cannot say.
fn wasm_target_installed(dir: &Path) -> Option<bool> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let libdir = String::from_utf8(output.stdout).ok()?;
    Some(has_core_library(Path::new(libdir.trim())))
}

/// Whether `libdir` holds a compiled `core` crate (`libcore-<hash>.rlib`),
/// which every installed target has.
fn has_core_library(libdir: &Path) -> bool {
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libcore-") && name.ends_with(".rlib")
        })
    })
}

/// Builds the Rust flow crate in `dir` for wasm32-wasip2, unless the last
/// build is up to date. Cargo's own output goes to the terminal.
fn build_rust(dir: &Path, cache_dir: &Path, force: bool) -> Result<PathBuf, BuildError> {
    let dir = std::fs::canonicalize(dir).map_err(io("resolve", dir))?;
    let record_file = record_path(&dir, cache_dir);
    if !force
        && let Ok(text) = std::fs::read_to_string(&record_file)
        && let Ok(record) = serde_json::from_str::<BuildRecord>(&text)
        && up_to_date(&dir, &record)
    {
        return Ok(record.wasm);
    }
    let manifest = dir.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Launch {
            tool: cargo.to_string_lossy().into_owned(),
            hint: format!(
                "to build {} (is Rust installed? see https://rustup.rs)",
                dir.display()
            ),
            source,
        })?;
    // Cargo's progress and diagnostics go to stderr: pass them on.
    let stderr = child.stderr.take();
    let relay = std::thread::spawn(move || {
        if let Some(stderr) = stderr {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("{line}");
            }
        }
    });
    let mut wasm = None;
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if message["reason"] != "compiler-artifact"
                || message["manifest_path"].as_str().map(Path::new) != Some(manifest.as_path())
            {
                continue;
            }
            if let Some(files) = message["filenames"].as_array() {
                for file in files.iter().filter_map(|f| f.as_str()) {
                    if file.ends_with(".wasm") {
                        wasm = Some(PathBuf::from(file));
                    }
                }
            }
        }
    }
    let status = child.wait().map_err(io("wait for cargo building", &dir))?;
    let _ = relay.join();
    if !status.success() {
        if wasm_target_installed(&dir) == Some(false) {
            return Err(BuildError::Toolchain(format!(
                "cannot build {}: the wasm32-wasip2 target is not installed; run \
                 `rustup target add wasm32-wasip2`",
                dir.display()
            )));
        }
        return Err(BuildError::Code {
            language: Language::Rust,
            message: format!(
                "cannot build {}: cargo failed (its messages are above)",
                dir.display()
            ),
        });
    }
    let Some(wasm) = wasm else {
        return Err(BuildError::Code {
            language: Language::Rust,
            message: format!(
                "building {} produced no component: its Cargo.toml needs `[lib] crate-type = \
                 [\"cdylib\"]`",
                dir.display()
            ),
        });
    };
    let record = BuildRecord {
        depinfo: wasm.with_extension("d"),
        wasm: wasm.clone(),
    };
    if let Some(parent) = record_file.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    // The record only saves time; failing to write it is harmless.
    if let Ok(text) = serde_json::to_string(&record) {
        let _ = std::fs::write(&record_file, text);
    }
    Ok(wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_installed_when_its_library_directory_holds_core() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_core_library(&dir.path().join("absent")));
        assert!(!has_core_library(dir.path()));
        std::fs::write(dir.path().join("libstd-0123.rlib"), b"").unwrap();
        assert!(!has_core_library(dir.path()));
        std::fs::write(dir.path().join("libcore-4567.rlib"), b"").unwrap();
        assert!(has_core_library(dir.path()));
    }

    #[test]
    fn this_machines_toolchain_has_the_wasm_target() {
        // CI installs it (scripts/setup); rustc answers for the toolchain
        // that builds this repository.
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(wasm_target_installed(here), Some(true));
    }
}
