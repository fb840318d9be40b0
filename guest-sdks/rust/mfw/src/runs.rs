//! Other flows' runs, read-only: Metaflow's client inside a step. The host
//! answers and records each read with the task, so the cache reuses the
//! task only while those runs read the same, and replay gives it what it
//! read then (see docs/multi-flow.md).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::__bindings::mfw::flow::runs::{self, ReadError};
use crate::context::decode;
use crate::{Error, Value};

fn read_error(error: ReadError) -> Error {
    match error {
        ReadError::NotFound(m) => Error::with_kind("NotFound", m),
        ReadError::InvalidName(m) => Error::with_kind("InvalidName", m),
        ReadError::Storage(m) => Error::with_kind("StorageError", m),
    }
}

/// The runs of one flow, newest first, in a namespace: by default `user:`
/// whoever started this run, as in Metaflow.
///
/// ```ignore
/// #[step]
/// fn start(&self, cx: &mut Context) -> StepResult {
///     let Some(run) = mfw::Flow::new("TrainFlow")?.latest_successful_run()? else {
///         return Err(mfw::Error::msg("TrainFlow has not succeeded yet"));
///     };
///     let weights: Vec<f64> = run.task("end")?.get("weights")?;
///     cx.set("model_run", &run.id)?;
///     cx.next("end")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Flow {
    /// The flow's name.
    pub name: String,
    ids: Vec<String>,
    namespace: Option<String>,
}

impl Flow {
    /// The runs of flow `name` in the default namespace; an error if it has
    /// none.
    pub fn new(name: &str) -> Result<Self, Error> {
        let ids = runs::run_ids(name).map_err(read_error)?;
        let namespace = Some(runs::default_namespace().map_err(read_error)?);
        Ok(Self {
            name: name.to_string(),
            ids,
            namespace,
        })
    }

    /// The same flow read in another namespace (`user:alice`, a project's
    /// tag), or in every one with `None`.
    pub fn in_namespace(mut self, namespace: Option<&str>) -> Self {
        self.namespace = namespace.map(str::to_string);
        self
    }

