//! A minimal node agent for test clusters without a container runtime: it
//! registers a Node, keeps its lease and Ready condition fresh, and runs
//! each pod bound to it as a local process (its first container's command),
//! reporting the pod's phase and exit code back. Real Jobs create real pods
//! that really run mfw workers; only the container is missing.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Container, Node, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::Mutex;

use crate::KubeError;

/// How the agent runs pods.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Node's name.
    pub node: String,
    /// What `mfw` in a pod's command means on this machine.
    pub mfw_binary: PathBuf,
    /// Where each pod gets a working directory and its output files.
    pub work_dir: PathBuf,
}

struct Running {
    pid: Option<u32>,
    kill: tokio::sync::oneshot::Sender<()>,
}

fn now() -> Time {
    Time(Timestamp::now())
}

async fn register(client: &Client, config: &AgentConfig) -> Result<(), KubeError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {
            "name": config.node,
            "labels": {
                "kubernetes.io/hostname": config.node,
                "kubernetes.io/os": "linux",
                "mfw.dev/agent": "true",
            },
        },
    }))
    .map_err(|source| KubeError::Describe {
        what: format!("node {}", config.node),
        source,
    })?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(KubeError::from_kube(e, "register the node")),
    }
    heartbeat(client, config).await
}

/// Marks the node Ready and renews its lease, as a kubelet does.
async fn heartbeat(client: &Client, config: &AgentConfig) -> Result<(), KubeError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let at = now();
    let status = json!({
        "status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "250"},
            "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "250"},
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "MfwAgentReady",
                "message": "mfw node agent is running",
                "lastHeartbeatTime": at,
                "lastTransitionTime": at,
            }],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "nodeInfo": {
                "architecture": "amd64", "operatingSystem": "linux",
                "kubeletVersion": "v1.36.3-mfw", "kubeProxyVersion": "",
                "containerRuntimeVersion": "mfw://process", "kernelVersion": "",
                "osImage": "mfw node agent", "machineID": "", "systemUUID": "", "bootID": "",
            },
        }
    });
    nodes
        .patch_status(
            &config.node,
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .map_err(|e| KubeError::from_kube(e, "update the node status"))?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": config.node},
        "spec": {
            "holderIdentity": config.node,
            "leaseDurationSeconds": 40,
            "renewTime": MicroTime(Timestamp::now()),
        },
    }))
    .map_err(|source| KubeError::Describe {
        what: format!("lease {}", config.node),
        source,
    })?;
    leases
        .patch(
            &config.node,
            &PatchParams::apply("mfw-node").force(),
            &Patch::Apply(&lease),
        )
        .await
        .map_err(|e| KubeError::from_kube(e, "renew the node lease"))?;
    Ok(())
}

