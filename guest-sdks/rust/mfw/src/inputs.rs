//! A join step's inputs.

use serde::de::DeserializeOwned;

use crate::__bindings::mfw::flow::artifacts;
use crate::Error;
use crate::context::{artifact_error, decode};

/// The inputs of a join: one per branch of a split, or one per item of a
/// foreach, in order.
///
/// ```ignore
/// #[step]
/// fn join(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
///     let rmses: Vec<f64> = inputs.values("rmse")?;
///     let a: i64 = inputs.step("a")?.get("x")?;   // Metaflow's inputs.a.x
///     cx.set("best_rmse", &rmses.iter().cloned().fold(f64::INFINITY, f64::min))?;
///     cx.next("end")
/// }
/// ```
pub struct Inputs {
    count: u32,
}

/// One input of a join.
#[derive(Debug, Clone)]
pub struct Input {
    index: u32,
    step: String,
}

impl Inputs {
    #[doc(hidden)]
    pub fn current() -> Self {
        Self {
            count: artifacts::input_count(),
        }
    }

    /// How many inputs there are.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether there are none (never, in a join).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The input at `index`.
    pub fn get(&self, index: usize) -> Option<Input> {
        let index = u32::try_from(index).ok().filter(|i| *i < self.count)?;
        let step = artifacts::input_step(index).ok()?;
        Some(Input { index, step })
    }

    /// Every input, in order.
    pub fn iter(&self) -> impl Iterator<Item = Input> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The input that came from step `name` (Metaflow's `inputs.name`).
    pub fn step(&self, name: &str) -> Result<Input, Error> {
        self.iter().find(|i| i.step == name).ok_or_else(|| {
            let steps: Vec<String> = self.iter().map(|i| i.step).collect();
            Error::with_kind(
                "NoSuchInput",
                format!(
                    "no input comes from step `{name}` (inputs come from: {})",
                    steps.join(", ")
                ),
            )
        })
    }

    /// Artifact `name` of every input, in order.
    pub fn values<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, Error> {
        self.iter().map(|input| input.get(name)).collect()
    }
}

impl Input {
    /// Its position among the inputs.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// The step it came from.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// Its artifact `name`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let bytes = artifacts::input_get(self.index, name).map_err(artifact_error)?;
        decode(
            &bytes,
            &format!("artifact `{name}` of input {} ({})", self.index, self.step),
        )
    }

    /// Its artifact names, sorted.
    pub fn names(&self) -> Vec<String> {
        artifacts::input_names(self.index).unwrap_or_default()
    }
}
