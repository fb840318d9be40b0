//! The checks every graph passes before any task runs, and what the
//! scheduler learns from them.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::{FlowGraph, Step, Switch, is_identifier};

/// One thing wrong with a graph. The message names the step and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphProblem {
    /// There is no `start` step.
    #[error("the flow has no `start` step; every flow begins with a step named `start`")]
    MissingStart,
    /// There is no `end` step.
    #[error("the flow has no `end` step; every flow finishes with a step named `end`")]
    MissingEnd,
    /// Two steps share a name.
    #[error("step `{0}` is defined more than once")]
    DuplicateStep(String),
    /// The flow's name is not an identifier (it names directories in the
    /// datastore, so it may hold no `/` or `..`).
    #[error(
        "`{}` is not a valid flow name: use letters, digits and `_`, starting with a letter \
         (a class name such as `TrainFlow`)",
        .0.escape_debug()
    )]
    InvalidFlowName(String),
    /// The graph is larger than a flow may be.
    #[error("the graph is too large: {0}")]
    TooLarge(String),
    /// A step name is not an identifier.
    #[error("`{0}` is not a valid step name: use letters, digits and `_`, starting with a letter")]
    InvalidStepName(String),
    /// A transition names a step that does not exist.
    #[error("step `{step}` goes to `{target}`, which is not a step of this flow")]
    UnknownTarget {
        /// The step with the transition.
        step: String,
        /// The missing step.
        target: String,
    },
    /// `end` declares a transition.
    #[error("step `end` must not call next: it ends the flow")]
    EndHasNext,
    /// A step other than `end` declares no transition.
    #[error("step `{0}` has no next: every step except `end` must call next")]
    NoNext(String),
    /// A foreach goes to several steps.
    #[error(
        "step `{step}` fans out with foreach, so it must go to exactly one step (it goes to {targets})"
    )]
    ForeachTargets {
        /// The foreach step.
        step: String,
        /// Its targets, comma-separated.
        targets: String,
    },
    /// A foreach names an artifact that cannot exist.
    #[error("step `{step}` fans out over `{over}`, which is not a valid artifact name")]
    InvalidForeachName {
        /// The foreach step.
        step: String,
        /// The bad artifact name.
        over: String,
    },
    /// `start` is declared as a join.
    #[error("step `start` is declared as a join, but nothing comes before it")]
    StartIsJoin,
    /// A step cannot be reached from `start`.
    #[error("step `{0}` is not reachable from `start`")]
    Unreachable(String),
    /// Transitions loop.
    #[error("steps form a cycle: {0}")]
    Cycle(String),
    /// A step with several inputs is not declared as a join.
    #[error(
        "step `{step}` has several inputs (from {from}) but is not declared as a join; \
         give it an `inputs` parameter"
    )]
    NotDeclaredJoin {
        /// The step.
        step: String,
        /// Its predecessors.
        from: String,
    },
    /// A join with nothing to join.
    #[error("step `{0}` is declared as a join, but no split or foreach comes before it")]
    JoinWithoutSplit(String),
    /// A join whose inputs come from different splits.
    #[error("join step `{step}` joins branches of different splits (from {from})")]
    JoinMixesSplits {
        /// The join step.
        step: String,
        /// Its predecessors.
        from: String,
    },
    /// A join that some branches of its split never reach.
    #[error(
        "join step `{step}` gets {got} of the {expected} branches of the split at `{split}`; \
         every branch must reach it"
    )]
    JoinMissingBranches {
        /// The join step.
        step: String,
        /// The split it closes.
        split: String,
        /// The split's branch count.
        expected: usize,
        /// The join's input count.
        got: usize,
    },
    /// A switch that fans out too, or has fewer than two cases.
    #[error("step `{step}` is a switch but {reason}")]
    InvalidSwitch {
        /// The switch step.
        step: String,
        /// What is wrong, and the fix.
        reason: String,
    },
    /// A split or foreach never joined before `end`.
    #[error("the {what} at step `{split}` is never joined: add a join step before `end`")]
    Unjoined {
        /// `split` or `foreach`.
        what: &'static str,
        /// The step that splits.
        split: String,
    },
    /// Two parameters share a name.
    #[error("parameter `{0}` is declared more than once")]
    DuplicateParameter(String),
    /// A parameter name is not an identifier.
    #[error(
        "`{0}` is not a valid parameter name: use letters, digits, `_` and `-`, starting with a letter"
    )]
    InvalidParameterName(String),
}

impl GraphProblem {
    /// The step the problem is about, when there is one, so a caller can
    /// point at where that step is defined.
    ///
    /// ```
    /// use mfw_graph::GraphProblem;
    /// assert_eq!(GraphProblem::NoNext("train".into()).step(), Some("train"));
    /// assert_eq!(GraphProblem::MissingStart.step(), None);
    /// ```
    pub fn step(&self) -> Option<&str> {
        match self {
            GraphProblem::DuplicateStep(s)
            | GraphProblem::InvalidStepName(s)
            | GraphProblem::NoNext(s)
            | GraphProblem::Unreachable(s)
            | GraphProblem::JoinWithoutSplit(s) => Some(s),
            GraphProblem::UnknownTarget { step, .. }
            | GraphProblem::ForeachTargets { step, .. }
            | GraphProblem::InvalidForeachName { step, .. }
            | GraphProblem::NotDeclaredJoin { step, .. }
            | GraphProblem::JoinMixesSplits { step, .. }
            | GraphProblem::JoinMissingBranches { step, .. }
            | GraphProblem::InvalidSwitch { step, .. } => Some(step),
            GraphProblem::Unjoined { split, .. } => Some(split),
            GraphProblem::EndHasNext => Some("end"),
            GraphProblem::StartIsJoin => Some("start"),
            GraphProblem::MissingStart
            | GraphProblem::MissingEnd
            | GraphProblem::Cycle(_)
            | GraphProblem::DuplicateParameter(_)
            | GraphProblem::InvalidParameterName(_)
            | GraphProblem::InvalidFlowName(_)
            | GraphProblem::TooLarge(_) => None,
        }
    }
}

