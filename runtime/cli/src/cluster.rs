//! mfw on Kubernetes: `--with kubernetes` and `@kubernetes` steps, the
//! worker that pods run, stored flow packages, and `mfw kubernetes
//! deploy|list|trigger|delete` for scheduled flows.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use mfw_graph::{BlobHash, FlowGraph};
use mfw_host::Host;
use mfw_kubernetes::executor::{
    EXIT_FAILED_FOR_GOOD, KubernetesExecutor, KubernetesOptions, StepSelection,
};
use mfw_kubernetes::{Cluster, cron, jobs, object_name};
use mfw_orchestrator::{Executor, WorkerOptions, run_worker};
use mfw_store::Datastore;
use serde::{Deserialize, Serialize};

use crate::commands::{Context, FlowSet};
use crate::config::KubernetesConfig;
use crate::observer::TerminalObserver;

/// Which steps a run sends to the cluster.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubeSteps {
    /// None: every step runs here (`@kubernetes` is recorded, not used).
    Off,
    /// The steps decorated with `@kubernetes`.
    Decorated,
    /// Every step.
    All,
}

/// Where and how steps run in Kubernetes (`mfw run` and `mfw resume`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Put this decorator on every step that lacks it, as Metaflow's
    /// `--with` (repeatable): `--with retry`, `--with timeout:seconds=60`;
    /// `--with kubernetes` (or Metaflow's `--with batch`) runs the whole
    /// flow in the cluster of the current kube context.
    #[arg(long = "with", value_name = "DECORATOR")]
    with: Vec<String>,
    /// Which steps run in the cluster: off, decorated (the @kubernetes
    /// steps) or all (default: the config's, else off).
    #[arg(long, value_name = "STEPS")]
    kubernetes: Option<KubeSteps>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The most pods one step's tasks share (a foreach's shards).
    #[arg(long, value_name = "N")]
    kubernetes_pods: Option<u32>,
    /// The most of a step's pods that run at once (default: all).
    #[arg(long, value_name = "N")]
    kubernetes_parallelism: Option<u32>,
    /// Tasks each pod runs at once.
    #[arg(long, value_name = "N")]
    kubernetes_threads: Option<u32>,
}

/// Whether `--with SPEC` runs every step in the cluster: `kubernetes`, or
/// Metaflow's `batch` (AWS Batch, whose place the cluster takes here).
pub(crate) fn sends_steps_to_the_cluster(spec: &str) -> bool {
    matches!(spec.split(':').next(), Some("kubernetes" | "batch"))
}

impl KubeArgs {
    /// Takes `--name value` given after the flow's parameters, when it is
    /// one of these options; says whether it was.
    /// The `--with` decorators given.
    pub fn with_decorators(&self) -> &[String] {
        &self.with
    }

