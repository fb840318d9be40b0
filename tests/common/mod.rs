//! Shared helpers for the integration tests: run the `mfw` binary in a
//! scratch directory (its own datastore), and build the test guests once.

#![allow(dead_code)]

pub mod minio;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// An example's Rust flow directory.
pub fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name).join("rust")
}

/// Compiled components and build records are shared between tests (so a
/// component compiles once), but kept out of the user's ~/.cache: beside
/// cargo's output, which CI keeps between runs (`CARGO_TARGET_DIR`), so a
/// flow whose sources, path and SDK did not change is not built again.
pub fn cache_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => repo().join(dir),
        _ => repo().join("target"),
    };
    target.join("mfw-test-cache")
}

/// Native wheels take minutes to build and are content-addressed, so the
/// tests share the user's wheel cache (`MFW_WHEEL_CACHE`, else
/// `~/.cache/mfw/wheels`), which CI fills once per machine.
pub fn wheel_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("MFW_WHEEL_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    Path::new(&home).join(".cache/mfw/wheels")
}

/// A scratch directory with its own `.mfw` datastore.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

/// What a finished `mfw` command said.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// What `output` of an mfw command said.
    pub fn of(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with everything mfw printed unless it exited with 0.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "mfw failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless mfw failed.
    pub fn failed(self) -> Self {
        assert_ne!(
            self.code, 0,
            "mfw succeeded but should not have\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The run id from "mfw: Flow run <id> started".
    pub fn run_id(&self) -> String {
        self.stderr
            .lines()
            .find_map(|l| {
                l.strip_prefix("mfw: ")
                    .and_then(|l| l.split(" run ").nth(1))
                    .and_then(|r| r.strip_suffix(" started"))
            })
            .unwrap_or_else(|| panic!("no run id in:\n{}", self.stderr))
            .to_string()
    }
}

impl Scratch {
    /// The id of `flow`'s newest run in this scratch directory's store, as
    /// `mfw runs` lists it (oldest first).
    pub fn latest_run(&self, flow: &str) -> String {
        let runs = self.mfw(["runs", flow]).ok();
        runs.stdout
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().nth(1))
            .expect("a run")
            .to_string()
    }

    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `mfw args...` here.
    pub fn mfw<I, S>(&self, args: I) -> Ran
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let output = Command::new(env!("CARGO_BIN_EXE_mfw"))
            .args(args)
            .current_dir(self.path())
            .env("MFW_CACHE_DIR", cache_dir())
            .env("MFW_WHEEL_CACHE", wheel_cache())
            // The test components' grants are accepted, as a user who
            // wrote them would (tests/sandbox.rs checks consent itself).
            .env("MFW_ALLOW_GRANTS", "true")
            .env_remove("MFW_DATASTORE")
            .output()
            .expect("mfw runs");
        Ran::of(output)
    }

    /// Runs `mfw args...` here with extra environment variables.
    pub fn mfw_env<I, S>(&self, args: I, env: &[(&str, String)]) -> Ran
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mfw"));
        command
            .args(args)
            .current_dir(self.path())
            .env("MFW_CACHE_DIR", cache_dir())
            .env("MFW_WHEEL_CACHE", wheel_cache())
            // The test components' grants are accepted, as a user who
            // wrote them would (tests/sandbox.rs checks consent itself).
            .env("MFW_ALLOW_GRANTS", "true")
            .env_remove("MFW_DATASTORE");
        for (key, value) in env {
            command.env(key, value);
        }
        Ran::of(command.output().expect("mfw runs"))
    }

    /// `mfw dump --json <pathspec>`, parsed.
    pub fn dump(&self, pathspec: &str) -> serde_json::Value {
        let ran = self.mfw(["dump", "--json", pathspec]).ok();
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout))
    }

    /// `mfw card get <task> [--id id] -o -`: the card's page.
    pub fn card(&self, task: &str, id: Option<&str>) -> String {
        let mut args = vec!["card", "get", task, "-o", "-"];
        if let Some(id) = id {
            args.extend(["--id", id]);
        }
        self.mfw(args).ok().stdout
    }

    /// A task record as the local datastore holds it: the task's own file,
    /// or its entry in a pack of its step (where a run keeps the tasks it
    /// took from the cache or cloned on resume).
    pub fn task_record(&self, flow: &str, run: &str, step: &str, task: &str) -> serde_json::Value {
        let dir = self.step_dir(flow, run, step);
        step_records(&dir)
            .into_iter()
            .find(|r| r["task_id"] == task)
            .unwrap_or_else(|| {
                panic!(
                    "no record of {flow}/{run}/{step}/{task} in {}",
                    dir.display()
                )
            })
    }

    /// The ids of the tasks of `step` recorded in the local datastore's run
    /// (none for a step the run never reached), in numeric order (`0_2`
    /// before `0_10`).
    pub fn task_ids(&self, flow: &str, run: &str, step: &str) -> Vec<String> {
        let mut ids: Vec<String> = step_records(&self.step_dir(flow, run, step))
            .iter()
            .filter_map(|r| r["task_id"].as_str().map(str::to_string))
            .collect();
        ids.sort_by_key(|id| {
            id.split(['.', '_'])
                .map(|n| n.parse::<u64>().unwrap_or(u64::MAX))
                .collect::<Vec<_>>()
        });
        ids
    }

    /// Where the local datastore keeps the task records of a run's step.
    fn step_dir(&self, flow: &str, run: &str, step: &str) -> PathBuf {
        self.path()
            .join(".mfw/flows")
            .join(flow)
            .join("runs")
            .join(run)
            .join("tasks")
            .join(step)
    }

    /// Every file in the datastore under `sub`.
    pub fn files(&self, sub: &str) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.path().join(".mfw").join(sub), &mut out);
        out
    }
}

