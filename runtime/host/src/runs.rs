//! The host side of the contract's `runs` import (since 0.1.4): other runs
//! of the datastore, read-only, for Metaflow's client inside a step.
//!
//! Each answer is recorded with the task by the blake3 of its canonical
//! form (`RunsRead`): what a task computed can depend on another flow's
//! runs only through these answers, so the cache and replay can tell
//! whether it would see the same thing again. A value is given only by a
//! hash that an answer named, so a step reads nothing it was not shown.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use mfw_graph::{BlobHash, is_identifier};
use serde::{Deserialize, Serialize};

use crate::bindings::mfw::flow::runs::{self, ReadError as WitReadError};
use crate::task::{BlobError, Running, TaskFailure, TaskState};

/// Reads other runs for tasks: the datastore the run writes to, as the
/// orchestrator gives it. Calls block; tasks run on blocking threads.
///
/// ```
/// use mfw_host::{ReadError, RunReader, RunView, TaskView};
/// struct Nothing;
/// impl RunReader for Nothing {
///     fn default_namespace(&self) -> Result<String, ReadError> { Ok("user:alice".into()) }
///     fn trigger(&self) -> Result<Option<mfw_host::TriggerView>, ReadError> { Ok(None) }
///     fn flows(&self) -> Result<Vec<String>, ReadError> { Ok(vec![]) }
///     fn run_ids(&self, flow: &str) -> Result<Vec<String>, ReadError> {
///         Err(ReadError::NotFound(format!("flow {flow} has no runs")))
///     }
///     fn run(&self, flow: &str, id: &str) -> Result<RunView, ReadError> {
///         Err(ReadError::NotFound(format!("no run {flow}/{id}")))
///     }
///     fn tasks(&self, _: &str, _: &str, _: &str) -> Result<Vec<TaskView>, ReadError> {
///         Ok(vec![])
///     }
///     fn value(&self, hash: &mfw_graph::BlobHash) -> Result<bytes::Bytes, ReadError> {
///         Err(ReadError::NotFound(format!("no value {hash}")))
///     }
/// }
/// ```
pub trait RunReader: Send + Sync {
    /// The namespace a task reads runs in by default: `user:` whoever
    /// started its run.
    fn default_namespace(&self) -> Result<String, ReadError>;
    /// What started the task's run, if a trigger did.
    fn trigger(&self) -> Result<Option<TriggerView>, ReadError>;
    /// The flows that have runs, sorted.
    fn flows(&self) -> Result<Vec<String>, ReadError>;
    /// The ids of `flow`'s runs, newest first.
    fn run_ids(&self, flow: &str) -> Result<Vec<String>, ReadError>;
    /// One run.
    fn run(&self, flow: &str, id: &str) -> Result<RunView, ReadError>;
    /// The tasks of one step of a run, in foreach order.
    fn tasks(&self, flow: &str, run: &str, step: &str) -> Result<Vec<TaskView>, ReadError>;
    /// A stored value, verified.
    fn value(&self, hash: &BlobHash) -> Result<Bytes, ReadError>;
}

/// Why a [`RunReader`] has no answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// There is no such flow, run, step or value; the message says which.
    #[error("{0}")]
    NotFound(String),
    /// The datastore failed.
    #[error(transparent)]
    Storage(#[from] BlobError),
}

/// One run, as a step is shown it (the contract's `run-summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    /// The flow.
    pub flow: String,
    /// The run id.
    pub id: String,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// When it started, ms since the epoch.
    pub started_ms: u64,
    /// When it finished.
    pub finished_ms: Option<u64>,
    /// The users' tags, sorted.
    pub user_tags: Vec<String>,
    /// mfw's tags, sorted.
    pub system_tags: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The run it resumed.
    pub origin_run_id: Option<String>,
    /// Its graph's steps, in order.
    pub steps: Vec<String>,
    /// Its parameters' values, by name.
    pub parameters: BTreeMap<String, BlobHash>,
}

/// What started a run (the contract's `trigger-info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerView {
    /// `run` or `event`.
    pub kind: String,
    /// The triggering run's flow.
    pub flow: Option<String>,
    /// The triggering run's id.
    pub run_id: Option<String>,
    /// The event's name.
    pub event: Option<String>,
    /// The event's payload, a JSON object's text.
    pub payload: Option<String>,
}