impl GraphError {
    /// The report `mfw check`, builds and runs print: the flow, then every
    /// problem on its own line, located as by [`GraphError::located`].
    ///
    /// ```
    /// use mfw_graph::{FlowGraph, Step};
    /// let mut start = Step::linear("start", ["ned"]);
    /// start.source = "hello.py:5".into();
    /// let graph = FlowGraph::new("F").with_step(start).with_step(Step::end());
    /// let err = graph.validate().unwrap_err();
    /// assert_eq!(
    ///     err.report(&graph),
    ///     "flow `F` has an invalid graph:\n  - hello.py:5: step `start` goes to `ned`, which \
    ///      is not a step of this flow"
    /// );
    /// ```
    pub fn report(&self, graph: &FlowGraph) -> String {
        format!(
            "flow `{}` has an invalid graph:{}",
            self.flow,
            list(&self.located(graph))
        )
    }

    /// Every problem on its own line, prefixed with where its step is
    /// defined (`src/lib.rs:14: ...`) when the graph says.
    ///
    /// ```
    /// use mfw_graph::{FlowGraph, Step};
    /// let mut start = Step::linear("start", ["ned"]);
    /// start.source = "hello.py:5".into();
    /// let graph = FlowGraph::new("F").with_step(start).with_step(Step::end());
    /// let err = graph.validate().unwrap_err();
    /// assert_eq!(
    ///     err.located(&graph),
    ///     ["hello.py:5: step `start` goes to `ned`, which is not a step of this flow"]
    /// );
    /// ```
    pub fn located(&self, graph: &FlowGraph) -> Vec<String> {
        self.problems
            .iter()
            .map(|problem| {
                let source = problem
                    .step()
                    .and_then(|s| graph.step(s))
                    .map(|s| s.source.as_str())
                    .filter(|s| !s.is_empty());
                match source {
                    Some(source) => format!("{source}: {problem}"),
                    None => problem.to_string(),
                }
            })
            .collect()
    }
}

/// A graph that failed its checks, with every problem found.
///
/// ```
/// use mfw_graph::{FlowGraph, Step};
/// let err = FlowGraph::new("F").with_step(Step::end()).validate().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "flow `F` has an invalid graph:\n  - the flow has no `start` step; every flow begins \
///      with a step named `start`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flow `{flow}` has an invalid graph:{}", list(.problems))]
pub struct GraphError {
    /// The flow's name.
    pub flow: String,
    /// What is wrong, in the order found.
    pub problems: Vec<GraphProblem>,
}

/// The problems, one per line; past [`MAX_LISTED`], how many more.
fn list<T: std::fmt::Display>(problems: &[T]) -> String {
    let mut text: String = problems
        .iter()
        .take(MAX_LISTED)
        .map(|p| format!("\n  - {p}"))
        .collect();
    if problems.len() > MAX_LISTED {
        text.push_str(&format!(
            "\n  - ... and {} more",
            problems.len() - MAX_LISTED
        ));
    }
    text
}

/// The most steps, and transitions, a flow may have: far more than any
/// flow is written with, and few enough that checking stays instant.
pub const MAX_STEPS: usize = 10_000;
/// The most docstring text (the flow's and its steps') a graph may carry.
pub const MAX_DOC_BYTES: usize = 1 << 20;
/// How many problems an error lists before saying how many more there are.
const MAX_LISTED: usize = 50;

/// The role a step plays, derived from the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// One transition.
    Linear,
    /// A static split into several branches.
    Split,
    /// A switch on the named artifact, going to one of its cases.
    Switch(String),
    /// A foreach over the named artifact.
    Foreach(String),
    /// A join closing the split or foreach at `split`.
    Join {
        /// The step that split.
        split: String,
        /// Whether that step was a foreach.
        foreach: bool,
    },
    /// The `end` step.
    End,
}

/// What the scheduler needs of a validated graph.
///
/// ```
/// use mfw_graph::{FlowGraph, Step, StepKind};
/// let graph = FlowGraph::new("TrainFlow")
///     .with_step(Step::foreach("start", "train", "n_trees"))
///     .with_step(Step::linear("train", ["join"]))
///     .with_step(Step::join("join", ["end"]))
///     .with_step(Step::end());
/// let topology = graph.validate().unwrap();
/// assert_eq!(topology.foreach_depth("train"), 1);
/// assert_eq!(
///     topology.kind("join"),
///     Some(&StepKind::Join { split: "start".into(), foreach: true })
/// );
/// assert_eq!(topology.predecessors("join"), ["train"]);
/// ```
#[derive(Debug, Clone)]
pub struct Topology {
    order: Vec<String>,
    kinds: HashMap<String, StepKind>,
    predecessors: HashMap<String, Vec<String>>,
    depths: HashMap<String, usize>,
    join_inputs: HashMap<String, JoinInputs>,
}

/// Where a join's inputs go: one slot per branch of the split it closes.
#[derive(Debug, Clone)]
struct JoinInputs {
    width: usize,
    /// Each predecessor's slot.
    slots: HashMap<String, usize>,
}

