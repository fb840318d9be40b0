//! What a step sees: its artifacts, its foreach item, the run's parameters,
//! who it is, and where it goes next.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__bindings::mfw::flow::types::ArtifactError;
use crate::__bindings::mfw::flow::{artifacts, control, logging, task_info};
use crate::{Error, StepResult, Value};

/// Converts a host refusal into a step error with a kind a user can match.
pub(crate) fn artifact_error(error: ArtifactError) -> Error {
    match error {
        ArtifactError::NotFound(m) => Error::with_kind("ArtifactNotFound", m),
        ArtifactError::InvalidName(m) => Error::with_kind("InvalidArtifactName", m),
        ArtifactError::InvalidValue(m) => Error::with_kind("InvalidArtifactValue", m),
        ArtifactError::TooLarge(limit) => Error::with_kind(
            "ArtifactTooLarge",
            format!("the value is larger than the limit of {limit} bytes"),
        ),
        ArtifactError::NoSuchInput(count) => {
            Error::with_kind("NoSuchInput", format!("this join has {count} inputs"))
        }
        ArtifactError::Storage(m) => Error::with_kind("StorageError", m),
    }
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    mfw_encoding::from_slice(bytes).map_err(|e| {
        Error::with_kind(
            "ArtifactTypeError",
            format!(
                "{what} cannot be read as {}: {e}",
                std::any::type_name::<T>()
            ),
        )
    })
}

/// Who the running task is (Metaflow's `current`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// The flow's name.
    pub flow_name: String,
    /// The run.
    pub run_id: String,
    /// The step.
    pub step_name: String,
    /// The task: `0`, or foreach indices joined by `.`.
    pub task_id: String,
    /// 0 on the first attempt.
    pub retry_count: u32,
}

/// The run a task belongs to (Metaflow's `current.username`, `tags`,
/// `origin_run_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// Who started the run; its namespace is `user:` this.
    pub username: String,
    /// The user's tags and mfw's (`user:NAME`, `runtime:mfw`...), sorted.
    pub tags: Vec<String>,
    /// The run this one resumed, if it is a resumed run.
    pub origin_run_id: Option<String>,
}

/// One enclosing foreach, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeachFrame {
    /// The step that fanned out.
    pub step: String,
    /// The artifact it fanned out over.
    pub over: String,
    /// This task's index in it.
    pub index: u32,
    /// How many items it had.
    pub count: u32,
}

/// How much a log message matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Progress.
    Info,
    /// Something odd but not fatal.
    Warn,
    /// Something failed.
    Error,
}

/// The running task's view of the flow. Every method talks to the host.
///
/// ```ignore
/// #[step]
/// fn train(&self, cx: &mut Context) -> StepResult {
///     let n_trees: u32 = cx.input()?;
///     cx.set("rmse", &fit(n_trees))?;
///     cx.next("join")
/// }
/// ```
pub struct Context {
    cards: crate::cards::Cards,
}

impl Context {
    #[doc(hidden)]
    pub fn new() -> Self {
        Self {
            cards: Default::default(),
        }
    }

