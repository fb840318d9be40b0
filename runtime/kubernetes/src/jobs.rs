//! Steps as Jobs: one Job per task, or one Indexed Job for a foreach whose
//! pods each run a shard of its tasks in one warm process.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use serde_json::json;

use crate::{Cluster, Error, KubeError};

/// What a Job runs and how.
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    /// The Job's name.
    pub name: String,
    /// The worker image (by digest, ideally).
    pub image: String,
    /// The container command, such as `["mfw", "worker", ...]`.
    pub command: Vec<String>,
    /// Plain environment variables.
    pub env: Vec<(String, String)>,
    /// Secrets whose keys become environment variables (datastore
    /// credentials).
    pub secrets: Vec<String>,
    /// Pods (shards); the Job is Indexed when more than one.
    pub completions: u32,
    /// How many pods run at once.
    pub parallelism: u32,
    /// Retries per index (mfw attempts map onto them).
    pub retries: u32,
    /// A container exit code that fails its index at once, without the
    /// retries (a task that failed for good).
    pub fail_index_exit_code: Option<i32>,
    /// CPU request and limit, such as `"2"`.
    pub cpu: Option<String>,
    /// Memory request and limit, such as `"4096Mi"`.
    pub memory: Option<String>,
    /// Node selector.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations, as Kubernetes JSON.
    pub tolerations: Vec<serde_json::Value>,
    /// The pods' service account.
    pub service_account: Option<String>,
    /// Labels on the Job and its pods.
    pub labels: BTreeMap<String, String>,
    /// Annotations on the Job and its pods.
    pub annotations: BTreeMap<String, String>,
    /// When the node pulls the image: `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: Option<String>,
    /// Secrets holding registry credentials for the image.
    pub image_pull_secrets: Vec<String>,
}

impl JobSpec {
    /// The Job object. Indexed even for one pod, so retries are counted per
    /// index (`backoffLimitPerIndex`).
    pub fn to_job(&self) -> Result<Job, KubeError> {
        let mut env: Vec<serde_json::Value> = self
            .env
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        env.push(json!({
            "name": "MFW_WORKER_IMAGE",
            "value": self.image,
        }));
        let mut resources = serde_json::Map::new();
        if let Some(cpu) = &self.cpu {
            resources.insert("cpu".into(), json!(cpu));
        }
        if let Some(memory) = &self.memory {
            resources.insert("memory".into(), json!(memory));
        }
        let mut container = json!({
            "name": "worker",
            "image": self.image,
            "command": self.command,
            "env": env,
            "resources": {"requests": resources, "limits": resources},
        });
        if let Some(policy) = &self.image_pull_policy {
            container["imagePullPolicy"] = json!(policy);
        }
        if !self.secrets.is_empty() {
            let from: Vec<serde_json::Value> = self
                .secrets
                .iter()
                .map(|name| json!({"secretRef": {"name": name}}))
                .collect();
            container["envFrom"] = json!(from);
        }
        let mut pod_spec = json!({
            "restartPolicy": "Never",
            "containers": [container],
            "nodeSelector": self.node_selector,
            "tolerations": self.tolerations,
        });
        if let Some(account) = &self.service_account {
            pod_spec["serviceAccountName"] = json!(account);
        }
        if !self.image_pull_secrets.is_empty() {
            let names: Vec<serde_json::Value> = self
                .image_pull_secrets
                .iter()
                .map(|name| json!({"name": name}))
                .collect();
            pod_spec["imagePullSecrets"] = json!(names);
        }
        let metadata = json!({"labels": self.labels, "annotations": self.annotations});
        let mut job = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": self.name, "labels": self.labels, "annotations": self.annotations},
            "spec": {
                "completionMode": "Indexed",
                "completions": self.completions.max(1),
                "parallelism": self.parallelism.max(1),
                "backoffLimitPerIndex": self.retries,
                "maxFailedIndexes": 0,
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "metadata": metadata,
                    "spec": pod_spec,
                },
            },
        });
        if let Some(code) = self.fail_index_exit_code {
            job["spec"]["podFailurePolicy"] = json!({"rules": [{
                "action": "FailIndex",
                "onExitCodes": {"containerName": "worker", "operator": "In", "values": [code]},
            }]});
        }
        serde_json::from_value(job).map_err(|source| Error::Describe {
            what: format!("job {}", self.name),
            source,
        })
    }
}

/// Creates the Job.
pub async fn create(cluster: &Cluster, spec: &JobSpec) -> Result<(), KubeError> {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    jobs.create(&PostParams::default(), &spec.to_job()?)
        .await
        .map(|_| ())
        .map_err(|e| KubeError::from_kube(e, "create jobs").in_namespace(&cluster.namespace))
}

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// Whether every index succeeded.
    pub succeeded: bool,
    /// The Job's own explanation when it failed.
    pub message: String,
}

/// Waits until the Job completes or fails, calling `progress` with the
/// number of succeeded pods as it changes.
pub async fn wait(
    cluster: &Cluster,
    name: &str,
    mut progress: impl FnMut(i32),
) -> Result<JobOutcome, KubeError> {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut seen = -1;
    let mut polls = 0u32;
    loop {
        let job = jobs
            .get(name)
            .await
            .map_err(|e| KubeError::from_kube(e, "watch jobs").in_namespace(&cluster.namespace))?;
        let status = job.status.unwrap_or_default();
        let succeeded = status.succeeded.unwrap_or(0);
        if succeeded != seen {
            seen = succeeded;
            progress(succeeded);
        }
        for condition in status.conditions.iter().flatten() {
            if condition.status == "True"
                && (condition.type_ == "Complete" || condition.type_ == "Failed")
            {
                return Ok(JobOutcome {
                    succeeded: condition.type_ == "Complete",
                    message: condition.message.clone().unwrap_or_default(),
                });
            }
        }
        polls += 1;
        if polls.is_multiple_of(10)
            && let Some(stuck) = stuck_pod(cluster, name).await
        {
            return Ok(JobOutcome {
                succeeded: false,
                message: stuck,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Why a pod of the Job can never start, if one cannot (a wrong image or
/// a missing Secret leaves it waiting for ever, and the Job with it).
async fn stuck_pod(cluster: &Cluster, job: &str) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .ok()?;
    for pod in list.items {
        let statuses = pod
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default();
        for status in statuses {
            let Some(waiting) = status.state.and_then(|s| s.waiting) else {
                continue;
            };
            let reason = waiting.reason.unwrap_or_default();
            if matches!(
                reason.as_str(),
                "ErrImagePull"
                    | "ImagePullBackOff"
                    | "InvalidImageName"
                    | "CreateContainerConfigError"
                    | "CreateContainerError"
            ) {
                return Some(format!(
                    "pod {} cannot start: {reason}: {} (check the image and the Secrets it names)",
                    pod.metadata.name.unwrap_or_default(),
                    waiting.message.unwrap_or_default()
                ));
            }
        }
    }
    None
}

/// Deletes the Job and its pods.
pub async fn delete(cluster: &Cluster, name: &str) -> Result<(), KubeError> {
    let jobs: Api<Job> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match jobs.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(KubeError::from_kube(e, "delete jobs").in_namespace(&cluster.namespace)),
    }
}