/// A pod's environment, with field and secret references resolved.
async fn environment(
    client: &Client,
    pod: &Pod,
    container: &Container,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret_value = |secret: &Secret, key: &str| -> Option<String> {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    for from in container.env_from.iter().flatten() {
        if let Some(name) = from.secret_ref.as_ref().map(|r| r.name.clone())
            && let Ok(secret) = secrets.get(&name).await
        {
            for key in secret.data.iter().flat_map(|d| d.keys()) {
                if let Some(v) = secret_value(&secret, key) {
                    env.insert(
                        format!("{}{key}", from.prefix.clone().unwrap_or_default()),
                        v,
                    );
                }
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            Some(value.clone())
        } else if let Some(from) = &var.value_from {
            if let Some(field) = &from.field_ref {
                let meta = &pod.metadata;
                let path = field.field_path.as_str();
                let lookup = |map: &Option<BTreeMap<String, String>>, prefix: &str| {
                    path.strip_prefix(prefix)
                        .and_then(|rest| rest.strip_suffix("']"))
                        .and_then(|key| map.as_ref()?.get(key).cloned())
                };
                match path {
                    "metadata.name" => meta.name.clone(),
                    "metadata.namespace" => meta.namespace.clone(),
                    "metadata.uid" => meta.uid.clone(),
                    "spec.nodeName" => pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                    _ => lookup(&meta.annotations, "metadata.annotations['")
                        .or_else(|| lookup(&meta.labels, "metadata.labels['")),
                }
            } else if let Some(secret_ref) = &from.secret_key_ref {
                match secrets.get(&secret_ref.name).await {
                    Ok(secret) => secret_value(&secret, &secret_ref.key),
                    Err(_) => None,
                }
            } else {
                None
            }
        } else {
            None
        };
        if let Some(value) = value {
            env.insert(var.name.clone(), value);
        }
    }
    env
}

async fn patch_pod(client: &Client, pod: &Pod, status: serde_json::Value) {
    let pods: Api<Pod> = Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    );
    let name = pod.metadata.name.clone().unwrap_or_default();
    let _ = pods
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await;
}

/// Runs one pod's first container as a process, reporting its life.
async fn run_pod(
    client: Client,
    config: Arc<AgentConfig>,
    pod: Pod,
    kill: tokio::sync::oneshot::Receiver<()>,
    pids: Arc<Mutex<HashMap<String, Running>>>,
) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let Some(container) = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .cloned()
    else {
        return;
    };
    let mut argv: Vec<String> = container.command.clone().unwrap_or_default();
    argv.extend(container.args.clone().unwrap_or_default());
    let started = now();
    let container_status = |state: serde_json::Value, ready: bool| {
        json!([{
            "name": container.name,
            "image": container.image.clone().unwrap_or_default(),
            "imageID": "",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
        }])
    };
    if argv.is_empty() {
        patch_pod(
            &client,
            &pod,
            json!({"phase": "Failed", "message": "the container has no command"}),
        )
        .await;
        return;
    }
    let program = if argv[0] == "mfw" {
        config.mfw_binary.clone()
    } else {
        PathBuf::from(&argv[0])
    };
    let dir = config.work_dir.join(&uid);
    let _ = std::fs::create_dir_all(&dir);
    let out = std::fs::File::create(dir.join("stdout")).ok();
    let err = std::fs::File::create(dir.join("stderr")).ok();
    let env = environment(&client, &pod, &container).await;
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&argv[1..])
        .current_dir(&dir)
        .envs(&env)
        .kill_on_drop(true);
    if let Some(out) = out {
        command.stdout(out);
    }
    if let Some(err) = err {
        command.stderr(err);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            patch_pod(
                &client,
                &pod,
                json!({
                    "phase": "Failed",
                    "message": format!("cannot start {}: {e}", program.display()),
                }),
            )
            .await;
            return;
        }
    };
    if let Ok(mut running) = pids.try_lock()
        && let Some(entry) = running.get_mut(&uid)
    {
        entry.pid = child.id();
    }
    if let Some(pid) = child.id() {
        let _ = std::fs::write(dir.join("pid"), pid.to_string());
    }
    patch_pod(
        &client,
        &pod,
        json!({
            "phase": "Running",
            "startTime": started,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": container_status(json!({"running": {"startedAt": started}}), true),
        }),
    )
    .await;
    let code = tokio::select! {
        status = child.wait() => status.ok().map(|s| {
            s.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(9))
        }).unwrap_or(1),
        _ = kill => {
            let _ = child.kill().await;
            137
        }
    };
    let finished = now();
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    patch_pod(
        &client,
        &pod,
        json!({
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": finished}],
            "containerStatuses": container_status(json!({"terminated": {
                "exitCode": code,
                "reason": if code == 0 { "Completed" } else { "Error" },
                "startedAt": started,
                "finishedAt": finished,
            }}), false),
        }),
    )
    .await;
    pids.lock().await.remove(&uid);
}

/// Runs the agent until `shutdown` resolves.
pub async fn run_agent(client: Client, config: AgentConfig) -> Result<(), KubeError> {
    register(&client, &config).await?;
    let config = Arc::new(config);
    let heartbeats = {
        let client = client.clone();
        let config = config.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let _ = heartbeat(&client, &config).await;
            }
        })
    };
    let pods: Api<Pod> = Api::all(client.clone());
    let selector = format!("spec.nodeName={}", config.node);
    let running: Arc<Mutex<HashMap<String, Running>>> = Arc::default();
    let mut events = watcher(pods, watcher::Config::default().fields(&selector)).boxed();
    while let Some(event) = events.next().await {
        let pods = match event {
            Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod)) => vec![pod],
            Ok(watcher::Event::Delete(pod)) => {
                if let Some(entry) = running
                    .lock()
                    .await
                    .remove(&pod.metadata.uid.clone().unwrap_or_default())
                {
                    let _ = entry.kill.send(());
                }
                continue;
            }
            Ok(_) => continue,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        for pod in pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let namespace = pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let name = pod.metadata.name.clone().unwrap_or_default();
            if pod.metadata.deletion_timestamp.is_some() {
                // The kubelet's part of deletion: stop it, then let it go.
                if let Some(entry) = running.lock().await.remove(&uid) {
                    let _ = entry.kill.send(());
                }
                let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
                continue;
            }
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            if !(phase.is_empty() || phase == "Pending") {
                continue;
            }
            let mut tracked = running.lock().await;
            if tracked.contains_key(&uid) {
                continue;
            }
            let (kill, killed) = tokio::sync::oneshot::channel();
            tracked.insert(uid.clone(), Running { pid: None, kill });
            drop(tracked);
            tokio::spawn(run_pod(
                client.clone(),
                config.clone(),
                pod,
                killed,
                running.clone(),
            ));
        }
    }
    heartbeats.abort();
    Ok(())
}
