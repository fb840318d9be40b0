//! Runs a flow's steps in the cluster: each batch of a step's ready tasks
//! becomes one Indexed Job whose pods (`mfw worker`) each take a shard of
//! the tasks and run them in one process with a warm component cache.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use kube::Api;
use kube::api::PostParams;
use mfw_graph::Step;
use mfw_orchestrator::{Executor, LaunchError, ReadyTasks, RemoteBatch, TaskEnds};
use serde_json::json;

use crate::jobs::{self, JobSpec};
use crate::{Cluster, KubeError, object_name};

/// The exit code of a worker whose task failed with no retries left: the
/// Job's pod failure policy fails that index at once instead of retrying.
pub const EXIT_FAILED_FOR_GOOD: i32 = 3;

/// Labels on everything mfw creates, so `kubectl` can find a run's pods.
pub const RUN_LABEL: &str = "mfw.dev/run";
/// The step a Job runs.
pub const STEP_LABEL: &str = "mfw.dev/step";

/// Which steps run in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepSelection {
    /// Only steps decorated with `@kubernetes`.
    #[default]
    Decorated,
    /// Every step (`--with kubernetes`).
    All,
}

impl StepSelection {
    /// Whether `step` runs in the cluster.
    ///
    /// ```
    /// use mfw_graph::{Decorator, Step};
    /// use mfw_kubernetes::executor::StepSelection;
    /// let end = Step::end().with_decorator(Decorator::new("kubernetes"));
    /// assert!(StepSelection::Decorated.includes(&end));
    /// assert!(!StepSelection::Decorated.includes(&Step::linear("start", ["end"])));
    /// ```
    pub fn includes(self, step: &Step) -> bool {
        match self {
            StepSelection::All => true,
            StepSelection::Decorated => step.decorator("kubernetes").is_some(),
        }
    }
}

/// Where progress lines about Jobs go.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// How a run uses the cluster.
#[derive(Clone)]
pub struct KubernetesOptions {
    /// Where Jobs go unless a step's `@kubernetes(namespace=...)` says
    /// otherwise (default: the context's namespace).
    pub namespace: Option<String>,
    /// The worker image, ideally pinned by digest (`name@sha256:...`).
    pub image: String,
    /// The datastore URL the pods use (the run's own, reachable from the
    /// cluster).
    pub datastore: String,
    /// Secrets whose keys become the pods' environment (datastore
    /// credentials), added to each step's `@kubernetes(secrets=...)`.
    pub secrets: Vec<String>,
    /// The most pods one batch uses; a foreach of N tasks uses
    /// `min(pods, N)`, each running a shard.
    pub pods: u32,
    /// The most of a batch's pods that run at once (default: all of them).
    pub parallelism: Option<u32>,
    /// Tasks one pod runs at once.
    pub threads: u32,
    /// Which steps run here.
    pub steps: StepSelection,
    /// Told about the Jobs as they progress, one line at a time.
    pub notify: Option<Notify>,
}

impl std::fmt::Debug for KubernetesOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesOptions")
            .field("namespace", &self.namespace)
            .field("image", &self.image)
            .field("datastore", &self.datastore)
            .field("pods", &self.pods)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

/// The orchestrator's [`Executor`] for Kubernetes.
///
/// ```no_run
/// # async fn f() -> Result<(), mfw_kubernetes::KubeError> {
/// use mfw_kubernetes::executor::{KubernetesExecutor, KubernetesOptions, StepSelection};
/// let executor = KubernetesExecutor::connect(KubernetesOptions {
///     namespace: None,
///     image: "registry.example.com/mfw-worker@sha256:0123...".into(),
///     datastore: "s3://team-bucket/mfw".into(),
///     secrets: vec!["mfw-datastore".into()],
///     pods: 4,
///     parallelism: None,
///     threads: 2,
///     steps: StepSelection::All,
///     notify: None,
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub struct KubernetesExecutor {
    cluster: Cluster,
    options: KubernetesOptions,
    created: Arc<Mutex<Vec<(String, String)>>>,
}