impl Topology {
    /// Steps in an order where every step comes after its predecessors.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// The role of `step`.
    pub fn kind(&self, step: &str) -> Option<&StepKind> {
        self.kinds.get(step)
    }

    /// The steps that go to `step`, in declaration order.
    pub fn predecessors(&self, step: &str) -> &[String] {
        self.predecessors.get(step).map_or(&[], Vec::as_slice)
    }

    /// Which input of the split-closing `join` a task of `from` is, and how
    /// many inputs the join takes: one per branch of its split, numbered in
    /// the order the predecessors are declared. Steps after a switch on one
    /// branch share its input, since only one of them runs.
    ///
    /// ```
    /// use mfw_graph::{FlowGraph, Step};
    /// let graph = FlowGraph::new("F")
    ///     .with_step(Step::linear("start", ["a", "b"]))
    ///     .with_step(Step::switch("a", "fast", [("true", "a1"), ("false", "a2")]))
    ///     .with_step(Step::linear("a1", ["join"]))
    ///     .with_step(Step::linear("a2", ["join"]))
    ///     .with_step(Step::linear("b", ["join"]))
    ///     .with_step(Step::join("join", ["end"]))
    ///     .with_step(Step::end());
    /// let topology = graph.validate().unwrap();
    /// assert_eq!(topology.join_slot("join", "a2"), Some((0, 2)));
    /// assert_eq!(topology.join_slot("join", "b"), Some((1, 2)));
    /// ```
    pub fn join_slot(&self, join: &str, from: &str) -> Option<(usize, usize)> {
        let inputs = self.join_inputs.get(join)?;
        Some((*inputs.slots.get(from)?, inputs.width))
    }

    /// How many foreach loops enclose `step` (its tasks' index depth).
    pub fn foreach_depth(&self, step: &str) -> usize {
        self.depths.get(step).copied().unwrap_or(0)
    }
}

impl FlowGraph {
    /// Runs every check and returns the topology, or every problem found.
    pub fn validate(&self) -> Result<Topology, GraphError> {
        let mut problems = Vec::new();
        let structure_ok = self.check_structure(&mut problems);
        self.check_parameters(&mut problems);
        if !structure_ok {
            return Err(self.error(problems));
        }
        let index: HashMap<&str, &Step> = self.steps.iter().map(|s| (s.name.as_str(), s)).collect();
        let reachable = reachable(&index);
        for step in &self.steps {
            if !reachable.contains(step.name.as_str()) {
                problems.push(GraphProblem::Unreachable(step.name.clone()));
            }
        }
        if let Some(cycle) = find_cycle(&self.steps, &index, &reachable) {
            problems.push(GraphProblem::Cycle(cycle));
            return Err(self.error(problems));
        }
        let topology = self.analyse_splits(&index, &reachable, &mut problems);
        if problems.is_empty() {
            Ok(topology)
        } else {
            Err(self.error(problems))
        }
    }

    fn error(&self, problems: Vec<GraphProblem>) -> GraphError {
        GraphError {
            flow: self.name.clone(),
            problems,
        }
    }

    /// Names, targets and arities. Returns false when the later checks
    /// cannot run meaningfully.
    fn check_structure(&self, problems: &mut Vec<GraphProblem>) -> bool {
        let before = problems.len();
        if !is_identifier(&self.name) {
            problems.push(GraphProblem::InvalidFlowName(self.name.clone()));
        }
        let transitions: usize = self.steps.iter().map(|s| s.next.len()).sum();
        let doc_bytes: usize =
            self.doc.len() + self.steps.iter().map(|s| s.doc.len()).sum::<usize>();
        if self.steps.len() > MAX_STEPS || transitions > MAX_STEPS {
            problems.push(GraphProblem::TooLarge(format!(
                "{} steps and {transitions} transitions, more than the {MAX_STEPS} a flow may have",
                self.steps.len()
            )));
            return false;
        }
        if doc_bytes > MAX_DOC_BYTES {
            problems.push(GraphProblem::TooLarge(format!(
                "{doc_bytes} bytes of docstrings, more than the {MAX_DOC_BYTES} a flow may have"
            )));
        }
        let mut seen = HashSet::new();
        for step in &self.steps {
            if !is_identifier(&step.name) {
                problems.push(GraphProblem::InvalidStepName(step.name.clone()));
            }
            if !seen.insert(step.name.as_str()) {
                problems.push(GraphProblem::DuplicateStep(step.name.clone()));
            }
        }
        if !seen.contains("start") {
            problems.push(GraphProblem::MissingStart);
        }
        if !seen.contains("end") {
            problems.push(GraphProblem::MissingEnd);
        }
        for step in &self.steps {
            for target in &step.next {
                if !seen.contains(target.as_str()) {
                    problems.push(GraphProblem::UnknownTarget {
                        step: step.name.clone(),
                        target: target.clone(),
                    });
                }
            }
            if step.name == "end" {
                if !step.next.is_empty() {
                    problems.push(GraphProblem::EndHasNext);
                }
            } else if step.next.is_empty() {
                problems.push(GraphProblem::NoNext(step.name.clone()));
            }
            if let Some(over) = &step.foreach
                && step.switch.is_none()
            {
                if step.next.len() != 1 {
                    problems.push(GraphProblem::ForeachTargets {
                        step: step.name.clone(),
                        targets: step.next.join(", "),
                    });
                }
                if !is_identifier(over) {
                    problems.push(GraphProblem::InvalidForeachName {
                        step: step.name.clone(),
                        over: over.clone(),
                    });
                }
            }
            if step.name == "start" && step.join {
                problems.push(GraphProblem::StartIsJoin);
            }
            if let Some(switch) = &step.switch {
                check_switch(step, switch, problems);
            }
        }
        problems.len() == before
    }