/// One task of a run, as a step is shown it (the contract's
/// `task-summary`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// Its step.
    pub step: String,
    /// Its id.
    pub id: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Its artifacts' values, by name.
    pub artifacts: BTreeMap<String, BlobHash>,
    /// Its index in the innermost foreach.
    pub foreach_index: Option<u32>,
    /// The run it was reused from.
    pub cloned_from: Option<String>,
    /// Whether the cache gave it.
    pub cached: bool,
    /// Its last attempt's stdout.
    pub stdout: Option<BlobHash>,
    /// Its last attempt's stderr.
    pub stderr: Option<BlobHash>,
    /// Why its last attempt failed.
    pub exception: Option<String>,
}

/// Where a task's reads of other runs go: a reader, or none where the
/// task cannot read runs (a remote worker without a datastore reader).
#[derive(Clone, Default)]
pub struct RunsAccess(pub Option<Arc<dyn RunReader>>);

impl std::fmt::Debug for RunsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "RunsAccess(reader)"
        } else {
            "RunsAccess(none)"
        })
    }
}

/// What a task read of other runs: each question (`run TrainFlow/7`)
/// with the blake3 of the answer it was given (its canonical JSON).
pub type RunsRead = BTreeMap<String, BlobHash>;

/// What one task has read so far.
#[derive(Default)]
pub(crate) struct Reads {
    /// Question → answer hash.
    pub(crate) answers: RunsRead,
    /// The answers' bytes, stored with the task's values so that what it
    /// was shown can be shown again.
    pub(crate) answer_bytes: Vec<(BlobHash, Bytes)>,
    /// The value hashes the answers named: the only ones `value` gives.
    shown: HashSet<BlobHash>,
}

fn invalid(what: &str, name: &str, fix: &str) -> WitReadError {
    WitReadError::InvalidName(format!(
        "`{}` is not a {what} name: {fix}",
        name.escape_debug()
    ))
}

fn check_flow(flow: &str) -> Result<(), WitReadError> {
    if is_identifier(flow) {
        Ok(())
    } else {
        Err(invalid("flow", flow, "flows are named like identifiers"))
    }
}

fn check_run(id: &str) -> Result<(), WitReadError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "run",
            id,
            "run ids are letters, digits, `-`, `_` and `.`",
        ))
    }
}

fn check_step(step: &str) -> Result<(), WitReadError> {
    if is_identifier(step) {
        Ok(())
    } else {
        Err(invalid("step", step, "steps are named like identifiers"))
    }
}

/// A question a task asked of other runs; recorded as its text
/// (`run TrainFlow/7`) with the hash of its answer.
///
/// ```
/// use mfw_host::Question;
/// let q = Question::Run { flow: "TrainFlow".into(), id: "7".into() };
/// assert_eq!(q.to_string(), "run TrainFlow/7");
/// assert_eq!("run TrainFlow/7".parse::<Question>(), Ok(q));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// The default namespace (it depends on who started the run).
    DefaultNamespace,
    /// What started the run.
    Trigger,
    /// The flows that have runs.
    Flows,
    /// A flow's run ids.
    RunIds {
        /// The flow.
        flow: String,
    },
    /// One run.
    Run {
        /// The flow.
        flow: String,
        /// The run.
        id: String,
    },
    /// The tasks of one step of a run.
    Tasks {
        /// The flow.
        flow: String,
        /// The run.
        run: String,
        /// The step.
        step: String,
    },
}

impl std::fmt::Display for Question {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Question::DefaultNamespace => write!(f, "default-namespace"),
            Question::Trigger => write!(f, "trigger"),
            Question::Flows => write!(f, "flows"),
            Question::RunIds { flow } => write!(f, "run-ids {flow}"),
            Question::Run { flow, id } => write!(f, "run {flow}/{id}"),
            Question::Tasks { flow, run, step } => write!(f, "tasks {flow}/{run}/{step}"),
        }
    }
}

/// Text that is not a [`Question`] (a recorded read that was damaged, or
/// written by another version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a question about runs", .0.escape_debug())]
pub struct NotAQuestion(pub String);

impl std::str::FromStr for Question {
    type Err = NotAQuestion;

    fn from_str(text: &str) -> Result<Self, NotAQuestion> {
        let bad = || NotAQuestion(text.to_string());
        let (kind, rest) = text.split_once(' ').unwrap_or((text, ""));
        let parts: Vec<&str> = rest.split('/').collect();
        let question = match (kind, parts.as_slice()) {
            ("default-namespace", [""]) => Question::DefaultNamespace,
            ("trigger", [""]) => Question::Trigger,
            ("flows", [""]) => Question::Flows,
            ("run-ids", [flow]) => Question::RunIds {
                flow: flow.to_string(),
            },
            ("run", [flow, id]) => Question::Run {
                flow: flow.to_string(),
                id: id.to_string(),
            },
            ("tasks", [flow, run, step]) => Question::Tasks {
                flow: flow.to_string(),
                run: run.to_string(),
                step: step.to_string(),
            },
            _ => return Err(bad()),
        };
        question.check().map_err(|_| bad())?;
        Ok(question)
    }
}