    /// The task's default card (it also shows the task's artifacts and the
    /// flow's graph): `cx.card().append(Markdown::new("# Results"))`.
    pub fn card(&mut self) -> crate::cards::CardRef<'_> {
        self.card_id(crate::cards::DEFAULT)
    }

    /// The blank card `id` (Metaflow's `current.card["id"]`).
    pub fn card_id(&mut self, id: &str) -> crate::cards::CardRef<'_> {
        crate::cards::CardRef {
            cards: &mut self.cards,
            id: id.to_string(),
        }
    }

    /// Hands the host the task's cards (when its step succeeded).
    #[doc(hidden)]
    pub fn store_cards(&mut self) -> Result<(), Error> {
        for (key, document) in self.cards.documents() {
            crate::__bindings::mfw::flow::objects::put(&key, &document).map_err(Error::from)?;
        }
        Ok(())
    }

    /// Reads artifact `name` as `T`: set earlier in this step, or inherited
    /// from the step before.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let bytes = artifacts::get(name).map_err(artifact_error)?;
        decode(&bytes, &format!("artifact `{name}`"))
    }

    /// Reads artifact `name` as a dynamically typed [`Value`].
    pub fn get_value(&self, name: &str) -> Result<Value, Error> {
        let bytes = artifacts::get(name).map_err(artifact_error)?;
        Ok(mfw_encoding::decode(&bytes)?)
    }

    /// Whether artifact `name` is visible to this task.
    pub fn has(&self, name: &str) -> bool {
        artifacts::names().iter().any(|n| n == name)
    }

    /// Sets artifact `name`; it is stored when the step succeeds and the
    /// next steps inherit it.
    pub fn set<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), Error> {
        let bytes = mfw_encoding::to_vec(value)?;
        Context::set_encoded(name, &bytes)
    }

    /// Sets artifact `name` to a dynamically typed [`Value`]: how a Rust
    /// step writes a numpy array or a table for a Python step.
    ///
    /// ```ignore
    /// let ranks = mfw::NdArray::from_f64(vec![3], &[0.5, 0.25, 0.25])?;
    /// cx.set_value("ranks", &ranks.to_value())?;
    /// ```
    pub fn set_value(&mut self, name: &str, value: &Value) -> Result<(), Error> {
        Context::set_encoded(name, &mfw_encoding::encode(value))
    }

    /// Removes artifact `name` from this task and the steps after it.
    pub fn remove(&mut self, name: &str) -> Result<(), Error> {
        artifacts::remove(name).map_err(artifact_error)
    }

    /// The names of the artifacts this task sees, sorted.
    pub fn names(&self) -> Vec<String> {
        artifacts::names()
    }

    /// This task's item of the innermost foreach (Metaflow's `self.input`).
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let bytes = control::foreach_input().ok_or_else(|| {
            Error::with_kind("NotInForeach", "this step does not run inside a foreach")
        })?;
        decode(&bytes, "the foreach input")
    }

    /// This task's index in the innermost foreach (Metaflow's `self.index`).
    pub fn index(&self) -> Option<u32> {
        control::foreach_index()
    }

    /// Every enclosing foreach, outermost first.
    pub fn foreach_stack(&self) -> Vec<ForeachFrame> {
        control::foreach_stack()
            .into_iter()
            .map(|f| ForeachFrame {
                step: f.step,
                over: f.over,
                index: f.index,
                count: f.count,
            })
            .collect()
    }

    /// The run's value of parameter `name`. Parameters are also the flow
    /// struct's fields, which is usually handier.
    pub fn parameter<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let bytes = control::parameter(name).ok_or_else(|| {
            Error::with_kind(
                "ParameterNotFound",
                format!("the run has no value for parameter `{name}`"),
            )
        })?;
        decode(&bytes, &format!("parameter `{name}`"))
    }

    /// Who started the run, its tags and the run it resumed.
    ///
    /// ```ignore
    /// let run = cx.run();
    /// if run.tags.iter().any(|t| t == "nightly") { /* ... */ }
    /// ```
    pub fn run(&self) -> RunInfo {
        let run = task_info::run();
        RunInfo {
            username: run.user,
            tags: run.tags,
            origin_run_id: run.origin_run_id,
        }
    }

    /// Who this task is.
    pub fn current(&self) -> Current {
        let task = task_info::current();
        Current {
            flow_name: task.flow,
            run_id: task.run_id,
            step_name: task.step,
            task_id: task.task_id,
            retry_count: task.attempt,
        }
    }

    /// Continues to `steps`: one step (`cx.next("end")`) or a static split
    /// (`cx.next(["a", "b"])`). Write the names as literals: the graph is
    /// read from them at build time.
    pub fn next<S: NextSteps>(&mut self, steps: S) -> StepResult {
        control::next(&steps.into_steps()).map_err(|m| Error::with_kind("InvalidNext", m))
    }

    /// Fans out: one task of `step` per item of the list artifact `over`
    /// (Metaflow's `self.next(self.step, foreach="over")`).
    pub fn next_foreach(&mut self, step: &str, over: &str) -> StepResult {
        control::next_foreach(step, over).map_err(|m| Error::with_kind("InvalidNext", m))
    }

    /// Goes to the one case that the artifact `condition` equals (Metaflow's
    /// `self.next({"fast": self.quick, "slow": self.careful}, condition="mode")`).
    /// Cases are string, integer or boolean literals; a case may be this
    /// step itself, which then runs again (a loop, one task per round).
    ///
    /// ```ignore
    /// cx.set("mode", "fast")?;
    /// cx.next_switch("mode", [("fast", "quick"), ("slow", "careful")])
    /// ```
    pub fn next_switch<C: SwitchCase, const N: usize>(
        &mut self,
        condition: &str,
        cases: [(C, &str); N],
    ) -> StepResult {
        let value = self.get_value(condition)?;
        let Some((_, step)) = cases.iter().find(|(case, _)| case.matches(&value)) else {
            let listed: Vec<String> = cases.iter().map(|(c, _)| c.shown()).collect();
            return Err(Error::with_kind(
                "InvalidNext",
                format!(
                    "the switch's condition `{condition}` is {value}, which is none of its cases \
                     [{}]",
                    listed.join(", ")
                ),
            ));
        };
        control::next(&[step.to_string()]).map_err(|m| Error::with_kind("InvalidNext", m))
    }

    /// Metaflow's `merge_artifacts(inputs, exclude=...)`: takes every artifact
    /// the inputs agree on that this join step has not set itself.
    pub fn merge_artifacts(&mut self, inputs: &crate::Inputs, exclude: &[&str]) -> StepResult {
        let _ = inputs;
        let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        artifacts::merge_artifacts(&exclude).map_err(|m| Error::with_kind("MergeConflict", m))
    }

    /// Writes `message` to the task's log at `level`.
    pub fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => logging::Level::Debug,
            Level::Info => logging::Level::Info,
            Level::Warn => logging::Level::Warn,
            Level::Error => logging::Level::Error,
        };
        logging::log(level, message);
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`Context::next`] accepts: one step name or several.
pub trait NextSteps {
    /// The step names.
    fn into_steps(self) -> Vec<String>;
}

