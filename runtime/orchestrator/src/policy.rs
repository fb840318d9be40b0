//! What each step may consume and reach, and how its failures are handled,
//! read from its decorators once, before any task runs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mfw_graph::{Decorator, Step};
use mfw_host::{DirGrant, Grants, TaskLimits};

/// Limits every task gets unless its decorators say otherwise, and what
/// the tasks running at once may take together. The defaults come from the
/// machine: a task may use 4 GiB or half the machine's memory, whichever is
/// less, and the tasks in flight three quarters of it.
///
/// ```
/// let defaults = mfw_orchestrator::RunDefaults::default();
/// assert!(defaults.memory_mb <= 4096);
/// assert!(defaults.in_flight_mb >= defaults.memory_mb);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDefaults {
    /// Wall time per task attempt; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Linear memory per task, in MB.
    pub memory_mb: u64,
    /// Fuel per task attempt (deterministic), when fuel metering is on.
    pub fuel: Option<u64>,
    /// The sum of the memory limits of the tasks running at once, in MB: a
    /// task that would pass it waits (one task alone always runs).
    pub in_flight_mb: u64,
}

impl Default for RunDefaults {
    fn default() -> Self {
        let machine = machine_memory_mb().unwrap_or(8192);
        Self {
            timeout: None,
            memory_mb: (machine / 2).clamp(256, 4096),
            fuel: None,
            in_flight_mb: (machine / 4 * 3).max(256),
        }
    }
}

/// The machine's memory in MB (Linux's `MemTotal`), if it can be read.
pub fn machine_memory_mb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb >> 10)
}

/// Where grants may point: the flow's directory, and what `--allow-dir`
/// adds. A grant outside them fails the run before it starts.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// The flow's directory; relative grant paths start here.
    pub flow_dir: Option<PathBuf>,
    /// Directories outside the flow's that the user allowed.
    pub allowed_dirs: Vec<PathBuf>,
}

/// Why a step's decorators cannot be turned into its limits and grants.
/// Each names the step.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A decorator option that must be a number is not.
    #[error("step `{step}`: @{decorator}({key}={text}) must be a number")]
    NotANumber {
        /// The step.
        step: String,
        /// The decorator.
        decorator: String,
        /// The option.
        key: String,
        /// Its text.
        text: String,
    },
    /// A decorator option that must be JSON is not.
    #[error("step `{step}`: @{decorator}({key}=...) is not valid JSON")]
    NotJson {
        /// The step.
        step: String,
        /// The decorator.
        decorator: String,
        /// The option.
        key: String,
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A granted directory is not given as a path.
    #[error("step `{step}`: @grant directory {what}")]
    NotAPath {
        /// The step.
        step: String,
        /// What is wrong (`/data maps to 3, not a path`).
        what: String,
    },
    /// The directories of `@grant(read=...)` or `write` have another shape.
    #[error(
        "step `{step}`: @grant directories are {{\"/guest\": \"host\"}} or [\"host:/guest\"], not {value}"
    )]
    DirectoriesShape {
        /// The step.
        step: String,
        /// What was given.
        value: serde_json::Value,
    },
    /// `@grant(env=...)` or `network` lists something other than strings.
    #[error("step `{step}`: @grant({what}=...) {problem}")]
    NotStrings {
        /// The step.
        step: String,
        /// The option.
        what: String,
        /// What is wrong (`lists 3, not a string`).
        problem: String,
    },
    /// A granted directory cannot be opened.
    #[error("step `{step}` is granted {}, which cannot be opened", .path.display())]
    DirUnreadable {
        /// The step.
        step: String,
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A granted path is not a directory.
    #[error("step `{step}` is granted {}, which is not a directory", .path.display())]
    NotADirectory {
        /// The step.
        step: String,
        /// The path.
        path: PathBuf,
    },
    /// A granted directory outside the flow's and those `--allow-dir` adds.
    #[error(
        "step `{step}` is granted {}, outside the flow's directory {flow}; allow it with \
         --allow-dir {}",
        .path.display(),
        .path.display()
    )]
    Outside {
        /// The step.
        step: String,
        /// The directory.
        path: PathBuf,
        /// The flow's directory, or `(none)`.
        flow: String,
    },
    /// A granted variable that may hold mfw's own credentials.
    #[error(
        "step `{step}` is granted the environment variable {name}, which may hold mfw's own \
         datastore credentials; a step never gets those: give it its own credentials under \
         another name (@grant(env=['MY_{name}']))"
    )]
    Credentials {
        /// The step.
        step: String,
        /// The variable.
        name: String,
    },
    /// A granted network address that does not resolve.
    #[error("step `{step}` is granted {target}, which does not resolve")]
    Unresolved {
        /// The step.
        step: String,
        /// The `host:port` granted.
        target: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `@environment(vars=...)` is not a dict.
    #[error("step `{step}`: @environment(vars=...) takes a dict of names to values")]
    EnvironmentVars {
        /// The step.
        step: String,
    },
    /// `@catch` on a step that fans out.
    #[error(
        "step `{step}` fans out with foreach and cannot use @catch: a caught failure has no list \
         to fan out over"
    )]
    CatchOnForeach {
        /// The step.
        step: String,
    },
    /// `@cache(...)` given something other than True or False.
    #[error("step `{step}` has @cache({text}): write @cache(True) or @cache(False)")]
    CacheNotABool {
        /// The step.
        step: String,
        /// What it was given.
        text: String,
    },
}