impl KubernetesExecutor {
    /// Connects to the current context and checks, before anything runs,
    /// that mfw may create, read and delete Jobs in the namespace.
    pub async fn connect(options: KubernetesOptions) -> Result<Self, KubeError> {
        let cluster = Cluster::connect(options.namespace.as_deref()).await?;
        check_access(&cluster, &cluster.namespace).await?;
        Ok(Self {
            cluster,
            options,
            created: Arc::default(),
        })
    }

    /// The namespace Jobs go to by default.
    pub fn namespace(&self) -> &str {
        &self.cluster.namespace
    }

    /// The Job that runs `batch`.
    pub fn job_spec(&self, batch: &RemoteBatch) -> Result<(String, JobSpec), KubeError> {
        job_spec(&self.options, &self.cluster.namespace, batch)
    }
}

/// Asks the API server whether this account may do what a run needs with
/// Jobs in `namespace`; a refusal names the missing verbs.
pub async fn check_access(cluster: &Cluster, namespace: &str) -> Result<(), KubeError> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(cluster.client.clone());
    let mut missing = Vec::new();
    for verb in ["create", "get", "delete"] {
        let review: SelfSubjectAccessReview = serde_json::from_value(json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {
                "namespace": namespace, "verb": verb, "group": "batch", "resource": "jobs",
            }},
        }))
        .map_err(|source| KubeError::Describe {
            what: "an access review".to_string(),
            source,
        })?;
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| {
                KubeError::from_kube(e, "check its permissions").in_namespace(namespace)
            })?;
        if !answer.status.is_some_and(|s| s.allowed) {
            missing.push(verb);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(KubeError::Forbidden {
        action: format!("{} jobs", missing.join("/")),
        namespace: namespace.to_string(),
        message: "the current account has no Role granting it".to_string(),
    })
}

/// A decorator option's JSON value.
fn option(step: &Step, decorator: &str, key: &str) -> Option<serde_json::Value> {
    let text = step.decorator(decorator)?.option(key)?;
    serde_json::from_str(text).ok()
}

fn string_option(step: &Step, key: &str) -> Result<Option<String>, KubeError> {
    match option(step, "kubernetes", key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(KubeError::Decorator(format!(
            "step `{}`: @kubernetes({key}={other}) must be a string",
            step.name
        ))),
    }
}

/// `@kubernetes(key=...)` as names: one name or a list of them.
fn names_option(step: &Step, key: &str) -> Result<Vec<String>, KubeError> {
    let invalid = |value: &serde_json::Value| {
        KubeError::Decorator(format!(
            "step `{}`: @kubernetes({key}={value}) must be a name or a list of names",
            step.name
        ))
    };
    match option(step, "kubernetes", key) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::String(one)) => Ok(vec![one]),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(item))
            })
            .collect(),
        Some(other) => Err(invalid(&other)),
    }
}

/// `@kubernetes(key={...})` as a map of names to strings (labels,
/// annotations).
fn map_option(step: &Step, key: &str) -> Result<BTreeMap<String, String>, KubeError> {
    match option(step, "kubernetes", key) {
        None | Some(serde_json::Value::Null) => Ok(BTreeMap::new()),
        Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
            KubeError::Decorator(format!(
                "step `{}`: @kubernetes({key}={value}) must map names to strings",
                step.name
            ))
        }),
    }
}

/// `@kubernetes(...)` first, then `@resources(...)`.
fn resource(step: &Step, key: &str) -> Option<f64> {
    ["kubernetes", "resources"]
        .iter()
        .find_map(|d| option(step, d, key).and_then(|v| v.as_f64()))
}

