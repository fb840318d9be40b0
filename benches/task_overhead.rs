//! Per-task overhead inside the host: a fresh instance of a precompiled
//! component, one small artifact get and one set, then teardown. This is
//! what every task of a huge foreach pays on top of its own work.
//!
//! Run with `cargo bench -p mfw-host --bench task_overhead`. The Rust hello
//! example is built first if needed; the Python and Go ones are built with
//! the release `mfw` binary, so build that first (`cargo build --release -p
//! mfw-cli`) or those cases are skipped.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use mfw_graph::BlobHash;
use mfw_host::{BlobSource, Host, HostConfig, TaskSpec};

struct InMemory(HashMap<BlobHash, Bytes>);

impl BlobSource for InMemory {
    fn load(&self, hash: &BlobHash) -> Result<Bytes, mfw_host::BlobError> {
        self.0
            .get(hash)
            .cloned()
            .ok_or_else(|| mfw_host::BlobError::new(format!("no blob {hash}")))
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hello_component() -> Vec<u8> {
    let examples = repo().join("examples");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "hello-flow",
            // Where the component is read from below, whatever
            // CARGO_TARGET_DIR says.
            "--target-dir",
            "target",
        ])
        .current_dir(&examples)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building examples/hello/rust failed");
    std::fs::read(examples.join("target/wasm32-wasip2/release/hello_flow.wasm"))
        .expect("the hello component was built")
}

/// A hello example built by the release binary, if there is one.
fn built_by_mfw(language: &str, source: &str) -> Option<Vec<u8>> {
    let mfw = repo().join("target/release/mfw");
    if !mfw.exists() {
        eprintln!("skipping the {language} case: build target/release/mfw first");
        return None;
    }
    let out = repo().join(format!("target/bench-hello-{language}.wasm"));
    let status = Command::new(&mfw)
        .arg("build")
        .arg(repo().join(source))
        .arg("-o")
        .arg(&out)
        .status()
        .ok()?;
    status.success().then(|| std::fs::read(&out).ok()).flatten()
}

fn task_overhead(c: &mut Criterion) {
    let host = Host::new(HostConfig {
        cache_dir: Some(repo().join("target/bench-cache")),
        max_concurrent_tasks: 1,
        ..HostConfig::default()
    })
    .expect("the engine starts");
    bench_component(c, &host, "rust", &hello_component());
    if let Some(python) = built_by_mfw("python", "examples/hello/python/hello.py") {
        bench_component(c, &host, "python", &python);
    }
    if let Some(go) = built_by_mfw("go", "examples/hello/go") {
        bench_component(c, &host, "go", &go);
    }
}

fn bench_component(c: &mut Criterion, host: &Host, language: &str, bytes: &[u8]) {
    let flow = host
        .load(bytes, &format!("hello ({language})"))
        .expect("the hello component loads");
    let x = Bytes::from(mfw_encoding::to_vec(&1i64).expect("1 encodes"));
    let x_hash = BlobHash::of(&x);
    let blobs: Arc<dyn BlobSource> = Arc::new(InMemory(HashMap::from([(x_hash, x)])));
    let mut spec = TaskSpec::new("HelloFlow", "bench", "end", "0");
    spec.artifacts = BTreeMap::from([("x".to_string(), x_hash)]).into();
    // The `end` step: get x, set x + 1, print one line.
    let outcome = flow.run_task(spec.clone(), blobs.clone(), None);
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    c.bench_function(
        &format!("{language} task: fresh instance, get + set"),
        |b| b.iter(|| flow.run_task(spec.clone(), blobs.clone(), None)),
    );
}

criterion_group!(benches, task_overhead);
criterion_main!(benches);
