//! mfw on Kubernetes: steps run as Jobs (a foreach as one Indexed Job whose
//! pods each take a shard of the tasks), schedules become CronJobs, and a
//! small node agent lets test clusters without a container runtime run
//! pods as local processes.
//!
//! ```no_run
//! # async fn example() -> Result<(), mfw_kubernetes::KubeError> {
//! let cluster = mfw_kubernetes::Cluster::connect(None).await?;
//! println!("namespace {}", cluster.namespace);
//! # Ok(()) }
//! ```

pub mod agent;
pub mod cron;
pub mod executor;
pub mod jobs;

use kube::Client;

/// What can go wrong talking to the cluster; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No kubeconfig or context to use.
    #[error(
        "no Kubernetes cluster to use: {0}; set KUBECONFIG or select a context with \
         `kubectl config use-context`"
    )]
    NoContext(String),
    /// RBAC refused an action.
    #[error(
        "Kubernetes refused to let mfw {action} in namespace `{namespace}`: {message}; grant the \
         account the mfw Role (see docs/kubernetes.md)"
    )]
    Forbidden {
        /// What mfw tried.
        action: String,
        /// Where.
        namespace: String,
        /// The API server's message.
        message: String,
    },
    /// Any other API error.
    #[error("cannot {action}: {message}")]
    Api {
        /// What mfw tried.
        action: String,
        /// What went wrong.
        message: String,
    },
    /// A Job's pods failed.
    #[error(
        "Kubernetes job {namespace}/{name} failed: {message} (see `kubectl -n {namespace} logs -l \
         job-name={name}`)"
    )]
    JobFailed {
        /// The Job's namespace.
        namespace: String,
        /// The Job.
        name: String,
        /// What the Job's status says.
        message: String,
    },
    /// A `@kubernetes` or `@schedule` option mfw cannot use; the message
    /// names the step, the option and what it must be.
    #[error("{0}")]
    Decorator(String),
    /// An object mfw builds could not be made into its Kubernetes type (a
    /// bug in mfw, or a value no manifest can hold).
    #[error("cannot describe {what}")]
    Describe {
        /// The object (`job X`, `cronjob Y`, `node N`).
        what: String,
        /// Why it does not fit the type.
        #[source]
        source: serde_json::Error,
    },
}

impl KubeError {
    /// Explains a client error for `action`.
    pub fn from_kube(error: kube::Error, action: &str) -> Self {
        match error {
            kube::Error::Api(response) if response.code == 403 => KubeError::Forbidden {
                action: action.to_string(),
                namespace: String::new(),
                message: response.message,
            },
            kube::Error::Api(response) => KubeError::Api {
                action: action.to_string(),
                message: response.message,
            },
            other => KubeError::Api {
                action: action.to_string(),
                message: other.to_string(),
            },
        }
    }

    pub(crate) fn in_namespace(self, namespace: &str) -> Self {
        match self {
            KubeError::Forbidden {
                action, message, ..
            } => KubeError::Forbidden {
                action,
                namespace: namespace.to_string(),
                message,
            },
            other => other,
        }
    }
}

/// A connection to the cluster of the current kube context.
#[derive(Clone)]
pub struct Cluster {
    /// The API client.
    pub client: Client,
    /// Where mfw creates its Jobs and CronJobs.
    pub namespace: String,
}

impl Cluster {
    /// Connects with the current context (KUBECONFIG, ~/.kube/config, or the
    /// in-cluster service account); `namespace` overrides the context's.
    pub async fn connect(namespace: Option<&str>) -> Result<Cluster, KubeError> {
        let config = kube::Config::infer()
            .await
            .map_err(|e| KubeError::NoContext(e.to_string()))?;
        let namespace = namespace
            .map(str::to_string)
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| KubeError::NoContext(e.to_string()))?;
        Ok(Cluster { client, namespace })
    }
}

/// A name Kubernetes accepts (DNS-1123 label, at most 63 bytes), made from
/// `parts`, with a hash suffix when shortened so names stay unique.
///
/// ```
/// assert_eq!(mfw_kubernetes::object_name(&["mfw", "HelloFlow", "12", "start"]), "mfw-helloflow-12-start");
/// assert!(mfw_kubernetes::object_name(&["x"; 40]).len() <= 63);
/// ```
pub fn object_name(parts: &[&str]) -> String {
    let raw: String = parts
        .join("-")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let trimmed = raw.trim_matches('-').to_string();
    if trimmed.len() <= 63 {
        return trimmed;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in raw.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let suffix = format!("{hash:012x}");
    format!("{}-{}", raw[..50].trim_end_matches('-'), &suffix[..12])
}

pub(crate) use KubeError as Error;