    pub fn take(&mut self, name: &str, value: &str) -> anyhow::Result<bool> {
        let number = || {
            value.parse::<u32>().map_err(|_| {
                anyhow!(
                    "--{} expects a number, got `{value}`",
                    name.replace('_', "-")
                )
            })
        };
        match name {
            "with" => self.with.push(value.to_string()),
            "kubernetes" => {
                self.kubernetes = Some(
                    <KubeSteps as clap::ValueEnum>::from_str(value, true)
                        .map_err(|_| anyhow!("--kubernetes takes off, decorated or all"))?,
                );
            }
            "kubernetes_image" => self.cluster.kubernetes_image = Some(value.to_string()),
            "kubernetes_namespace" => self.cluster.kubernetes_namespace = Some(value.to_string()),
            "kubernetes_secret" => self.cluster.kubernetes_secrets.push(value.to_string()),
            "kubernetes_pods" => self.kubernetes_pods = Some(number()?),
            "kubernetes_parallelism" => self.kubernetes_parallelism = Some(number()?),
            "kubernetes_threads" => self.kubernetes_threads = Some(number()?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The cluster settings `run` and `kubernetes deploy` share.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// The worker image, pinned by digest (`registry/mfw-worker@sha256:...`).
    #[arg(long, value_name = "IMAGE")]
    kubernetes_image: Option<String>,
    /// The namespace (default: the kube context's).
    #[arg(long, value_name = "NAMESPACE")]
    kubernetes_namespace: Option<String>,
    /// A Secret whose keys become the pods' environment, such as the
    /// datastore's credentials (repeatable).
    #[arg(long = "kubernetes-secret", value_name = "SECRET")]
    kubernetes_secrets: Vec<String>,
}

impl ClusterArgs {
    fn image(&self, config: &KubernetesConfig) -> anyhow::Result<String> {
        let image = self
            .kubernetes_image
            .clone()
            .or_else(|| config.image.clone())
            .ok_or_else(|| {
                anyhow!(
                    "no worker image for the pods: build one from the repository's Dockerfile, \
                     push it, and pass --kubernetes-image registry/mfw-worker@sha256:... (or set \
                     `image` under [kubernetes] in the config)"
                )
            })?;
        if !image.contains("@sha256:") {
            eprintln!(
                "mfw: warning: worker image `{image}` is not pinned by digest; runs stay \
                 reproducible only with `name@sha256:...`"
            );
        }
        Ok(image)
    }

    fn namespace(&self, config: &KubernetesConfig) -> Option<String> {
        self.kubernetes_namespace
            .clone()
            .or_else(|| config.namespace.clone())
    }

    fn secrets(&self, config: &KubernetesConfig) -> Vec<String> {
        if self.kubernetes_secrets.is_empty() {
            config.secrets.clone()
        } else {
            self.kubernetes_secrets.clone()
        }
    }

    /// These settings as `mfw run` options, for pods that run a flow.
    fn as_run_options(&self, image: &str, namespace: &str, secrets: &[String]) -> Vec<String> {
        let mut args = vec![
            "--kubernetes-image".to_string(),
            image.to_string(),
            "--kubernetes-namespace".to_string(),
            namespace.to_string(),
        ];
        for secret in secrets {
            args.push("--kubernetes-secret".to_string());
            args.push(secret.clone());
        }
        args
    }
}

/// The executor a run needs, if any of its steps run in the cluster.
pub async fn executor(
    args: &KubeArgs,
    config: &KubernetesConfig,
    store: &Datastore,
    graph: &FlowGraph,
    quiet: bool,
) -> anyhow::Result<Option<Arc<dyn Executor>>> {
    let mut steps = args.kubernetes.or(config.steps).unwrap_or(KubeSteps::Off);
    if args.with.iter().any(|w| sends_steps_to_the_cluster(w)) {
        steps = KubeSteps::All;
    }
    let decorated: Vec<&str> = graph
        .steps
        .iter()
        .filter(|s| s.decorator("kubernetes").is_some())
        .map(|s| s.name.as_str())
        .collect();
    let selection = match steps {
        KubeSteps::Off => {
            if !decorated.is_empty() && !quiet {
                // Metaflow would refuse to run these without a cloud
                // datastore; mfw runs them here, the same component.
                eprintln!(
                    "mfw: {} {} @kubernetes and {} here (Metaflow refuses to run them without a \
                     cloud datastore); `--kubernetes decorated` runs {} in the cluster",
                    plural(&decorated, "step", "steps"),
                    if decorated.len() == 1 {
                        "asks for"
                    } else {
                        "ask for"
                    },
                    if decorated.len() == 1 { "runs" } else { "run" },
                    if decorated.len() == 1 { "it" } else { "them" },
                );
            }
            return Ok(None);
        }
        KubeSteps::Decorated if decorated.is_empty() => return Ok(None),
        KubeSteps::Decorated => StepSelection::Decorated,
        KubeSteps::All => StepSelection::All,
    };
    if !store.is_remote() {
        bail!(
            "steps in Kubernetes need a datastore the pods can reach, but `{}` is a directory \
             on this machine: pass --datastore s3://bucket/prefix (or gs://, az://), or set \
             `datastore` in the config",
            store.location()
        );
    }
    let notify: Option<mfw_kubernetes::executor::Notify> = if quiet {
        None
    } else {
        Some(Arc::new(|line: &str| eprintln!("mfw: kubernetes: {line}")))
    };
    let options = KubernetesOptions {
        namespace: args.cluster.namespace(config),
        image: args.cluster.image(config)?,
        datastore: store.location().to_string(),
        secrets: args.cluster.secrets(config),
        pods: args.kubernetes_pods.or(config.pods).unwrap_or(4).max(1),
        parallelism: args.kubernetes_parallelism.or(config.parallelism),
        threads: args
            .kubernetes_threads
            .or(config.threads)
            .unwrap_or(2)
            .max(1),
        steps: selection,
        notify,
    };
    let executor = KubernetesExecutor::connect(options).await?;
    Ok(Some(Arc::new(executor)))
}

fn plural(names: &[&str], one: &str, many: &str) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!(
        "{} {}",
        if names.len() == 1 { one } else { many },
        list.join(", ")
    )
}

/// `mfw worker`: what a pod runs.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The batch's name in the datastore.
    #[arg(long)]
    batch: String,
    /// This pod's shard (an Indexed Job's completion index).
    #[arg(long, env = "JOB_COMPLETION_INDEX", default_value_t = 0)]
    shard: u32,
    /// How many pods share the batch.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Tasks run at once (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs a pod's shard of a batch. Exits 0 when every task of the shard
/// succeeded, [`EXIT_FAILED_FOR_GOOD`] when one failed with no retries
/// left, and 1 when one should be retried by the next pod.
pub async fn worker(context: &Context, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    if args.shard >= args.shards.max(1) {
        bail!(
            "--shard {} is not below --shards {}",
            args.shard,
            args.shards
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let store = context.store()?;
    let batch = store.read_batch(&args.batch).await?;
    let host = context.host(threads, batch.fuel.is_some())?;
    eprintln!(
        "mfw worker: {}/{} step {}: shard {} of {}",
        batch.flow, batch.run_id, batch.step, args.shard, args.shards
    );
    let observer = Arc::new(TerminalObserver::for_pod());
    let options = WorkerOptions {
        shard: args.shard,
        shards: args.shards,
        threads,
        observer: Some(observer.clone()),
    };
    let report = run_worker(&store, &host, &args.batch, options).await;
    store.sync().await?;
    let report = report?;
    observer.finish();
    eprintln!(
        "mfw worker: {} succeeded, {} already done, {} failed, {} to retry",
        report.succeeded, report.skipped, report.failed, report.retry_later
    );
    Ok(if report.failed > 0 {
        ExitCode::from(EXIT_FAILED_FOR_GOOD as u8)
    } else if report.retry_later > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A flow's components stored together, so a pod can run the flow by one
/// hash: `mfw run package:<hash>`.
#[derive(Debug, Serialize, Deserialize)]
struct Package {
    format: String,
    /// The manifest's flow name, for flows of several components.
    name: Option<String>,
    components: Vec<PackagedComponent>,
    /// Each step's own code identity, as the build from source gave it.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    step_code: std::collections::BTreeMap<String, BlobHash>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PackagedComponent {
    hash: BlobHash,
    source: String,
}

const PACKAGE_FORMAT: &str = "mfw-package/1";

/// The hash in a `package:<hash>` flow argument.
pub fn package_ref(flow: &std::path::Path) -> Option<&str> {
    flow.to_str()?.strip_prefix("package:")
}

/// Stores the flow's components and their package; returns its hash.
pub(crate) async fn store_package(store: &Datastore, flows: &FlowSet) -> anyhow::Result<BlobHash> {
    let mut components = Vec::new();
    for (flow, source) in &flows.components {
        let hash = store
            .put_component(Bytes::copy_from_slice(flow.bytes()))
            .await?;
        components.push(PackagedComponent {
            hash,
            source: source.clone(),
        });
    }
    let package = Package {
        format: PACKAGE_FORMAT.to_string(),
        name: flows.name.clone(),
        components,
        step_code: flows.step_code.clone(),
    };
    Ok(store
        .put_blob(Bytes::from(serde_json::to_vec(&package)?))
        .await?)
}

/// Loads a stored package: each component fetched by hash and verified.
pub async fn load_package(store: &Datastore, host: &Host, hash: &str) -> anyhow::Result<FlowSet> {
    let hash: BlobHash = hash
        .parse()
        .map_err(|e| anyhow!("package:{hash} is not a package hash: {e}"))?;
    let bytes = store
        .get_blob(&hash)
        .await
        .with_context(|| format!("cannot read package {hash} from {}", store.location()))?;
    let package: Package = serde_json::from_slice(&bytes)
        .ok()
        .filter(|p: &Package| p.format == PACKAGE_FORMAT)
        .ok_or_else(|| anyhow!("blob {hash} is not an mfw package ({PACKAGE_FORMAT})"))?;
    let mut components = Vec::new();
    for component in package.components {
        let bytes = store.get_component(&component.hash).await?;
        let loader = host.clone();
        let source = component.source.clone();
        let flow = tokio::task::spawn_blocking(move || loader.load(&bytes, &source)).await??;
        components.push((flow, component.source));
    }
    // A package is what a user deployed from source (a schedule): they saw
    // its grants then, and its pods run unattended.
    Ok(FlowSet {
        components,
        name: package.name,
        prebuilt: Vec::new(),
        step_code: package.step_code,
    })
}

/// `mfw kubernetes ...`
#[derive(clap::Subcommand, Debug)]
pub enum KubeCommand {
    /// Schedule a flow: its @schedule becomes a CronJob that runs it in the
    /// cluster.
    Deploy(DeployArgs),
    /// List the scheduled flows.
    List(NamespaceArg),
    /// Run a scheduled flow now.
    Trigger(TriggerArgs),
    /// Remove a scheduled flow.
    Delete(NameArgs),
}

#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// The flow: a directory with its sources, or a .wasm component.
    flow: std::path::PathBuf,
    /// The CronJob's name (default: mfw-<flow>).
    #[arg(long)]
    name: Option<String>,
    /// A cron schedule instead of the flow's @schedule.
    #[arg(long, value_name = "CRON")]
    schedule: Option<String>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The scheduled pod's service account (it needs the mfw Role if the
    /// flow has @kubernetes steps).
    #[arg(long)]
    service_account: Option<String>,
    #[command(flatten)]
    configs: crate::commands::configs::ConfigArgs,
}

#[derive(clap::Args, Debug)]
pub struct NamespaceArg {
    /// The namespace (default: the kube context's).
    #[arg(long)]
    namespace: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct NameArgs {
    /// The scheduled flow's CronJob, as `mfw kubernetes list` shows it.
    name: String,
    #[command(flatten)]
    namespace: NamespaceArg,
}

#[derive(clap::Args, Debug)]
pub struct TriggerArgs {
    #[command(flatten)]
    target: NameArgs,
    /// Wait for the run to finish; exit 1 if it fails.
    #[arg(long)]
    wait: bool,
}

pub async fn kubernetes(context: &Context, command: KubeCommand) -> anyhow::Result<ExitCode> {
    let config = crate::config::Config::load()?.kubernetes;
    match command {
        KubeCommand::Deploy(args) => deploy(context, &config, args).await,
        KubeCommand::List(args) => {
            let namespace = args.namespace.or(config.namespace);
            let cluster = Cluster::connect(namespace.as_deref()).await?;
            let crons = cron::list(&cluster).await?;
            if crons.is_empty() {
                eprintln!("mfw: no scheduled flows in namespace {}", cluster.namespace);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<32} {:<24} {:<16} LAST SCHEDULED",
                "NAME", "FLOW", "SCHEDULE"
            );
            for cron in crons {
                let name = cron.metadata.name.unwrap_or_default();
                let flow = cron
                    .metadata
                    .labels
                    .and_then(|l| l.get(cron::FLOW_LABEL).cloned())
                    .unwrap_or_default();
                let schedule = cron.spec.schedule;
                let last = cron
                    .status
                    .and_then(|s| s.last_schedule_time)
                    .map_or_else(|| "never".to_string(), |t| t.0.to_string());
                println!("{name:<32} {flow:<24} {schedule:<16} {last}");
            }
            Ok(ExitCode::SUCCESS)
        }
        KubeCommand::Trigger(args) => {
            let namespace = args.target.namespace.namespace.or(config.namespace);
            let cluster = Cluster::connect(namespace.as_deref()).await?;
            let job = cron::trigger(&cluster, &args.target.name, &[]).await?;
            eprintln!("mfw: started job {}/{job}", cluster.namespace);
            if !args.wait {
                return Ok(ExitCode::SUCCESS);
            }
            let outcome = jobs::wait(&cluster, &job, |_| {}).await?;
            if outcome.succeeded {
                eprintln!("mfw: job {job} succeeded");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("mfw: job {job} failed: {}", outcome.message);
                Ok(ExitCode::from(1))
            }
        }
        KubeCommand::Delete(args) => {
            let namespace = args.namespace.namespace.or(config.namespace);
            let cluster = Cluster::connect(namespace.as_deref()).await?;
            cron::delete(&cluster, &args.name).await?;
            eprintln!("mfw: deleted {}/{}", cluster.namespace, args.name);
            // A triggered flow's deployment goes with its CronJob.
            let store = context.store()?;
            let (deployments, _) = store.deployments().await?;
            for d in deployments {
                if d.kubernetes
                    .as_ref()
                    .is_some_and(|k| k.cronjob == args.name && k.namespace == cluster.namespace)
                    && store.remove_deployment(&d.flow).await?
                {
                    eprintln!("mfw: {} is no longer deployed", d.flow);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn deploy(
    context: &Context,
    config: &KubernetesConfig,
    args: DeployArgs,
) -> anyhow::Result<ExitCode> {
    let host = context.host(1, false)?;
    let flows = context.load_configured(&args.flow, &host, &args.configs.for_build()?)?;
    let graph = flows.graph()?;
    let plan = flows.plan().map_err(|message| anyhow!(message))?;
    drop(plan);
    let decorator = graph.decorators.iter().find(|d| d.name == "schedule");
    let on_finish =
        crate::commands::deploy::trigger_names(&graph, "trigger_on_finish", "flow", "flows");
    let events = crate::commands::deploy::trigger_names(&graph, "trigger", "event", "events");
    let triggered = !on_finish.is_empty() || !events.is_empty();
    let schedule = match (&args.schedule, decorator) {
        (Some(cron), _) => Some(cron::schedule(&[(
            "cron".to_string(),
            serde_json::to_string(cron)?,
        )])?),
        (None, Some(d)) => Some(cron::schedule(&d.options)?),
        // Only its triggers start it: the CronJob holds its job.
        (None, None) if triggered => None,
        (None, None) => bail!(
            "flow `{}` has no @schedule, @trigger or @trigger_on_finish: add \
             @schedule(daily=True), @schedule(hourly=True) or @schedule(cron='...') to the \
             flow, or pass --schedule '<cron>'; or add @trigger_on_finish(flow='...') or \
             @trigger(event='...') to start it on another flow's run or an event",
            graph.name
        ),
    };
    let timezone = decorator
        .and_then(|d| d.option("timezone"))
        .and_then(|tz| serde_json::from_str::<String>(tz).ok());
    let store = context.store()?;
    if !store.is_remote() {
        bail!(
            "a scheduled flow runs in the cluster and needs a datastore its pods can reach, but \
             `{}` is a directory on this machine: pass --datastore s3://bucket/prefix",
            store.location()
        );
    }
    store.check().await?;
    let image = args.cluster.image(config)?;
    let cluster = Cluster::connect(args.cluster.namespace(config).as_deref()).await?;
    let package = store_package(&store, &flows).await?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| object_name(&["mfw", &graph.name]));
    let mut command = vec![
        "mfw".to_string(),
        "--datastore".to_string(),
        store.location().to_string(),
        "run".to_string(),
        format!("package:{package}"),
        // Its @kubernetes steps run as Jobs of their own, as from a laptop.
        "--kubernetes".to_string(),
        "decorated".to_string(),
    ];
    let secrets = args.cluster.secrets(config);
    command.extend(
        args.cluster
            .as_run_options(&image, &cluster.namespace, &secrets),
    );
    let job = jobs::JobSpec {
        name: name.clone(),
        image,
        command,
        secrets,
        completions: 1,
        parallelism: 1,
        service_account: args.service_account.clone(),
        labels: std::collections::BTreeMap::from([(
            cron::FLOW_LABEL.to_string(),
            object_name(&[&graph.name]),
        )]),
        ..jobs::JobSpec::default()
    };
    cron::deploy(
        &cluster,
        &name,
        &object_name(&[&graph.name]),
        schedule.as_deref(),
        timezone.as_deref(),
        &job,
    )
    .await?;
    if let Some(schedule) = &schedule {
        eprintln!(
            "mfw: scheduled {} as cronjob {}/{name} ({schedule}), running package {package}",
            graph.name, cluster.namespace
        );
    }
    if triggered {
        let deployment = mfw_store::Deployment {
            flow: graph.name.clone(),
            package,
            on_finish,
            events,
            deployed_at: mfw_store::now_millis(),
            user: crate::commands::username(),
            allow_grants: true,
            kubernetes: Some(mfw_store::KubernetesDeployment {
                namespace: cluster.namespace.clone(),
                cronjob: name.clone(),
            }),
        };
        store.put_deployment(&deployment).await?;
        eprintln!(
            "mfw: deployed {} as cronjob {}/{name}, running package {package} {}",
            graph.name,
            cluster.namespace,
            crate::commands::deploy::describe(&deployment)
        );
    }
    eprintln!("mfw: run it now with `mfw kubernetes trigger {name}`");
    Ok(ExitCode::SUCCESS)
}
