//! The user's defaults: `~/.config/mfw/config.toml`, or `MFW_CONFIG`.
//!
//! ```toml
//! datastore = "/data/mfw"        # where runs go when --datastore is not given
//!
//! [defaults]
//! timeout_seconds = 3600         # per task attempt, for steps without @timeout
//! memory_mb = 4096               # per task, for steps without @resources(memory)
//!                                # (default: 4096 or half the machine's memory)
//! in_flight_mb = 12288           # the tasks running at once, together
//!                                # (default: three quarters of the machine's)
//!
//! [kubernetes]
//! steps = "decorated"            # off | decorated (@kubernetes steps) | all
//! image = "registry.example.com/mfw-worker@sha256:..."
//! namespace = "ml"
//! secrets = ["mfw-datastore"]    # the pods' datastore credentials
//! pods = 4                       # the most pods one step's tasks share
//! ```

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Deserialize;

/// The config file's contents; everything optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The default datastore.
    pub datastore: Option<String>,
    /// Default limits.
    #[serde(default)]
    pub defaults: Defaults,
    /// How runs use Kubernetes.
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
}

/// `[kubernetes]`: defaults for `--with kubernetes`, `@kubernetes` steps
/// and `mfw kubernetes deploy`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Which steps run in the cluster: "off", "decorated" or "all".
    pub steps: Option<crate::cluster::KubeSteps>,
    /// The worker image, pinned by digest.
    pub image: Option<String>,
    /// The namespace (default: the kube context's).
    pub namespace: Option<String>,
    /// Secrets whose keys become the pods' environment.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The most pods one step's tasks share.
    pub pods: Option<u32>,
    /// The most of a step's pods that run at once.
    pub parallelism: Option<u32>,
    /// Tasks each pod runs at once.
    pub threads: Option<u32>,
}

/// Default limits for tasks whose decorators set none.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Wall time per task attempt.
    pub timeout_seconds: Option<f64>,
    /// Linear memory per task.
    pub memory_mb: Option<u64>,
    /// The sum of the memory limits of the tasks running at once.
    pub in_flight_mb: Option<u64>,
}

fn path() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("MFW_CONFIG") {
        return Some(PathBuf::from(explicit));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("mfw/config.toml"))
}

impl Config {
    /// Reads the config file; a missing file is an empty config.
    pub fn load() -> anyhow::Result<Config> {
        let Some(path) = path() else {
            return Ok(Config::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("{} is not a valid mfw config", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}