impl NextSteps for &str {
    fn into_steps(self) -> Vec<String> {
        vec![self.to_string()]
    }
}

impl<const N: usize> NextSteps for [&str; N] {
    fn into_steps(self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }
}

impl<const N: usize> NextSteps for &[&str; N] {
    fn into_steps(self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }
}

impl NextSteps for &[&str] {
    fn into_steps(self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }
}

/// A value a switch case may be: text, an integer or a boolean, compared
/// with the condition artifact's value.
pub trait SwitchCase {
    /// Whether the condition's `value` is this case.
    fn matches(&self, value: &Value) -> bool;
    /// How an error shows the case.
    fn shown(&self) -> String;
}

impl SwitchCase for &str {
    fn matches(&self, value: &Value) -> bool {
        matches!(value, Value::Text(t) if t == self)
    }
    fn shown(&self) -> String {
        Value::Text(self.to_string()).to_string()
    }
}

impl SwitchCase for bool {
    fn matches(&self, value: &Value) -> bool {
        matches!(value, Value::Bool(b) if b == self)
    }
    fn shown(&self) -> String {
        self.to_string()
    }
}

macro_rules! integer_cases {
    ($($t:ty),*) => {$(
        impl SwitchCase for $t {
            fn matches(&self, value: &Value) -> bool {
                matches!(value, Value::Integer(i) if *i == i128::from(*self))
            }
            fn shown(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

integer_cases!(i32, i64, u32, u64);
