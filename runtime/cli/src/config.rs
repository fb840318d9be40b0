//! The user's defaults: `~/.config/mfw/config.toml`, or `MFW_CONFIG`.
//!
//! ```toml
//! datastore = "/data/mfw"        # where runs go when --datastore is not given
//!
//! [defaults]
//! timeout_seconds = 3600         # per task attempt, for steps without @timeout
//! memory_mb = 4096               # per task, for steps without @resources(memory)
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
}

/// Default limits for tasks whose decorators set none.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Wall time per task attempt.
    pub timeout_seconds: Option<f64>,
    /// Linear memory per task.
    pub memory_mb: Option<u64>,
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
