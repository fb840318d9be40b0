//! A real Kubernetes control plane for the tests (etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler, built by `scripts/k8s-build`
//! and started by `scripts/k8s-cluster`), the `mfw-node` agent that runs
//! pods as local processes, and MinIO as the datastore the pods share.

// Each test binary that includes it uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;

use crate::common::minio::Minio;
use crate::common::{Ran, Scratch, cache_dir, repo};

/// The bucket runs go to, and the Secret that lets pods reach it.
pub const STORE: &str = "s3://runs/team";
pub const SECRET: &str = "mfw-datastore";
/// Pods record the image by what they were given: pinned by digest.
pub const IMAGE: &str = "registry.example/mfw-worker@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// One cluster at a time: each is a few processes on a 2-core machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running cluster with one node and a MinIO; all stopped when dropped.
pub struct Cluster {
    pub minio: Minio,
    dir: tempfile::TempDir,
    agent: Option<Child>,
    /// Where the test's own API calls run (a client lives in one runtime).
    runtime: tokio::runtime::Runtime,
    _turn: MutexGuard<'static, ()>,
}

/// Whether the control plane's binaries are built; in CI
/// (`MFW_REQUIRE_K8S=1`) they must be.
fn built() -> bool {
    let ok = Command::new(repo().join("scripts/k8s-build"))
        .arg("--cached")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = "the Kubernetes control plane is not built: run `scripts/k8s-build` (once, \
                   ~20 minutes) to run the Kubernetes tests";
        assert!(std::env::var_os("MFW_REQUIRE_K8S").is_none(), "{why}");
        eprintln!("skipping: {why}");
    }
    ok
}

/// The node agent binary, beside `mfw` (`cargo test --workspace` builds
/// it for mfw-kubernetes's own tests), else built now.
fn agent_binary() -> PathBuf {
    let mfw = PathBuf::from(env!("CARGO_BIN_EXE_mfw"));
    let agent = mfw.with_file_name("mfw-node");
    if agent.exists() {
        return agent;
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "-p", "mfw-kubernetes", "--bin", "mfw-node"])
        .current_dir(repo())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building mfw-node failed");
    assert!(agent.exists(), "no {}", agent.display());
    agent
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