/// An answer to a [`Question`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Flow names, or run ids.
    Names(Vec<String>),
    /// One run.
    Run(Box<RunView>),
    /// Tasks.
    Tasks(Vec<TaskView>),
    /// What started the run.
    Trigger(Option<TriggerView>),
}

impl Answer {
    /// Its canonical form (JSON), whose blake3 is recorded.
    pub fn bytes(&self) -> Bytes {
        let json = match self {
            Answer::Names(names) => serde_json::to_vec(names),
            Answer::Run(run) => serde_json::to_vec(run),
            Answer::Tasks(tasks) => serde_json::to_vec(tasks),
            Answer::Trigger(trigger) => serde_json::to_vec(trigger),
        };
        // Plain data (strings, numbers, maps with string keys) always
        // serializes.
        Bytes::from(json.unwrap_or_default())
    }

    /// The value hashes it names.
    fn shows(&self) -> Vec<BlobHash> {
        match self {
            Answer::Names(_) | Answer::Trigger(_) => Vec::new(),
            Answer::Run(run) => run.parameters.values().copied().collect(),
            Answer::Tasks(tasks) => tasks
                .iter()
                .flat_map(|t| t.artifacts.values().chain(&t.stdout).chain(&t.stderr))
                .copied()
                .collect(),
        }
    }
}

/// The canonical form of what asking gave, to record: an answer, or that
/// there was nothing to answer (which the task may have acted on too); a
/// failing datastore is no answer (`None`).
pub fn recorded_form(asked: &Result<Answer, ReadError>) -> Option<Bytes> {
    match asked {
        Ok(answer) => Some(answer.bytes()),
        Err(ReadError::NotFound(message)) => {
            let json = serde_json::json!({ NOT_FOUND: message });
            Some(Bytes::from(json.to_string().into_bytes()))
        }
        Err(ReadError::Storage(_)) => None,
    }
}

/// The key of a recorded "nothing there" answer.
const NOT_FOUND: &str = "not_found";

impl Question {
    fn check(&self) -> Result<(), WitReadError> {
        match self {
            Question::DefaultNamespace | Question::Trigger | Question::Flows => Ok(()),
            Question::RunIds { flow } => check_flow(flow),
            Question::Run { flow, id } => check_flow(flow).and_then(|_| check_run(id)),
            Question::Tasks { flow, run, step } => check_flow(flow)
                .and_then(|_| check_run(run))
                .and_then(|_| check_step(step)),
        }
    }

    /// Asks `reader`.
    pub fn ask(&self, reader: &dyn RunReader) -> Result<Answer, ReadError> {
        Ok(match self {
            Question::DefaultNamespace => Answer::Names(vec![reader.default_namespace()?]),
            Question::Trigger => Answer::Trigger(reader.trigger()?),
            Question::Flows => Answer::Names(reader.flows()?),
            Question::RunIds { flow } => Answer::Names(reader.run_ids(flow)?),
            Question::Run { flow, id } => Answer::Run(Box::new(reader.run(flow, id)?)),
            Question::Tasks { flow, run, step } => Answer::Tasks(reader.tasks(flow, run, step)?),
        })
    }
}

/// A reader that gives the answers a task was given when it ran (for
/// replay): each question it asked, by the hash recorded with it, read back
/// from the values stored with the task. A question it did not ask then
/// has no answer.
///
/// ```
/// let recorded = mfw_host::RecordedRuns::new(Default::default(), std::sync::Arc::new(Nothing));
/// # struct Nothing;
/// # impl mfw_host::BlobSource for Nothing {
/// #     fn load(&self, h: &mfw_graph::BlobHash) -> Result<bytes::Bytes, mfw_host::BlobError> {
/// #         Err(mfw_host::BlobError::new(format!("no {h}")))
/// #     }
/// # }
/// use mfw_host::RunReader;
/// assert!(recorded.flows().is_err());
/// ```
pub struct RecordedRuns {
    answers: RunsRead,
    blobs: Arc<dyn crate::task::BlobSource>,
}

impl RecordedRuns {
    /// Answers from `answers` (a task record's), reading them from `blobs`.
    pub fn new(answers: RunsRead, blobs: Arc<dyn crate::task::BlobSource>) -> Self {
        Self { answers, blobs }
    }

