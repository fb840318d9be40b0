//! Go flows: `go build` for wasip1 as a reactor, then the module becomes a
//! component: the contract's world is embedded as metadata and WASI
//! preview 1 is adapted to preview 2 with wasmtime's reactor adapter.
//! Builds are cached by the hash of the module's sources (and of local
//! modules its go.mod replaces, such as the SDK).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

use crate::error::{BuildError, Language, io};
use crate::python::WIT;

/// Every source file of a Go module tree that affects its build.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !name.starts_with('.') && name != "testdata" && name != "vendor" {
                sources(&path, out)?;
            }
        } else if (name.ends_with(".go") && !name.ends_with("_test.go"))
            || name == "go.mod"
            || name == "go.sum"
            || name.ends_with(".s")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Local directories the module's go.mod replaces dependencies with.
fn local_replacements(dir: &Path) -> Vec<PathBuf> {
    let Ok(go_mod) = std::fs::read_to_string(dir.join("go.mod")) else {
        return Vec::new();
    };
    go_mod
        .lines()
        .filter_map(|line| line.split_once("=>").map(|(_, target)| target.trim()))
        .map(|target| target.trim_start_matches('(').trim())
        .filter(|target| {
            target.starts_with("./") || target.starts_with("../") || target.starts_with('/')
        })
        .map(|target| dir.join(target.split_whitespace().next().unwrap_or(target)))
        .filter(|path| path.is_dir())
        .collect()
}

fn build_key(dir: &Path) -> Result<String, BuildError> {
    let mut files = Vec::new();
    sources(dir, &mut files).map_err(io("list", dir))?;
    for replaced in local_replacements(dir) {
        sources(&replaced, &mut files).map_err(io("list", &replaced))?;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(WIT.as_bytes());
    hasher.update(WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER);
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(&[0]);
        hasher.update(&std::fs::read(&file).map_err(io("read", &file))?);
        hasher.update(&[0]);
    }
    Ok(hasher.finalize().to_hex()[..32].to_string())
}

/// What wit-component and wit-parser fail with.
type ComponentError = Box<dyn std::error::Error + Send + Sync>;

/// Turns the wasip1 reactor module `core` into a flow component.
fn componentize(mut core: Vec<u8>) -> Result<Vec<u8>, ComponentError> {
    let mut resolve = Resolve::default();
    let package = resolve.push_str("flow.wit", WIT)?;
    let world = resolve.select_world(&[package], Some("flow-component"))?;
    wit_component::embed_component_metadata(&mut core, &resolve, world, StringEncoding::UTF8)?;
    ComponentEncoder::default()
        .module(&core)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .validate(true)
        .encode()
        .map_err(Into::into)
}

/// Builds the Go flow module in `dir`, unless the same sources were built
/// before; returns the component's path.
pub fn build(dir: &Path, cache: &Path, force: bool) -> Result<PathBuf, BuildError> {
    let dir = std::fs::canonicalize(dir).map_err(io("resolve", dir))?;
    let key = build_key(&dir)?;
    let builds = cache.join("go/builds");
    let out = builds.join(format!("{key}.wasm"));
    if out.exists() && !force {
        return Ok(out);
    }
    std::fs::create_dir_all(&builds).map_err(io("create", &builds))?;
    let core_path = builds.join(format!("{key}.{}.core.wasm", std::process::id()));
    let go = std::env::var_os("GO").unwrap_or_else(|| "go".into());
    eprintln!("mfw: building {} with go (wasip1)", dir.display());
    let mut child = Command::new(&go)
        // The wit runtime package links to runtime internals (sbrk), which
        // the linker refuses unless told not to check.
        .args([
            "build",
            "-buildmode=c-shared",
            "-trimpath",
            "-ldflags=-checklinkname=0",
            "-o",
        ])
        .arg(&core_path)
        .arg(".")
        .current_dir(&dir)
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Launch {
            tool: go.to_string_lossy().into_owned(),
            hint: format!("to build {} (is Go 1.24+ installed?)", dir.display()),
            source,
        })?;
    if let Some(stderr) = child.stderr.take() {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("{line}");
        }
    }
    let status = child.wait().map_err(io("wait for go building", &dir))?;
    if !status.success() {
        let _ = std::fs::remove_file(&core_path);
        return Err(BuildError::Code {
            language: Language::Go,
            message: format!(
                "cannot build {}: go build failed (its messages are above)",
                dir.display()
            ),
        });
    }
    let core = std::fs::read(&core_path).map_err(io("read", &core_path))?;
    let _ = std::fs::remove_file(&core_path);
    let component = componentize(core).map_err(|source| BuildError::Component {
        dir: dir.clone(),
        source,
    })?;
    let staging = builds.join(format!("{key}.{}.wasm", std::process::id()));
    std::fs::write(&staging, component).map_err(io("write", &staging))?;
    std::fs::rename(&staging, &out).map_err(io("store the component in", &out))?;
    Ok(out)
}