fn job_spec(
    options: &KubernetesOptions,
    namespace: &str,
    batch: &RemoteBatch,
) -> Result<(String, JobSpec), KubeError> {
    let step = &batch.step;
    let namespace = string_option(step, "namespace")?.unwrap_or_else(|| namespace.to_string());
    let image = string_option(step, "image")?.unwrap_or_else(|| options.image.clone());
    let node_selector: BTreeMap<String, String> = match option(step, "kubernetes", "node_selector")
    {
        None | Some(serde_json::Value::Null) => BTreeMap::new(),
        // Metaflow also takes "key=value,key2=value2".
        Some(serde_json::Value::String(pairs)) => pairs
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .ok_or_else(|| {
                        KubeError::Decorator(format!(
                            "step `{}`: node_selector `{p}` is not key=value",
                            step.name
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
            KubeError::Decorator(format!(
                "step `{}`: @kubernetes(node_selector={value}) must map labels to strings",
                step.name
            ))
        })?,
    };
    let tolerations = match option(step, "kubernetes", "tolerations") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(list)) => list,
        Some(other) => {
            return Err(KubeError::Decorator(format!(
                "step `{}`: @kubernetes(tolerations={other}) must be a list of tolerations",
                step.name
            )));
        }
    };
    let mut secrets = options.secrets.clone();
    secrets.extend(names_option(step, "secrets")?);
    let image_pull_policy = string_option(step, "image_pull_policy")?;
    if let Some(policy) = &image_pull_policy
        && !["Always", "IfNotPresent", "Never"].contains(&policy.as_str())
    {
        return Err(KubeError::Decorator(format!(
            "step `{}`: @kubernetes(image_pull_policy=\"{policy}\") must be Always, \
             IfNotPresent or Never",
            step.name
        )));
    }
    let tasks = u32::try_from(batch.tasks).unwrap_or(u32::MAX).max(1);
    let pods = options.pods.clamp(1, tasks);
    let per_pod = tasks.div_ceil(pods);
    let name = object_name(&[
        "mfw",
        &batch.flow,
        &batch.run_id,
        &step.name,
        &batch.number.to_string(),
    ]);
    // The step's labels, then mfw's own, which find the Job again: a
    // step's label of the same name does not replace them.
    let mut labels = map_option(step, "labels")?;
    labels.extend([
        (crate::cron::FLOW_LABEL.to_string(), label(&batch.flow)),
        (RUN_LABEL.to_string(), label(&batch.run_id)),
        (STEP_LABEL.to_string(), label(&step.name)),
    ]);
    let spec = JobSpec {
        name: name.clone(),
        image,
        command: vec![
            "mfw".into(),
            "--datastore".into(),
            options.datastore.clone(),
            "worker".into(),
            "--batch".into(),
            batch.key.clone(),
            "--shards".into(),
            pods.to_string(),
            "--threads".into(),
            options.threads.max(1).to_string(),
        ],
        env: Vec::new(),
        secrets,
        completions: pods,
        parallelism: options.parallelism.map_or(pods, |p| p.clamp(1, pods)),
        // Each failed pod costs one attempt of at least one of its tasks,
        // and a pod lost with its node costs none: room for both.
        retries: batch.retries.saturating_mul(per_pod).saturating_add(2),
        fail_index_exit_code: Some(EXIT_FAILED_FOR_GOOD),
        cpu: resource(step, "cpu").map(|c| format_quantity(c, "")),
        // Metaflow's memory is in MB.
        memory: resource(step, "memory").map(|m| format_quantity(m, "M")),
        node_selector,
        tolerations,
        service_account: string_option(step, "service_account")?,
        labels,
        annotations: map_option(step, "annotations")?,
        image_pull_policy,
        image_pull_secrets: names_option(step, "image_pull_secrets")?,
    };
    Ok((namespace, spec))
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`.
fn label(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn format_quantity(value: f64, unit: &str) -> String {
    if value.fract() == 0.0 {
        format!("{}{unit}", value as u64)
    } else {
        // Fractional CPUs as millicores.
        format!("{}m", (value * 1000.0).round() as u64)
    }
}

impl KubernetesExecutor {
    /// Runs `batch` as one Indexed Job and waits for it to end.
    fn run_job(&self, batch: RemoteBatch) -> BoxFuture<'static, Result<(), LaunchError>> {
        let prepared = job_spec(&self.options, &self.cluster.namespace, &batch);
        let base = self.cluster.clone();
        let created = self.created.clone();
        let notify = self.options.notify.clone();
        Box::pin(async move {
            let (namespace, spec) = prepared?;
            let cluster = Cluster {
                client: base.client.clone(),
                namespace,
            };
            let say = |line: String| {
                if let Some(notify) = &notify {
                    notify(&line);
                }
            };
            jobs::create(&cluster, &spec).await?;
            if let Ok(mut created) = created.lock() {
                created.push((cluster.namespace.clone(), spec.name.clone()));
            }
            say(format!(
                "job {}/{} runs {} {} task(s) on {} pod(s)",
                cluster.namespace, spec.name, batch.tasks, batch.step.name, spec.completions
            ));
            let pods = spec.completions;
            let outcome = jobs::wait(&cluster, &spec.name, |done| {
                if done > 0 {
                    say(format!("job {}: {done}/{pods} pods done", spec.name));
                }
            })
            .await?;
            if outcome.succeeded {
                Ok(())
            } else {
                Err(KubeError::JobFailed {
                    namespace: cluster.namespace.clone(),
                    name: spec.name.clone(),
                    message: outcome.message,
                }
                .into())
            }
        })
    }
}

impl Executor for KubernetesExecutor {
    fn runs(&self, step: &Step) -> bool {
        self.options.steps.includes(step)
    }

    fn run(&self, tasks: ReadyTasks) -> BoxFuture<'static, TaskEnds> {
        let launcher = Self {
            cluster: self.cluster.clone(),
            options: self.options.clone(),
            created: self.created.clone(),
        };
        Box::pin(tasks.run_elsewhere(move |batch| launcher.run_job(batch)))
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let created: Vec<(String, String)> = self
            .created
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        let client = self.cluster.client.clone();
        Box::pin(async move {
            for (namespace, name) in created {
                let cluster = Cluster {
                    client: client.clone(),
                    namespace,
                };
                let _ = jobs::delete(&cluster, &name).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfw_graph::Decorator;

    fn batch(step: Step, tasks: usize, retries: u32) -> RemoteBatch {
        RemoteBatch {
            key: "flows/F/runs/7/batches/train/0001.json".into(),
            flow: "TrainFlow".into(),
            run_id: "7".into(),
            step,
            tasks,
            retries,
            number: 1,
        }
    }

    fn options() -> KubernetesOptions {
        KubernetesOptions {
            namespace: None,
            image: "worker@sha256:00".into(),
            datastore: "s3://b/p".into(),
            secrets: vec!["mfw-datastore".into()],
            pods: 4,
            parallelism: None,
            threads: 2,
            steps: StepSelection::Decorated,
            notify: None,
        }
    }

    #[test]
    fn a_foreach_is_sharded_over_at_most_the_configured_pods() {
        let step = Step::linear("train", ["join"]);
        let (_, spec) = job_spec(&options(), "ns", &batch(step.clone(), 1000, 0)).unwrap();
        assert_eq!((spec.completions, spec.parallelism), (4, 4));
        let (_, spec) = job_spec(&options(), "ns", &batch(step.clone(), 3, 0)).unwrap();
        assert_eq!(spec.completions, 3);
        assert!(spec.command.windows(2).any(|w| w == ["--shards", "3"]));
        // Fewer pods at once than shards: the rest wait their turn.
        let mut limited = options();
        limited.parallelism = Some(2);
        let (_, spec) = job_spec(&limited, "ns", &batch(step, 1000, 0)).unwrap();
        assert_eq!((spec.completions, spec.parallelism), (4, 2));
    }

    #[test]
    fn decorators_become_resources_placement_and_retries() {
        let step = Step::linear("train", ["join"])
            .with_decorator(
                Decorator::new("kubernetes")
                    .with_option("memory", "64000")
                    .with_option("cpu", "0.5")
                    .with_option("namespace", "\"ml\"")
                    .with_option("node_selector", "\"gpu=yes, zone=a\"")
                    .with_option("tolerations", r#"[{"key":"gpu","operator":"Exists"}]"#)
                    .with_option("service_account", "\"trainer\"")
                    .with_option("secrets", r#"["wandb"]"#)
                    .with_option("labels", r#"{"team":"ml","mfw.dev/flow":"not-mine"}"#)
                    .with_option("annotations", r#"{"cost-center":"42"}"#)
                    .with_option("image_pull_policy", "\"Always\"")
                    .with_option("image_pull_secrets", "\"regcred\""),
            )
            .with_decorator(Decorator::new("resources").with_option("cpu", "8"));
        let (namespace, spec) = job_spec(&options(), "default", &batch(step, 8, 2)).unwrap();
        assert_eq!(namespace, "ml");
        assert_eq!(spec.memory.as_deref(), Some("64000M"));
        assert_eq!(spec.cpu.as_deref(), Some("500m"));
        assert_eq!(
            spec.node_selector.get("zone").map(String::as_str),
            Some("a")
        );
        assert_eq!(spec.tolerations.len(), 1);
        assert_eq!(spec.service_account.as_deref(), Some("trainer"));
        assert_eq!(spec.secrets, ["mfw-datastore", "wandb"]);
        // Two tasks per pod, two retries each, plus two lost pods.
        assert_eq!(spec.retries, 6);
        let job = serde_json::to_value(spec.to_job().unwrap()).unwrap();
        let policy = &job["spec"]["podFailurePolicy"]["rules"][0];
        assert_eq!(policy["action"], "FailIndex");
        assert_eq!(policy["onExitCodes"]["values"][0], EXIT_FAILED_FOR_GOOD);
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["resources"]["limits"]["memory"], "64000M");
        assert_eq!(container["resources"]["requests"]["cpu"], "500m");
        // Metaflow's labels, annotations and image pulling reach the pods;
        // mfw's own labels stay.
        let pod = &job["spec"]["template"];
        assert_eq!(pod["metadata"]["labels"]["team"], "ml");
        assert_eq!(
            pod["metadata"]["labels"][crate::cron::FLOW_LABEL],
            job["metadata"]["labels"][crate::cron::FLOW_LABEL]
        );
        assert_ne!(
            pod["metadata"]["labels"][crate::cron::FLOW_LABEL],
            "not-mine"
        );
        assert_eq!(pod["metadata"]["annotations"]["cost-center"], "42");
        assert_eq!(job["metadata"]["annotations"]["cost-center"], "42");
        assert_eq!(container["imagePullPolicy"], "Always");
        assert_eq!(pod["spec"]["imagePullSecrets"][0]["name"], "regcred");
    }

    #[test]
    fn a_bad_option_names_the_step() {
        for (key, value, says) in [
            ("tolerations", "\"x\"", "list of tolerations"),
            ("labels", r#"{"team":1}"#, "must map names to strings"),
            ("image_pull_secrets", "[1]", "a name or a list of names"),
            (
                "image_pull_policy",
                "\"Sometimes\"",
                "Always, IfNotPresent or Never",
            ),
        ] {
            let step =
                Step::end().with_decorator(Decorator::new("kubernetes").with_option(key, value));
            let error = job_spec(&options(), "ns", &batch(step, 1, 0)).unwrap_err();
            assert!(error.to_string().contains("step `end`"), "{error}");
            assert!(error.to_string().contains(says), "{error}");
        }
    }
}