    fn recorded<T: serde::de::DeserializeOwned>(&self, question: Question) -> Result<T, ReadError> {
        let text = question.to_string();
        let Some(hash) = self.answers.get(&text) else {
            return Err(ReadError::NotFound(format!(
                "the task did not ask `{text}` when it ran, so replay has no answer to give"
            )));
        };
        let bytes = self.blobs.load(hash)?;
        let damaged = |e: serde_json::Error| {
            ReadError::Storage(BlobError::new(format!("recorded answer {hash}: {e}")))
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(damaged)?;
        if let Some(message) = json.get(NOT_FOUND).and_then(|m| m.as_str()) {
            return Err(ReadError::NotFound(message.to_string()));
        }
        serde_json::from_value(json).map_err(damaged)
    }
}

impl RunReader for RecordedRuns {
    fn trigger(&self) -> Result<Option<TriggerView>, ReadError> {
        self.recorded(Question::Trigger)
    }
    fn default_namespace(&self) -> Result<String, ReadError> {
        let names: Vec<String> = self.recorded(Question::DefaultNamespace)?;
        names
            .into_iter()
            .next()
            .ok_or_else(|| ReadError::NotFound("no recorded namespace".into()))
    }
    fn flows(&self) -> Result<Vec<String>, ReadError> {
        self.recorded(Question::Flows)
    }
    fn run_ids(&self, flow: &str) -> Result<Vec<String>, ReadError> {
        self.recorded(Question::RunIds { flow: flow.into() })
    }
    fn run(&self, flow: &str, id: &str) -> Result<RunView, ReadError> {
        self.recorded(Question::Run {
            flow: flow.into(),
            id: id.into(),
        })
    }
    fn tasks(&self, flow: &str, run: &str, step: &str) -> Result<Vec<TaskView>, ReadError> {
        self.recorded(Question::Tasks {
            flow: flow.into(),
            run: run.into(),
            step: step.into(),
        })
    }
    fn value(&self, hash: &BlobHash) -> Result<Bytes, ReadError> {
        Ok(self.blobs.load(hash)?)
    }
}

impl Running {
    /// Asks the reader `question`, and records its answer.
    fn ask(&mut self, question: Question) -> Result<Answer, WitReadError> {
        question.check()?;
        let Some(reader) = self.spec.runs.0.clone() else {
            return Err(WitReadError::Storage(format!(
                "step `{}` cannot read other runs here: this worker was given no datastore \
                 reader; run the step locally or on a worker that mounts the datastore",
                self.spec.step
            )));
        };
        let text = question.to_string();
        let asked = question.ask(reader.as_ref());
        if let Some(bytes) = recorded_form(&asked) {
            let hash = BlobHash::of(&bytes);
            let reads = &mut self.reads;
            if reads.answers.insert(text.clone(), hash).is_none()
                && !reads.answer_bytes.iter().any(|(h, _)| *h == hash)
            {
                reads.answer_bytes.push((hash, bytes));
            }
        }
        let answer = match asked {
            Ok(answer) => answer,
            Err(ReadError::NotFound(message)) => return Err(WitReadError::NotFound(message)),
            Err(ReadError::Storage(e)) => {
                let message = format!(
                    "cannot answer `{text}` for task {}: {}",
                    self.spec.pathspec(),
                    crate::task::error_chain(&e)
                );
                // A task that could not see what it asked for must not
                // succeed as if the datastore had nothing to show.
                self.fail(TaskFailure::Host(message.clone()));
                return Err(WitReadError::Storage(message));
            }
        };
        let reads = &mut self.reads;
        reads.shown.extend(answer.shows());
        Ok(answer)
    }
}

impl runs::Host for TaskState {
    fn default_namespace(&mut self) -> Result<String, WitReadError> {
        let task = self.running().map_err(|_| no_task())?;
        match task.ask(Question::DefaultNamespace)? {
            Answer::Names(mut names) if names.len() == 1 => Ok(names.remove(0)),
            _ => Err(mismatched()),
        }
    }

    fn trigger(&mut self) -> Result<Option<runs::TriggerInfo>, WitReadError> {
        let task = self.running().map_err(|_| no_task())?;
        let Answer::Trigger(trigger) = task.ask(Question::Trigger)? else {
            return Err(mismatched());
        };
        Ok(trigger.map(|t| runs::TriggerInfo {
            kind: t.kind,
            flow: t.flow,
            run_id: t.run_id,
            event: t.event,
            payload: t.payload,
        }))
    }

    fn flows(&mut self) -> Result<Vec<String>, WitReadError> {
        let task = self.running().map_err(|_| no_task())?;
        match task.ask(Question::Flows)? {
            Answer::Names(names) => Ok(names),
            _ => Err(mismatched()),
        }
    }

