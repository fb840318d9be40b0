//! What a task chose with `next`, checked against what its step declares.

use serde::{Deserialize, Serialize};

use crate::Step;

/// The `next` call a task made.
///
/// ```
/// use mfw_graph::{Step, Transition};
/// let start = Step::linear("start", ["end"]);
/// assert!(Transition::Steps(vec!["end".into()]).check(&start).is_ok());
/// let err = Transition::Steps(vec!["ned".into()]).check(&start).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "step `start` called next(ned) but its graph declares next(end)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// `next(a)` or the split `next(a, b)`.
    Steps(Vec<String>),
    /// `next(step, foreach=over)`, fanning out into `count` tasks.
    Foreach {
        /// The target step.
        step: String,
        /// The list artifact.
        over: String,
    },
}

/// A `next` that does not match the declared transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("step `{step}` called {called} but its graph declares {declared}")]
pub struct TransitionError {
    /// The step that called `next`.
    pub step: String,
    /// What it called, as `next(a, b)` or `next(a, foreach=x)`.
    pub called: String,
    /// What it declares, as `next(...)` or `no next (it is the end step)`.
    pub declared: String,
}

impl Transition {
    /// The transition `step` declares.
    pub fn declared_by(step: &Step) -> Option<Transition> {
        if step.next.is_empty() {
            return None;
        }
        Some(match (&step.foreach, step.next.as_slice()) {
            (Some(over), [target]) => Transition::Foreach {
                step: target.clone(),
                over: over.clone(),
            },
            _ => Transition::Steps(step.next.clone()),
        })
    }

    /// Checks that this is exactly what `step` declares: for a switch,
    /// one of its cases' steps.
    ///
    /// ```
    /// use mfw_graph::{Step, Transition};
    /// let start = Step::switch("start", "mode", [("1", "a"), ("2", "b")]);
    /// assert!(Transition::Steps(vec!["b".into()]).check(&start).is_ok());
    /// assert!(Transition::Steps(vec!["a".into(), "b".into()]).check(&start).is_err());
    /// ```
    pub fn check(&self, step: &Step) -> Result<(), TransitionError> {
        let declared = Transition::declared_by(step);
        let matches = match (&step.switch, self) {
            (Some(_), Transition::Steps(chosen)) => {
                matches!(chosen.as_slice(), [one] if step.next.contains(one))
            }
            (Some(_), Transition::Foreach { .. }) => false,
            (None, _) => declared.as_ref() == Some(self),
        };
        if matches {
            return Ok(());
        }
        Err(TransitionError {
            step: step.name.clone(),
            called: self.to_string(),
            declared: Transition::declared_text(step),
        })
    }

    /// What `step` declares, as messages show it: `next(a, b)`,
    /// `next(a, foreach=xs)`, a switch's cases, or that it ends the flow.
    pub fn declared_text(step: &Step) -> String {
        match (&step.switch, Transition::declared_by(step)) {
            (Some(switch), _) => switch.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "no next (it ends the flow)".to_string(),
        }
    }

    /// The steps this transition goes to.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Transition::Steps(steps) => steps.iter().map(String::as_str).collect(),
            Transition::Foreach { step, .. } => vec![step.as_str()],
        }
    }
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transition::Steps(steps) => write!(f, "next({})", steps.join(", ")),
            Transition::Foreach { step, over } => write!(f, "next({step}, foreach={over})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_must_name_every_branch_in_order() {
        let start = Step::linear("start", ["a", "b"]);
        assert!(
            Transition::Steps(vec!["a".into(), "b".into()])
                .check(&start)
                .is_ok()
        );
        let err = Transition::Steps(vec!["a".into()])
            .check(&start)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `start` called next(a) but its graph declares next(a, b)"
        );
    }

    #[test]
    fn a_foreach_must_name_its_artifact() {
        let start = Step::foreach("start", "train", "n_trees");
        let ok = Transition::Foreach {
            step: "train".into(),
            over: "n_trees".into(),
        };
        assert!(ok.check(&start).is_ok());
        let wrong = Transition::Foreach {
            step: "train".into(),
            over: "depths".into(),
        };
        assert_eq!(
            wrong.check(&start).unwrap_err().to_string(),
            "step `start` called next(train, foreach=depths) but its graph declares \
             next(train, foreach=n_trees)"
        );
        let plain = Transition::Steps(vec!["train".into()]);
        assert!(plain.check(&start).is_err());
    }

    #[test]
    fn a_switch_goes_to_exactly_one_of_its_cases() {
        let start = Step::switch("start", "mode", [("\"a\"", "a"), ("\"b\"", "b")]);
        for chosen in ["a", "b"] {
            assert!(Transition::Steps(vec![chosen.into()]).check(&start).is_ok());
        }
        let both = Transition::Steps(vec!["a".into(), "b".into()]);
        assert_eq!(
            both.check(&start).unwrap_err().to_string(),
            "step `start` called next(a, b) but its graph declares \
             next({\"a\": a, \"b\": b}, condition=mode)"
        );
        assert!(Transition::Steps(vec!["end".into()]).check(&start).is_err());
        let fanned = Transition::Foreach {
            step: "a".into(),
            over: "mode".into(),
        };
        assert!(fanned.check(&start).is_err());
    }

    #[test]
    fn the_end_step_has_no_next() {
        let err = Transition::Steps(vec!["start".into()])
            .check(&Step::end())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `end` called next(start) but its graph declares no next (it ends the flow)"
        );
    }
}