/// One step's policy.
#[derive(Debug, Clone)]
pub(crate) struct StepPolicy {
    pub(crate) limits: TaskLimits,
    pub(crate) grants: Grants,
    /// Attempts after the first.
    pub(crate) retries: u32,
    pub(crate) retry_delay: Duration,
    /// `@catch`: the failure is stored (in the named artifact, if any) and
    /// the flow continues.
    pub(crate) catch: Option<Option<String>>,
    /// How many of the run's worker slots a task takes (`@resources(cpu)`).
    pub(crate) cpu: usize,
    /// `@cache(True)` or `@cache(False)`; `None` caches a step unless it
    /// sees the outside world.
    pub(crate) cache: Option<bool>,
    /// What of the outside world the step's grants let it see (`clock`,
    /// `random`, `env NAME`, `network host:port`, `read dir /data`...):
    /// its results may change without its inputs changing.
    pub(crate) outside: Vec<String>,
}

impl StepPolicy {
    /// Whether the step's tasks may be taken from, and put in, the cache.
    pub(crate) fn cacheable(&self) -> bool {
        self.cache.unwrap_or(self.outside.is_empty())
    }
}

/// Option `key` of `d` as a number, if given; one that is not a number is
/// an error naming the step and decorator.
pub(crate) fn number(step: &str, d: &Decorator, key: &str) -> Result<Option<f64>, PolicyError> {
    match d.option(key) {
        None | Some("null") => Ok(None),
        Some(text) => text
            .parse::<f64>()
            .map(Some)
            .map_err(|_| PolicyError::NotANumber {
                step: step.to_string(),
                decorator: d.name.clone(),
                key: key.to_string(),
                text: text.to_string(),
            }),
    }
}

fn json(step: &str, d: &Decorator, key: &str) -> Result<Option<serde_json::Value>, PolicyError> {
    match d.option(key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|source| PolicyError::NotJson {
                step: step.to_string(),
                decorator: d.name.clone(),
                key: key.to_string(),
                source,
            }),
    }
}

/// `read`/`write` as `{"/guest": "host"}` or `["host", "host:/guest"]`.
fn dir_pairs(step: &str, value: serde_json::Value) -> Result<Vec<(String, String)>, PolicyError> {
    let not_a_path = |what: String| PolicyError::NotAPath {
        step: step.to_string(),
        what,
    };
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(guest, host)| match host {
                serde_json::Value::String(host) => Ok((guest, host)),
                other => Err(not_a_path(format!("{guest} maps to {other}, not a path"))),
            })
            .collect(),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(text) => Ok(match text.split_once(':') {
                    Some((host, guest)) => (guest.to_string(), host.to_string()),
                    None => (
                        format!("/{}", text.trim_start_matches("./").trim_matches('/')),
                        text,
                    ),
                }),
                other => Err(not_a_path(format!("{other} is not a path"))),
            })
            .collect(),
        value => Err(PolicyError::DirectoriesShape {
            step: step.to_string(),
            value,
        }),
    }
}