    fn run_ids(&mut self, flow: String) -> Result<Vec<String>, WitReadError> {
        let task = self.running().map_err(|_| no_task())?;
        match task.ask(Question::RunIds { flow })? {
            Answer::Names(ids) => Ok(ids),
            _ => Err(mismatched()),
        }
    }

    fn run(&mut self, flow: String, id: String) -> Result<runs::RunSummary, WitReadError> {
        let task = self.running().map_err(|_| no_task())?;
        let Answer::Run(view) = task.ask(Question::Run { flow, id })? else {
            return Err(mismatched());
        };
        Ok(runs::RunSummary {
            flow: view.flow,
            id: view.id,
            status: view.status,
            started_ms: view.started_ms,
            finished_ms: view.finished_ms,
            user_tags: view.user_tags,
            system_tags: view.system_tags,
            error: view.error,
            origin_run_id: view.origin_run_id,
            steps: view.steps,
            parameters: hashes(view.parameters),
        })
    }

    fn tasks(
        &mut self,
        flow: String,
        run: String,
        step: String,
    ) -> Result<Vec<runs::TaskSummary>, WitReadError> {
        let task = self.running().map_err(|_| no_task())?;
        let Answer::Tasks(views) = task.ask(Question::Tasks { flow, run, step })? else {
            return Err(mismatched());
        };
        Ok(views
            .into_iter()
            .map(|v| runs::TaskSummary {
                step: v.step,
                id: v.id,
                status: v.status,
                artifacts: hashes(v.artifacts),
                foreach_index: v.foreach_index,
                cloned_from: v.cloned_from,
                cached: v.cached,
                stdout: v.stdout.map(|h| h.to_string()),
                stderr: v.stderr.map(|h| h.to_string()),
                exception: v.exception,
            })
            .collect())
    }

    fn value_by_hash(&mut self, hash: String) -> Result<Vec<u8>, WitReadError> {
        let parsed: BlobHash = hash
            .parse()
            .map_err(|_| invalid("value", &hash, "give a hash an answer named"))?;
        let task = self.running().map_err(|_| no_task())?;
        if !task.reads.shown.contains(&parsed) {
            return Err(WitReadError::NotFound(format!(
                "no value {parsed} was named by what this task read: ask for the run or \
                 its tasks first"
            )));
        }
        let reader = task.spec.runs.0.clone();
        let Some(reader) = reader else {
            return Err(WitReadError::NotFound(format!("no value {parsed}")));
        };
        match reader.value(&parsed) {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(ReadError::NotFound(m)) => Err(WitReadError::NotFound(m)),
            Err(ReadError::Storage(e)) => {
                let message = format!(
                    "cannot read value {parsed} for task {}: {}",
                    task.spec.pathspec(),
                    crate::task::error_chain(&e)
                );
                task.fail(TaskFailure::Host(message.clone()));
                Err(WitReadError::Storage(message))
            }
        }
    }
}

fn hashes(map: BTreeMap<String, BlobHash>) -> Vec<(String, String)> {
    map.into_iter().map(|(k, h)| (k, h.to_string())).collect()
}

fn mismatched() -> WitReadError {
    WitReadError::Storage("mfw answered a question about runs with another kind of answer".into())
}

fn no_task() -> WitReadError {
    WitReadError::Storage("no task is running: `graph` must not read runs".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_flows_directory_are_refused() {
        assert!(check_run("17").is_ok());
        assert!(check_run("1700000000-ab12").is_ok());
        for bad in ["", "..", "../x", "a/b", ".hidden", "a\0b", &"1".repeat(129)] {
            assert!(check_run(bad).is_err(), "{bad:?}");
        }
        assert!(check_flow("TrainFlow").is_ok());
        for bad in ["", "../Train", "Train/x", "a b"] {
            assert!(check_flow(bad).is_err(), "{bad:?}");
        }
        assert!(check_step("../end").is_err());
    }

    #[test]
    fn questions_read_back_as_written_and_bad_ones_are_refused() {
        let questions = [
            Question::DefaultNamespace,
            Question::Trigger,
            Question::Flows,
            Question::RunIds { flow: "A".into() },
            Question::Run {
                flow: "A".into(),
                id: "12".into(),
            },
            Question::Tasks {
                flow: "A".into(),
                run: "12".into(),
                step: "end".into(),
            },
        ];
        for q in questions {
            assert_eq!(q.to_string().parse::<Question>(), Ok(q));
        }
        for bad in [
            "",
            "run A",
            "run ../A/1",
            "tasks A/1",
            "flows x",
            "steal A/1",
        ] {
            assert!(bad.parse::<Question>().is_err(), "{bad:?}");
        }
    }
}