    fn check_parameters(&self, problems: &mut Vec<GraphProblem>) {
        let mut seen = BTreeSet::new();
        for parameter in &self.parameters {
            // Metaflow's names: an identifier, or with `-` as on its command
            // line (`Parameter("typed-int")`, read as `self.typed_int`).
            if parameter.name.starts_with('-') || !is_identifier(&parameter.name.replace('-', "_"))
            {
                problems.push(GraphProblem::InvalidParameterName(parameter.name.clone()));
            }
            if !seen.insert(parameter.name.as_str()) {
                problems.push(GraphProblem::DuplicateParameter(parameter.name.clone()));
            }
        }
    }

    /// Walks the steps in topological order tracking the stack of open
    /// splits, as Metaflow does, to match every join with its split.
    fn analyse_splits(
        &self,
        index: &HashMap<&str, &Step>,
        reachable: &BTreeSet<&str>,
        problems: &mut Vec<GraphProblem>,
    ) -> Topology {
        let mut predecessors: HashMap<String, Vec<String>> = HashMap::new();
        for step in self
            .steps
            .iter()
            .filter(|s| reachable.contains(s.name.as_str()))
        {
            for target in successors(step) {
                predecessors
                    .entry(target.to_string())
                    .or_default()
                    .push(step.name.clone());
            }
        }
        let order = topological_order(&self.steps, reachable, &predecessors);
        let mut stacks: HashMap<&str, Vec<&str>> = HashMap::new();
        // The branch of the innermost open split each step is on.
        let mut branches: HashMap<&str, usize> = HashMap::new();
        let mut join_inputs: HashMap<String, JoinInputs> = HashMap::new();
        let mut kinds = HashMap::new();
        let empty = Vec::new();
        for name in &order {
            let step = index[name.as_str()];
            let preds = predecessors.get(name).unwrap_or(&empty);
            let from = || {
                preds
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let after = |pred: &str| {
                (
                    out_stack(pred, &stacks, index),
                    out_branch(pred, name, &branches, index),
                )
            };
            let (stack, branch): (Vec<&str>, usize) = if preds.is_empty() {
                (Vec::new(), 0)
            } else if step.join {
                let incoming: Vec<Vec<&str>> =
                    preds.iter().map(|p| out_stack(p, &stacks, index)).collect();
                let first = incoming[0].clone();
                if incoming.iter().any(|s| *s != first) {
                    problems.push(GraphProblem::JoinMixesSplits {
                        step: name.clone(),
                        from: from(),
                    });
                    (first, 0)
                } else if let Some((&split, rest)) = first.split_last() {
                    let split_step = index[split];
                    let foreach = split_step.foreach.is_some();
                    // Each input's slot is its branch of the split, numbered
                    // in the order the inputs are declared; the branches of
                    // a switch on one branch share its slot.
                    let mut seen: Vec<usize> = Vec::new();
                    let mut slots = HashMap::new();
                    for pred in preds {
                        let branch = out_branch(pred, name, &branches, index);
                        let slot = seen.iter().position(|b| *b == branch).unwrap_or_else(|| {
                            seen.push(branch);
                            seen.len() - 1
                        });
                        slots.insert(pred.clone(), slot);
                    }
                    let width = if foreach { 1 } else { split_step.next.len() };
                    if seen.len() != width {
                        problems.push(GraphProblem::JoinMissingBranches {
                            step: name.clone(),
                            split: split.to_string(),
                            expected: width,
                            got: seen.len(),
                        });
                    }
                    join_inputs.insert(name.clone(), JoinInputs { width, slots });
                    kinds.insert(
                        name.clone(),
                        StepKind::Join {
                            split: split.to_string(),
                            foreach,
                        },
                    );
                    (rest.to_vec(), branches.get(split).copied().unwrap_or(0))
                } else {
                    problems.push(GraphProblem::JoinWithoutSplit(name.clone()));
                    (Vec::new(), 0)
                }
            } else {
                // Several inputs without a join are the branches of switches
                // meeting again: at most one of them runs, which holds when
                // they are on the same branch of the same open splits.
                let first = after(&preds[0]);
                if preds[1..].iter().any(|p| after(p) != first) {
                    problems.push(GraphProblem::NotDeclaredJoin {
                        step: name.clone(),
                        from: from(),
                    });
                }
                first
            };
            kinds.entry(name.clone()).or_insert_with(|| {
                if let Some(over) = &step.foreach {
                    StepKind::Foreach(over.clone())
                } else if let Some(switch) = &step.switch {
                    StepKind::Switch(switch.condition.clone())
                } else if step.next.len() > 1 {
                    StepKind::Split
                } else if step.next.is_empty() {
                    StepKind::End
                } else {
                    StepKind::Linear
                }
            });
            if name == "end" {
                for split in &stack {
                    let what = if index[split].foreach.is_some() {
                        "foreach"
                    } else {
                        "split"
                    };
                    problems.push(GraphProblem::Unjoined {
                        what,
                        split: split.to_string(),
                    });
                }
            }
            stacks.insert(name.as_str(), stack);
            branches.insert(name.as_str(), branch);
        }
        let depths = stacks
            .iter()
            .map(|(name, stack)| {
                let depth = stack
                    .iter()
                    .filter(|s| index[**s].foreach.is_some())
                    .count();
                (name.to_string(), depth)
            })
            .collect();
        Topology {
            order,
            kinds,
            predecessors,
            depths,
            join_inputs,
        }
    }
}

/// A switch's own rules: Metaflow's, where they apply to mfw.
fn check_switch(step: &Step, switch: &Switch, problems: &mut Vec<GraphProblem>) {
    let mut invalid = |reason: String| {
        problems.push(GraphProblem::InvalidSwitch {
            step: step.name.clone(),
            reason,
        })
    };
    if step.foreach.is_some() {
        invalid("also fans out with foreach; a step does one or the other".into());
    }
    if switch.cases.len() < 2 {
        invalid(format!(
            "has {} case(s); a switch chooses between at least two, \
             e.g. self.next({{\"a\": self.a, \"b\": self.b}}, condition=\"mode\")",
            switch.cases.len()
        ));
    }
    if !is_identifier(&switch.condition) {
        invalid(format!(
            "its condition `{}` is not an artifact name; name the artifact set in the step, \
             e.g. condition=\"mode\"",
            switch.condition.escape_debug()
        ));
    }
    let mut seen = HashSet::new();
    for (case, _) in &switch.cases {
        if !seen.insert(case.as_str()) {
            invalid(format!("has the case {case} twice"));
        }
    }
    if step.next != switch.targets() {
        invalid(format!(
            "declares next({}) where its cases go to {}",
            step.next.join(", "),
            switch.targets().join(", ")
        ));
    }
    if step.join && step.next.contains(&step.name) {
        invalid(
            "is a join that goes back to itself; loop in a step after the join, whose next \
             task then gets what the join made"
                .into(),
        );
    }
    if step.decorator("catch").is_some() {
        invalid(
            "has @catch, which would continue without the artifact that chooses the case; \
             catch the error inside the step and set the condition there"
                .into(),
        );
    }
}

/// The open splits after `pred`: its own stack, plus itself if it splits.
fn out_stack<'a>(
    pred: &str,
    stacks: &HashMap<&'a str, Vec<&'a str>>,
    index: &HashMap<&'a str, &'a Step>,
) -> Vec<&'a str> {
    let mut stack = stacks.get(pred).cloned().unwrap_or_default();
    if let Some(p) = index.get(pred)
        && opens_split(p)
    {
        stack.push(p.name.as_str());
    }
    stack
}