/// The test guests (tests/guests), built once per test binary.
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let manifest = repo().join("tests/guests/Cargo.toml");
        // Its own target directory, whatever CARGO_TARGET_DIR says, so the
        // components are where this looks.
        let target = repo().join("tests/guests/target");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the test guests failed");
        target.join("wasm32-wasip2/release")
    });
    dir.join(format!("{name}.wasm"))
}

/// An example's Python flow directory.
pub fn python_example(name: &str) -> PathBuf {
    repo().join("examples").join(name).join("python")
}

impl Scratch {
    /// Runs `python3 -c <code>` with the SDK importable and this scratch
    /// directory's datastore, for the client API; returns its stdout.
    pub fn client(&self, code: &str) -> String {
        let output = Command::new("python3")
            .arg("-c")
            .arg(code)
            .current_dir(self.path())
            .env("PYTHONPATH", repo().join("guest-sdks/python/src"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("MFW_DATASTORE", self.path().join(".mfw"))
            .output()
            .expect("python3 runs");
        let ran = Ran::of(output);
        assert_eq!(
            ran.code, 0,
            "client failed:\n{}\n{}",
            ran.stdout, ran.stderr
        );
        ran.stdout.trim_end().to_string()
    }

    /// Writes `content` to `name` in this scratch directory.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("a directory");
        }
        std::fs::write(&path, content).expect("a written file");
        path
    }
}

/// The task records in one step's folder of a local datastore: each task's
/// own file (`<id>.json`), then what the step's packs (`*.pack`) hold that
/// no file does. Files that do not parse are left out.
pub fn step_records(dir: &Path) -> Vec<serde_json::Value> {
    let read = |path: &Path| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let has = |path: &PathBuf, ext: &str| path.extension().is_some_and(|e| e == ext);
    let mut records: Vec<serde_json::Value> = files
        .iter()
        .filter(|p| has(p, "json"))
        .filter_map(|p| read(p))
        .collect();
    for pack in files
        .iter()
        .filter(|p| has(p, "pack"))
        .filter_map(|p| read(p))
    {
        for task in pack["tasks"].as_array().into_iter().flatten() {
            if !records.iter().any(|r| r["task_id"] == task["task_id"]) {
                records.push(task.clone());
            }
        }
    }
    records
}