fn strings(step: &str, what: &str, value: serde_json::Value) -> Result<Vec<String>, PolicyError> {
    let wrong = |problem: String| PolicyError::NotStrings {
        step: step.to_string(),
        what: what.to_string(),
        problem,
    };
    match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                serde_json::Value::String(s) => Ok(s),
                other => Err(wrong(format!("lists {other}, not a string"))),
            })
            .collect(),
        serde_json::Value::String(s) => Ok(vec![s]),
        other => Err(wrong(format!("is a list of strings, not {other}"))),
    }
}

fn resolve_dir(step: &str, host: &str, sandbox: &Sandbox) -> Result<PathBuf, PolicyError> {
    let base = sandbox
        .flow_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let path = base.join(host);
    let path = match path.canonicalize() {
        Ok(path) => path,
        Err(source) => {
            return Err(PolicyError::DirUnreadable {
                step: step.to_string(),
                path,
                source,
            });
        }
    };
    if !path.is_dir() {
        return Err(PolicyError::NotADirectory {
            step: step.to_string(),
            path,
        });
    }
    let inside = |root: &Path| root.canonicalize().is_ok_and(|root| path.starts_with(root));
    let in_flow = sandbox.flow_dir.as_deref().is_some_and(inside);
    if !in_flow && !sandbox.allowed_dirs.iter().any(|d| inside(d)) {
        let flow = sandbox
            .flow_dir
            .as_deref()
            .map_or("(none)".to_string(), |d| d.display().to_string());
        return Err(PolicyError::Outside {
            step: step.to_string(),
            path,
            flow,
        });
    }
    Ok(path)
}

/// The variables mfw's datastores read their credentials from (on a
/// Kubernetes worker they hold the pod's): never granted to a step.
const CREDENTIAL_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN_FILE",
];

fn grants(
    step: &str,
    d: &Decorator,
    sandbox: &Sandbox,
    grants: &mut Grants,
    outside: &mut Vec<String>,
) -> Result<(), PolicyError> {
    for (key, writable) in [("read", false), ("write", true)] {
        if let Some(value) = json(step, d, key)? {
            for (guest, host) in dir_pairs(step, value)? {
                outside.push(format!("{key} dir {guest}"));
                grants.dirs.push(DirGrant {
                    host: resolve_dir(step, &host, sandbox)?,
                    guest,
                    writable,
                });
            }
        }
    }
    if let Some(value) = json(step, d, "env")? {
        for name in strings(step, "env", value)? {
            if CREDENTIAL_VARIABLES.contains(&name.as_str()) {
                return Err(PolicyError::Credentials {
                    step: step.to_string(),
                    name,
                });
            }
            outside.push(format!("env {name}"));
            if let Ok(v) = std::env::var(&name) {
                grants.env.push((name, v));
            }
        }
    }
    if let Some(value) = json(step, d, "network")? {
        for target in strings(step, "network", value)? {
            outside.push(format!("network {target}"));
            let addrs: Vec<SocketAddr> = target
                .to_socket_addrs()
                .map_err(|source| PolicyError::Unresolved {
                    step: step.to_string(),
                    target: target.clone(),
                    source,
                })?
                .collect();
            grants.network.extend(addrs);
            grants.name_lookup = true;
            // Only the names granted resolve in the sandbox (so a step
            // cannot leak data through lookups of names of its choosing).
            if let Some((host, _port)) = target.rsplit_once(':') {
                let host = host.trim_matches(['[', ']']);
                if host.parse::<std::net::IpAddr>().is_err()
                    && !grants.names.iter().any(|n| n == host)
                {
                    grants.names.push(host.to_string());
                }
            }
        }
    }
    for (what, granted) in [("clock", &mut grants.clock), ("random", &mut grants.random)] {
        if d.option(what) == Some("true") {
            *granted = true;
            outside.push(what.to_string());
        }
    }
    Ok(())
}