/// The branch of the innermost open split that `step` is on when it comes
/// after `pred`.
fn out_branch(
    pred: &str,
    step: &str,
    branches: &HashMap<&str, usize>,
    index: &HashMap<&str, &Step>,
) -> usize {
    match index.get(pred) {
        Some(p) if opens_split(p) => p.next.iter().position(|t| t == step).unwrap_or(0),
        _ => branches.get(pred).copied().unwrap_or(0),
    }
}

/// Whether `target` is `step` itself, a recursive switch: each of its tasks
/// may run another of the same step, Metaflow's loops. That edge is no
/// cycle and makes the step no predecessor of itself.
fn is_loop(step: &Step, target: &str) -> bool {
    step.switch.is_some() && step.name == target
}

/// The steps `step` goes to, without a recursive switch's own loop.
fn successors(step: &Step) -> impl Iterator<Item = &str> {
    step.next
        .iter()
        .map(String::as_str)
        .filter(move |t| !is_loop(step, t))
}

/// Whether the step starts branches that a join must close: a foreach or a
/// static split (a switch's branches are exclusive and meet without one).
fn opens_split(step: &Step) -> bool {
    step.foreach.is_some() || (step.switch.is_none() && step.next.len() > 1)
}

fn reachable<'a>(index: &HashMap<&'a str, &'a Step>) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut queue = vec!["start"];
    while let Some(name) = queue.pop() {
        if let Some(step) = index.get(name)
            && seen.insert(step.name.as_str())
        {
            queue.extend(step.next.iter().map(String::as_str));
        }
    }
    seen
}

/// The first cycle found by a depth-first walk in declaration order, as
/// `a -> b -> a`.
fn find_cycle(
    steps: &[Step],
    index: &HashMap<&str, &Step>,
    reachable: &BTreeSet<&str>,
) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: HashMap<&str, Mark> =
        steps.iter().map(|s| (s.name.as_str(), Mark::New)).collect();
    for root in steps.iter().filter(|s| reachable.contains(s.name.as_str())) {
        if marks[root.name.as_str()] != Mark::New {
            continue;
        }
        // Iterative DFS: (step, next child to visit); the path is the stack.
        let mut stack: Vec<(&str, usize)> = vec![(root.name.as_str(), 0)];
        marks.insert(root.name.as_str(), Mark::Active);
        while let Some((name, child)) = stack.last().copied() {
            let step = index[name];
            if let Some(target) = step.next.get(child) {
                if is_loop(step, target) {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                    continue;
                }
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match marks.get(target.as_str()).copied() {
                    Some(Mark::New) => {
                        marks.insert(target.as_str(), Mark::Active);
                        stack.push((target.as_str(), 0));
                    }
                    Some(Mark::Active) => {
                        let from = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let mut path: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                        path.push(target.as_str());
                        return Some(path.join(" -> "));
                    }
                    _ => {}
                }
            } else {
                marks.insert(name, Mark::Done);
                stack.pop();
            }
        }
    }
    None
}