    /// Every run in the namespace, newest first.
    pub fn runs(&self) -> impl Iterator<Item = Result<Run, Error>> + '_ {
        self.ids.iter().filter_map(move |id| match self.read(id) {
            Ok(run) if run.in_namespace(self.namespace.as_deref()) => Some(Ok(run)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// The newest run.
    pub fn latest_run(&self) -> Result<Option<Run>, Error> {
        self.runs().next().transpose()
    }

    /// The newest run that succeeded.
    pub fn latest_successful_run(&self) -> Result<Option<Run>, Error> {
        for run in self.runs() {
            let run = run?;
            if run.successful() {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// Run `id`, whatever its namespace.
    pub fn run(&self, id: &str) -> Result<Run, Error> {
        self.read(id)
    }

    fn read(&self, id: &str) -> Result<Run, Error> {
        let s = runs::run(&self.name, id).map_err(read_error)?;
        Ok(Run {
            flow: s.flow,
            id: s.id,
            status: s.status,
            started_ms: s.started_ms,
            finished_ms: s.finished_ms,
            user_tags: s.user_tags,
            system_tags: s.system_tags,
            error: s.error,
            origin_run_id: s.origin_run_id,
            steps: s.steps,
            parameters: s.parameters.into_iter().collect(),
        })
    }
}

/// One run of another flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Its flow.
    pub flow: String,
    /// Its id.
    pub id: String,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// When it started, ms since the epoch.
    pub started_ms: u64,
    /// When it finished.
    pub finished_ms: Option<u64>,
    /// The tags users gave it.
    pub user_tags: Vec<String>,
    /// mfw's tags (`user:NAME`, ...).
    pub system_tags: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The run it resumed.
    pub origin_run_id: Option<String>,
    /// Its graph's steps, in order.
    pub steps: Vec<String>,
    parameters: BTreeMap<String, String>,
}

impl Run {
    /// Whether every task succeeded.
    pub fn successful(&self) -> bool {
        self.status == "succeeded"
    }

    fn in_namespace(&self, namespace: Option<&str>) -> bool {
        // Runs recorded before mfw tagged runs belong to every namespace.
        namespace.is_none_or(|ns| {
            self.system_tags.is_empty()
                || self
                    .system_tags
                    .iter()
                    .chain(&self.user_tags)
                    .any(|t| t == ns)
        })
    }

    /// The run's parameter `name`, as `T`.
    pub fn parameter<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let Some(hash) = self.parameters.get(name) else {
            return Err(Error::with_kind(
                "NotFound",
                format!("run {}/{} has no parameter `{name}`", self.flow, self.id),
            ));
        };
        let bytes = runs::value_by_hash(hash).map_err(read_error)?;
        decode(
            &bytes,
            &format!("parameter `{name}` of {}/{}", self.flow, self.id),
        )
    }

    /// The tasks of `step`, in foreach order (empty if it did not run).
    pub fn tasks(&self, step: &str) -> Result<Vec<Task>, Error> {
        let tasks = runs::tasks(&self.flow, &self.id, step).map_err(read_error)?;
        Ok(tasks
            .into_iter()
            .map(|t| Task {
                pathspec: format!("{}/{}/{}/{}", self.flow, self.id, t.step, t.id),
                id: t.id,
                successful: t.status == "succeeded",
                index: t.foreach_index,
                cached: t.cached,
                artifacts: t.artifacts.into_iter().collect(),
            })
            .collect())
    }

    /// The first task of `step` (the only one outside a foreach).
    pub fn task(&self, step: &str) -> Result<Task, Error> {
        self.tasks(step)?.into_iter().next().ok_or_else(|| {
            Error::with_kind(
                "NotFound",
                format!("run {}/{} has no task of step `{step}`", self.flow, self.id),
            )
        })
    }
}

/// One task of another flow's run, and its artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// `Flow/run/step/task`.
    pub pathspec: String,
    /// Its id.
    pub id: String,
    /// Whether it succeeded.
    pub successful: bool,
    /// Its index in the innermost foreach.
    pub index: Option<u32>,
    /// Whether the cache gave it.
    pub cached: bool,
    artifacts: BTreeMap<String, String>,
}

impl Task {
    /// Its artifacts' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.artifacts.keys().cloned().collect()
    }

    /// Artifact `name`, as `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let bytes = self.bytes(name)?;
        decode(&bytes, &format!("artifact `{name}` of {}", self.pathspec))
    }

    /// Artifact `name`, dynamically typed.
    pub fn get_value(&self, name: &str) -> Result<Value, Error> {
        Ok(mfw_encoding::decode(&self.bytes(name)?)?)
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>, Error> {
        let Some(hash) = self.artifacts.get(name) else {
            return Err(Error::with_kind(
                "ArtifactNotFound",
                format!("task {} has no artifact `{name}`", self.pathspec),
            ));
        };
        runs::value_by_hash(hash).map_err(read_error)
    }
}

/// What started this run of a deployed flow (Metaflow's `current.trigger`):
/// another flow's run that succeeded, or an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A run of another flow succeeded.
    Run {
        /// Its flow.
        flow: String,
        /// Its id (`Flow::new(&flow)?.run(&id)` reads it).
        id: String,
    },
    /// An event was sent.
    Event {
        /// Its name.
        name: String,
        /// Its payload, a JSON object's text.
        payload: Option<String>,
    },
}

/// What started this run, or `None` when a user did.
///
/// ```ignore
/// if let Some(mfw::Trigger::Run { flow, id }) = mfw::trigger()? {
///     let model: Vec<f64> = mfw::Flow::new(&flow)?.run(&id)?.task("end")?.get("model")?;
/// }
/// ```
pub fn trigger() -> Result<Option<Trigger>, Error> {
    let Some(info) = runs::trigger().map_err(read_error)? else {
        return Ok(None);
    };
    Ok(Some(match (info.kind.as_str(), info.flow, info.run_id) {
        ("run", Some(flow), Some(id)) => Trigger::Run { flow, id },
        _ => Trigger::Event {
            name: info.event.unwrap_or_default(),
            payload: info.payload,
        },
    }))
}