/// Reads `step`'s decorators into its policy.
pub(crate) fn step_policy(
    step: &Step,
    defaults: &RunDefaults,
    sandbox: &Sandbox,
    workers: usize,
) -> Result<StepPolicy, PolicyError> {
    let name = step.name.as_str();
    let mut policy = StepPolicy {
        limits: TaskLimits {
            memory_bytes: defaults.memory_mb << 20,
            timeout: defaults.timeout,
            fuel: defaults.fuel,
        },
        grants: Grants::default(),
        retries: 0,
        retry_delay: Duration::ZERO,
        catch: None,
        cpu: 1,
        cache: None,
        outside: Vec::new(),
    };
    for d in &step.decorators {
        match d.name.as_str() {
            "resources" => {
                if let Some(mb) = number(name, d, "memory")? {
                    policy.limits.memory_bytes = (mb.max(1.0) as u64) << 20;
                }
                if let Some(cpu) = number(name, d, "cpu")? {
                    policy.cpu = (cpu.ceil().max(1.0) as usize).min(workers.max(1));
                }
            }
            "timeout" => {
                let seconds = number(name, d, "seconds")?.unwrap_or(0.0)
                    + 60.0 * number(name, d, "minutes")?.unwrap_or(0.0)
                    + 3600.0 * number(name, d, "hours")?.unwrap_or(0.0);
                if seconds > 0.0 {
                    policy.limits.timeout = Some(Duration::from_secs_f64(seconds));
                }
            }
            "retry" => {
                // Metaflow's defaults: three more attempts, two minutes apart.
                policy.retries = number(name, d, "times")?.unwrap_or(3.0).max(0.0) as u32;
                let minutes = number(name, d, "minutes_between_retries")?.unwrap_or(2.0);
                policy.retry_delay = Duration::from_secs_f64(minutes.max(0.0) * 60.0);
            }
            "catch" => {
                let var = json(name, d, "var")?.and_then(|v| v.as_str().map(str::to_string));
                policy.catch = Some(var);
            }
            "grant" => grants(name, d, sandbox, &mut policy.grants, &mut policy.outside)?,
            // `@cache(False)`: always run; `@cache(True)`: cache even a step
            // that sees the outside world.
            "cache" => match json(name, d, "enabled")? {
                None => policy.cache = Some(true),
                Some(serde_json::Value::Bool(enabled)) => policy.cache = Some(enabled),
                Some(other) => {
                    return Err(PolicyError::CacheNotABool {
                        step: name.to_string(),
                        text: other.to_string(),
                    });
                }
            },
            // Metaflow's @environment(vars=...): exactly these variables and
            // values reach the step, as an env grant the graph records.
            "environment" => {
                if let Some(vars) = json(name, d, "vars")? {
                    let serde_json::Value::Object(vars) = vars else {
                        return Err(PolicyError::EnvironmentVars {
                            step: name.to_string(),
                        });
                    };
                    for (var, value) in vars {
                        let value = match value {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        policy.grants.env.retain(|(n, _)| *n != var);
                        policy.grants.env.push((var, value));
                    }
                }
            }
            _ => {}
        }
    }
    if policy.catch.is_some() && step.foreach.is_some() {
        return Err(PolicyError::CatchOnForeach {
            step: name.to_string(),
        });
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(decorators: Vec<Decorator>) -> Step {
        let mut step = Step::linear("train", ["end"]);
        step.decorators = decorators;
        step
    }

    #[test]
    fn resources_timeout_and_retry_are_read() {
        let s = step(vec![
            Decorator::new("resources")
                .with_option("memory", "64")
                .with_option("cpu", "2"),
            Decorator::new("timeout")
                .with_option("minutes", "1")
                .with_option("seconds", "5"),
            Decorator::new("retry")
                .with_option("times", "2")
                .with_option("minutes_between_retries", "0"),
        ]);
        let p = step_policy(&s, &RunDefaults::default(), &Sandbox::default(), 4).unwrap();
        assert_eq!(p.limits.memory_bytes, 64 << 20);
        assert_eq!(p.cpu, 2);
        assert_eq!(p.limits.timeout, Some(Duration::from_secs(65)));
        assert_eq!((p.retries, p.retry_delay), (2, Duration::ZERO));
    }

    #[test]
    fn a_step_that_sees_the_outside_world_is_cached_only_when_it_says_so() {
        let policy = |decorators| {
            step_policy(
                &step(decorators),
                &RunDefaults::default(),
                &Sandbox::default(),
                4,
            )
        };
        let plain = policy(vec![
            Decorator::new("environment").with_option("vars", r#"{"A": 1}"#),
        ]);
        assert!(
            plain.unwrap().cacheable(),
            "@environment values are in the key"
        );
        let clock = policy(vec![Decorator::new("grant").with_option("clock", "true")]).unwrap();
        assert_eq!(
            (clock.cacheable(), clock.outside.clone()),
            (false, vec!["clock".to_string()])
        );
        let env = policy(vec![
            Decorator::new("grant").with_option("env", r#"["HOME"]"#),
        ])
        .unwrap();
        assert_eq!(
            (env.cacheable(), env.outside.clone()),
            (false, vec!["env HOME".to_string()])
        );
        let forced = policy(vec![
            Decorator::new("grant").with_option("random", "true"),
            Decorator::new("cache").with_option("enabled", "true"),
        ]);
        assert!(forced.unwrap().cacheable());
        let off = policy(vec![
            Decorator::new("cache").with_option("enabled", "false"),
        ]);
        assert!(!off.unwrap().cacheable());
        let bad = policy(vec![
            Decorator::new("cache").with_option("enabled", "\"yes\""),
        ]);
        assert!(bad.unwrap_err().to_string().contains("@cache(True)"));
    }

    #[test]
    fn environment_vars_reach_the_step_with_their_values() {
        let s = step(vec![
            Decorator::new("environment").with_option("vars", r#"{"MODE": "fast", "DEPTH": 3}"#),
        ]);
        let p = step_policy(&s, &RunDefaults::default(), &Sandbox::default(), 4).unwrap();
        let mut env = p.grants.env.clone();
        env.sort();
        assert_eq!(
            env,
            [
                ("DEPTH".to_string(), "3".to_string()),
                ("MODE".to_string(), "fast".to_string())
            ]
        );
        let bad = step(vec![
            Decorator::new("environment").with_option("vars", r#"["MODE"]"#),
        ]);
        let err = step_policy(&bad, &RunDefaults::default(), &Sandbox::default(), 4).unwrap_err();
        assert!(err.to_string().contains("takes a dict"), "{err}");
    }

    #[test]
    fn a_grant_outside_the_flow_needs_allow_dir() {
        let flow = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let s = step(vec![Decorator::new("grant").with_option(
            "read",
            format!("{{\"/data\": {:?}}}", outside.path().display().to_string()),
        )]);
        let mut sandbox = Sandbox {
            flow_dir: Some(flow.path().to_path_buf()),
            allowed_dirs: Vec::new(),
        };
        let err = step_policy(&s, &RunDefaults::default(), &sandbox, 2).unwrap_err();
        assert!(
            err.to_string().contains("outside the flow's directory"),
            "{err}"
        );
        assert!(err.to_string().contains("--allow-dir"), "{err}");
        sandbox.allowed_dirs.push(outside.path().to_path_buf());
        let p = step_policy(&s, &RunDefaults::default(), &sandbox, 2).unwrap();
        assert_eq!(p.grants.dirs[0].guest, "/data");
        assert!(!p.grants.dirs[0].writable);
    }

    #[test]
    fn catch_cannot_go_on_a_foreach() {
        let mut s = Step::foreach("start", "train", "xs");
        s.decorators.push(Decorator::new("catch"));
        assert!(step_policy(&s, &RunDefaults::default(), &Sandbox::default(), 2).is_err());
    }
}