/// Kahn's algorithm, taking ready steps in declaration order so the result
/// is stable.
fn topological_order(
    steps: &[Step],
    reachable: &BTreeSet<&str>,
    predecessors: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut remaining: HashMap<&str, usize> = steps
        .iter()
        .filter(|s| reachable.contains(s.name.as_str()))
        .map(|s| {
            (
                s.name.as_str(),
                predecessors.get(&s.name).map_or(0, Vec::len),
            )
        })
        .collect();
    // Ready steps by declaration position: the first declared goes first.
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        if remaining.contains_key(step.name.as_str()) {
            position.entry(step.name.as_str()).or_insert(i);
        }
    }
    let mut ready: BTreeSet<usize> = remaining
        .iter()
        .filter(|(_, count)| **count == 0)
        .filter_map(|(name, _)| position.get(name).copied())
        .collect();
    let mut order = Vec::new();
    while let Some(i) = ready.pop_first() {
        let step = &steps[i];
        order.push(step.name.clone());
        for target in successors(step) {
            if let Some(count) = remaining.get_mut(target)
                && *count > 0
            {
                *count -= 1;
                if *count == 0
                    && let Some(&at) = position.get(target)
                {
                    ready.insert(at);
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParamKind, Parameter};

    fn problems(graph: FlowGraph) -> Vec<String> {
        match graph.validate() {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    fn flow(steps: Vec<Step>) -> FlowGraph {
        steps
            .into_iter()
            .fold(FlowGraph::new("F"), FlowGraph::with_step)
    }

    #[test]
    fn a_huge_graph_is_refused_at_once_and_a_large_one_checks_in_linear_time() {
        // A chain of MAX_STEPS steps validates (the checks are linear: a
        // quadratic one took hours for 200,000); one more is refused.
        let chain = |n: usize| {
            let mut steps = vec![Step::linear("start", ["s0"])];
            for i in 0..n - 3 {
                steps.push(Step::linear(&format!("s{i}"), [format!("s{}", i + 1)]));
            }
            steps.push(Step::linear(&format!("s{}", n - 3), ["end"]));
            steps.push(Step::end());
            flow(steps)
        };
        let topology = chain(MAX_STEPS).validate().unwrap();
        assert_eq!(topology.order().len(), MAX_STEPS);
        let err = chain(MAX_STEPS + 1).validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("the graph is too large: 10001 steps and 10000 transitions"),
            "{err}"
        );
    }

    #[test]
    fn an_error_lists_fifty_problems_and_counts_the_rest() {
        let mut steps = vec![Step::linear("start", ["end"]), Step::end()];
        for i in 0..80 {
            steps.push(Step::linear(&format!("orphan{i}"), ["end"]));
        }
        let text = flow(steps).validate().unwrap_err().to_string();
        assert_eq!(text.matches("\n  - ").count(), 51, "{text}");
        assert!(text.ends_with("\n  - ... and 30 more"), "{text}");
    }

    #[test]
    fn hello_is_valid_and_ordered() {
        let topology = flow(vec![Step::end(), Step::linear("start", ["end"])])
            .validate()
            .unwrap();
        assert_eq!(topology.order(), ["start", "end"]);
        assert_eq!(topology.kind("end"), Some(&StepKind::End));
    }

    #[test]
    fn start_and_end_must_exist() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("begin", ["finish"]),
                Step::linear("finish", ["begin"])
            ])),
            [
                "the flow has no `start` step; every flow begins with a step named `start`",
                "the flow has no `end` step; every flow finishes with a step named `end`",
            ]
        );
    }

    #[test]
    fn transitions_must_name_existing_steps() {
        assert_eq!(
            problems(flow(vec![Step::linear("start", ["ned"]), Step::end()])),
            ["step `start` goes to `ned`, which is not a step of this flow"]
        );
    }

    #[test]
    fn names_must_be_unique_identifiers() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["end"]),
                Step::linear("start", ["end"]),
                Step::linear("my-step", ["end"]),
                Step::end(),
            ])),
            [
                "step `start` is defined more than once",
                "`my-step` is not a valid step name: use letters, digits and `_`, starting with a letter",
            ]
        );
    }

    #[test]
    fn every_step_but_end_has_a_next_and_end_has_none() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["a"]),
                Step::linear("a", Vec::<String>::new()),
                Step::linear("end", ["start"]),
            ])),
            [
                "step `a` has no next: every step except `end` must call next",
                "step `end` must not call next: it ends the flow",
            ]
        );
    }

    #[test]
    fn every_step_must_be_reachable() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["end"]),
                Step::linear("orphan", ["end"]),
                Step::end(),
            ])),
            ["step `orphan` is not reachable from `start`"]
        );
    }

    #[test]
    fn cycles_are_refused_with_their_path() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["a"]),
                Step::linear("a", ["b"]),
                Step::linear("b", ["a", "end"]),
                Step::end(),
            ])),
            ["steps form a cycle: a -> b -> a"]
        );
    }

    #[test]
    fn a_split_must_be_joined() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["a", "b"]),
                Step::linear("a", ["join"]),
                Step::linear("b", ["join"]),
                Step::linear("join", ["end"]),
                Step::end(),
            ])),
            [
                "step `join` has several inputs (from `a`, `b`) but is not declared as a join; \
                 give it an `inputs` parameter",
                "the split at step `start` is never joined: add a join step before `end`",
            ]
        );
    }

    #[test]
    fn a_foreach_must_be_joined() {
        assert_eq!(
            problems(flow(vec![
                Step::foreach("start", "train", "xs"),
                Step::linear("train", ["end"]),
                Step::end(),
            ])),
            ["the foreach at step `start` is never joined: add a join step before `end`"]
        );
    }

    #[test]
    fn a_declared_join_needs_something_to_join() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["j"]),
                Step::join("j", ["end"]),
                Step::end(),
            ])),
            ["step `j` is declared as a join, but no split or foreach comes before it"]
        );
    }

    #[test]
    fn a_join_must_get_every_branch() {
        // start -> (a, b); a -> join; b -> end: the join only gets one branch.
        let p = problems(flow(vec![
            Step::linear("start", ["a", "b"]),
            Step::linear("a", ["join"]),
            Step::linear("b", ["end"]),
            Step::join("join", ["end"]),
            Step::end(),
        ]));
        assert_eq!(
            p[0],
            "join step `join` gets 1 of the 2 branches of the split at `start`; every branch must reach it"
        );
    }

    #[test]
    fn a_join_cannot_mix_splits() {
        // start -> (a, b); a foreach-> x; the join takes x and b.
        let p = problems(flow(vec![
            Step::linear("start", ["a", "b"]),
            Step::foreach("a", "x", "items"),
            Step::linear("x", ["join"]),
            Step::linear("b", ["join"]),
            Step::join("join", ["end"]),
            Step::end(),
        ]));
        assert_eq!(
            p[0],
            "join step `join` joins branches of different splits (from `x`, `b`)"
        );
    }

    #[test]
    fn foreach_targets_one_step_over_a_valid_name() {
        let mut bad = Step::foreach("start", "a", "2x");
        bad.next.push("b".into());
        assert_eq!(
            problems(flow(vec![
                bad,
                Step::linear("a", ["end"]),
                Step::linear("b", ["end"]),
                Step::end()
            ])),
            [
                "step `start` fans out with foreach, so it must go to exactly one step (it goes to a, b)",
                "step `start` fans out over `2x`, which is not a valid artifact name",
            ]
        );
    }

    #[test]
    fn start_cannot_be_a_join() {
        let mut start = Step::linear("start", ["end"]);
        start.join = true;
        assert_eq!(
            problems(flow(vec![start, Step::end()])),
            ["step `start` is declared as a join, but nothing comes before it"]
        );
    }

    #[test]
    fn parameters_are_unique_identifiers() {
        let graph = flow(vec![Step::linear("start", ["end"]), Step::end()])
            .with_parameter(Parameter::new("n", ParamKind::Int))
            .with_parameter(Parameter::new("n", ParamKind::Int))
            .with_parameter(Parameter::new("my-n", ParamKind::Str))
            .with_parameter(Parameter::new("my n", ParamKind::Str))
            .with_parameter(Parameter::new("-n", ParamKind::Str));
        assert_eq!(
            problems(graph),
            [
                "parameter `n` is declared more than once",
                "`my n` is not a valid parameter name: use letters, digits, `_` and `-`, starting with a letter",
                "`-n` is not a valid parameter name: use letters, digits, `_` and `-`, starting with a letter",
            ]
        );
    }

    #[test]
    fn nested_foreach_gets_depths_and_matching_joins() {
        let topology = flow(vec![
            Step::foreach("start", "outer", "xs"),
            Step::foreach("outer", "inner", "ys"),
            Step::linear("inner", ["inner_join"]),
            Step::join("inner_join", ["outer_join"]),
            Step::join("outer_join", ["end"]),
            Step::end(),
        ])
        .validate()
        .unwrap();
        assert_eq!(topology.foreach_depth("start"), 0);
        assert_eq!(topology.foreach_depth("outer"), 1);
        assert_eq!(topology.foreach_depth("inner"), 2);
        assert_eq!(topology.foreach_depth("inner_join"), 1);
        assert_eq!(topology.foreach_depth("end"), 0);
        assert_eq!(
            topology.kind("inner_join"),
            Some(&StepKind::Join {
                split: "outer".into(),
                foreach: true
            })
        );
        assert_eq!(
            topology.kind("outer_join"),
            Some(&StepKind::Join {
                split: "start".into(),
                foreach: true
            })
        );
    }

    #[test]
    fn a_split_inside_a_foreach_is_joined_inside_it() {
        let topology = flow(vec![
            Step::foreach("start", "body", "xs"),
            Step::linear("body", ["a", "b"]),
            Step::linear("a", ["inner"]),
            Step::linear("b", ["inner"]),
            Step::join("inner", ["outer"]),
            Step::join("outer", ["end"]),
            Step::end(),
        ])
        .validate()
        .unwrap();
        assert_eq!(topology.foreach_depth("a"), 1);
        assert_eq!(topology.kind("body"), Some(&StepKind::Split));
        assert_eq!(topology.predecessors("inner"), ["a", "b"]);
    }

    #[test]
    fn switch_branches_meet_again_without_a_join() {
        let topology = flow(vec![
            Step::switch(
                "start",
                "mode",
                [("\"fast\"", "fast"), ("\"slow\"", "slow")],
            ),
            Step::linear("fast", ["report"]),
            Step::linear("slow", ["report"]),
            Step::linear("report", ["end"]),
            Step::end(),
        ])
        .validate()
        .unwrap();
        assert_eq!(
            topology.kind("start"),
            Some(&StepKind::Switch("mode".into()))
        );
        assert_eq!(topology.kind("report"), Some(&StepKind::Linear));
        assert_eq!(topology.predecessors("report"), ["fast", "slow"]);
        // A case may go straight on: here to `end`.
        assert!(
            flow(vec![
                Step::switch("start", "skip", [("true", "end"), ("false", "work")]),
                Step::linear("work", ["end"]),
                Step::end(),
            ])
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn branches_of_a_static_split_still_need_a_join() {
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["a", "b"]),
                Step::linear("a", ["c"]),
                Step::linear("b", ["c"]),
                Step::linear("c", ["end"]),
                Step::end(),
            ])),
            [
                "step `c` has several inputs (from `a`, `b`) but is not declared as a join; \
                 give it an `inputs` parameter",
                "the split at step `start` is never joined: add a join step before `end`"
            ]
        );
    }

    #[test]
    fn a_switch_inside_a_split_fills_its_branch_of_the_join() {
        let topology = flow(vec![
            Step::linear("start", ["b", "a"]),
            Step::switch("a", "fast", [("true", "a1"), ("false", "a2")]),
            Step::linear("a1", ["join"]),
            Step::linear("a2", ["join"]),
            Step::linear("b", ["join"]),
            Step::join("join", ["end"]),
            Step::end(),
        ])
        .validate()
        .unwrap();
        // Inputs numbered in declaration order: `a`'s branch first.
        assert_eq!(topology.join_slot("join", "a1"), Some((0, 2)));
        assert_eq!(topology.join_slot("join", "a2"), Some((0, 2)));
        assert_eq!(topology.join_slot("join", "b"), Some((1, 2)));
        assert_eq!(topology.join_slot("join", "start"), None);
        // Without a switch, a split's inputs keep their declaration order.
        let plain = flow(vec![
            Step::linear("start", ["b", "a"]),
            Step::linear("a", ["join"]),
            Step::linear("b", ["join"]),
            Step::join("join", ["end"]),
            Step::end(),
        ])
        .validate()
        .unwrap();
        assert_eq!(plain.join_slot("join", "a"), Some((0, 2)));
        assert_eq!(plain.join_slot("join", "b"), Some((1, 2)));
    }

    #[test]
    fn a_switch_inside_a_foreach_body_meets_at_its_join() {
        let topology = flow(vec![
            Step::foreach("start", "route", "xs"),
            Step::switch("route", "big", [("true", "heavy"), ("false", "light")]),
            Step::linear("heavy", ["join"]),
            Step::linear("light", ["join"]),
            Step::join("join", ["end"]),
            Step::end(),
        ])
        .validate()
        .unwrap();
        assert_eq!(topology.foreach_depth("heavy"), 1);
        assert_eq!(topology.foreach_depth("join"), 0);
        assert_eq!(
            topology.kind("join"),
            Some(&StepKind::Join {
                split: "start".into(),
                foreach: true
            })
        );
    }

    #[test]
    fn a_switch_has_two_cases_an_artifact_and_no_foreach_or_catch() {
        let mut fanning = Step::switch("start", "mode", [("1", "a"), ("2", "end")]);
        fanning.foreach = Some("xs".into());
        let mut caught = Step::switch("a", "mode", [("1", "end"), ("2", "b")])
            .with_decorator(crate::Decorator::new("catch"));
        caught.source = "flow.py:9".into();
        let got = problems(flow(vec![
            fanning,
            caught,
            Step::switch("b", "not a name", [("1", "c")]),
            Step::switch("c", "mode", [("1", "end"), ("1", "end")]),
            Step::end(),
        ]));
        assert_eq!(
            got[..4],
            [
                "step `start` is a switch but also fans out with foreach; a step does one or \
                 the other",
                "step `a` is a switch but has @catch, which would continue without the artifact \
                 that chooses the case; catch the error inside the step and set the condition \
                 there",
                "step `b` is a switch but has 1 case(s); a switch chooses between at least two, \
                 e.g. self.next({\"a\": self.a, \"b\": self.b}, condition=\"mode\")",
                "step `b` is a switch but its condition `not a name` is not an artifact name; \
                 name the artifact set in the step, e.g. condition=\"mode\"",
            ],
            "{got:#?}"
        );
        assert!(
            got.contains(&"step `c` is a switch but has the case 1 twice".to_string()),
            "{got:#?}"
        );
        let mut mismatched = Step::switch("start", "mode", [("1", "a"), ("2", "end")]);
        mismatched.next = vec!["a".into()];
        assert_eq!(
            problems(flow(vec![
                mismatched,
                Step::linear("a", ["end"]),
                Step::end()
            ])),
            ["step `start` is a switch but declares next(a) where its cases go to a, end"]
        );
    }

    #[test]
    fn a_switch_may_go_back_to_itself_but_nothing_else_loops() {
        let topology = flow(vec![
            Step::linear("start", ["poll"]),
            Step::switch("poll", "done", [("false", "poll"), ("true", "end")]),
            Step::end(),
        ])
        .validate()
        .unwrap();
        assert_eq!(topology.order(), ["start", "poll", "end"]);
        assert_eq!(topology.predecessors("poll"), ["start"]);
        assert_eq!(
            topology.kind("poll"),
            Some(&StepKind::Switch("done".into()))
        );
        // Inside a foreach, each item's task loops on its own.
        assert!(
            flow(vec![
                Step::foreach("start", "poll", "xs"),
                Step::switch("poll", "done", [("false", "poll"), ("true", "after")]),
                Step::linear("after", ["join"]),
                Step::join("join", ["end"]),
                Step::end(),
            ])
            .validate()
            .is_ok()
        );
        // A plain step going back to itself, a loop through two steps, and
        // a join going back to itself are refused.
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["start", "end"]),
                Step::end()
            ])),
            ["steps form a cycle: start -> start"]
        );
        assert_eq!(
            problems(flow(vec![
                Step::linear("start", ["a"]),
                Step::switch("a", "again", [("true", "b"), ("false", "end")]),
                Step::linear("b", ["a"]),
                Step::end(),
            ])),
            ["steps form a cycle: a -> b -> a"]
        );
        let mut join = Step::switch("join", "again", [("true", "join"), ("false", "end")]);
        join.join = true;
        let got = problems(flow(vec![
            Step::linear("start", ["a", "b"]),
            Step::linear("a", ["join"]),
            Step::linear("b", ["join"]),
            join,
            Step::end(),
        ]));
        assert_eq!(
            got,
            [
                "step `join` is a switch but is a join that goes back to itself; loop in a step \
              after the join, whose next task then gets what the join made"
            ]
        );
    }
}