impl Cluster {
    /// Starts everything, or returns `None` (saying why) when the control
    /// plane or MinIO is not built here.
    pub fn start() -> Option<Cluster> {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        if !built() {
            return None;
        }
        let minio = Minio::start()?;
        minio.create_bucket("runs");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut cluster = Cluster {
            minio,
            dir,
            agent: None,
            runtime: runtime(),
            _turn: turn,
        };
        let start = || {
            Command::new(repo().join("scripts/k8s-cluster"))
                .arg("start")
                .arg(cluster.dir.path().join("k8s"))
                .stdout(Stdio::piped())
                .output()
                .expect("scripts/k8s-cluster runs")
        };
        let mut started = start();
        if !started.status.success() {
            // Rarely (twice in many CI runs) kube-scheduler has exited
            // within a second of its start with an empty log; the script
            // stops what it started, and a second start has always worked.
            // Said loudly, so it is not forgotten.
            eprintln!(
                "the control plane did not start; trying once more:\n{}",
                String::from_utf8_lossy(&started.stderr)
            );
            started = start();
        }
        assert!(
            started.status.success(),
            "the control plane did not start:\n{}",
            String::from_utf8_lossy(&started.stderr)
        );
        std::fs::create_dir_all(cluster.pods()).expect("a pods directory");
        let agent = Command::new(agent_binary())
            .args(["--name", "node-1", "--work-dir"])
            .arg(cluster.pods())
            .arg("--mfw")
            .arg(env!("CARGO_BIN_EXE_mfw"))
            // What the pods inherit besides their own env: the API server
            // (for a scheduled flow's @kubernetes steps) and a warm cache.
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("MFW_CACHE_DIR", cache_dir())
            .env("MFW_CONFIG", cluster.dir.path().join("no-config.toml"))
            .env_remove("MFW_DATASTORE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(cluster.dir.path().join("agent.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("mfw-node starts");
        cluster.agent = Some(agent);
        // Datastore credentials reach pods only through this Secret.
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": SECRET},
            "stringData": cluster.minio.env().into_iter()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .collect::<std::collections::BTreeMap<_, _>>(),
        }))
        .expect("a secret");
        let client = cluster.client();
        cluster.block_on(async {
            let secrets: Api<Secret> = Api::namespaced(client, "default");
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .expect("the datastore secret is created");
        });
        Some(cluster)
    }

    /// The admin's kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("k8s/admin.kubeconfig")
    }

    /// A kubeconfig whose user has no Role at all.
    pub fn noperm_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("k8s/noperm.kubeconfig")
    }

    /// Where the agent runs each pod (a directory per pod uid).
    pub fn pods(&self) -> PathBuf {
        self.dir.path().join("pods")
    }

    /// Runs `future` (API calls with [`Cluster::client`]) to its end.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// An admin client, for [`Cluster::block_on`].
    pub fn client(&self) -> kube::Client {
        let path = self.kubeconfig();
        self.block_on(async move {
            let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("a kubeconfig");
            let config = kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .expect("a client config");
            kube::Client::try_from(config).expect("a client")
        })
    }

    /// The environment `mfw` runs with here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.minio.env();
        env.push(("KUBECONFIG", self.kubeconfig().display().to_string()));
        env.push((
            "MFW_CONFIG",
            self.dir.path().join("no-config.toml").display().to_string(),
        ));
        env
    }

    /// `mfw --datastore s3://runs/team args...` from `scratch`.
    pub fn mfw(&self, scratch: &Scratch, args: &[&str]) -> Ran {
        let mut all = vec!["--datastore", STORE];
        all.extend_from_slice(args);
        scratch.mfw_env(all, &self.env())
    }

    /// The same, started in the background with its output in files.
    pub fn spawn_mfw(&self, scratch: &Scratch, args: &[&str]) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mfw"));
        command
            .args(["--datastore", STORE])
            .args(args)
            .current_dir(scratch.path())
            .env("MFW_CACHE_DIR", cache_dir())
            .env("MFW_ALLOW_GRANTS", "true")
            .env_remove("MFW_DATASTORE")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(scratch.path().join("mfw.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            );
        for (key, value) in self.env() {
            command.env(key, value);
        }
        command.spawn().expect("mfw starts")
    }

    /// The pods the agent has run whose command line contains `needle`,
    /// as (directory, pid).
    pub fn pods_running(&self, needle: &str) -> Vec<(PathBuf, u32)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.pods())
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = entry.path();
            let Some(pid) = std::fs::read_to_string(dir.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(needle) {
                found.push((dir, pid));
            }
        }
        found
    }

    /// Waits (up to two minutes) for running pods whose command line
    /// contains `needle`, and returns them.
    pub fn wait_for_pods(&self, needle: &str) -> Vec<(PathBuf, u32)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let found = self.pods_running(needle);
            if !found.is_empty() {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no pod running `{needle}` started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Every pod directory whose stderr contains `needle`.
    pub fn pods_that_said(&self, needle: &str) -> Vec<PathBuf> {
        std::fs::read_dir(self.pods())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|dir| {
                std::fs::read_to_string(dir.join("stderr")).is_ok_and(|s| s.contains(needle))
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        let _ = Command::new(repo().join("scripts/k8s-cluster"))
            .arg("stop")
            .arg(self.dir.path().join("k8s"))
            .stderr(Stdio::null())
            .status();
        // Pods the agent started and did not see end.
        for dir in std::fs::read_dir(self.pods())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(pid) = std::fs::read_to_string(dir.path().join("pid")) {
                let _ = Command::new("kill")
                    .args(["-9", pid.trim()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Reads a pod's stderr.
pub fn stderr_of(pod: &Path) -> String {
    std::fs::read_to_string(pod.join("stderr")).unwrap_or_default()
}
