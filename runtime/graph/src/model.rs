//! The graph as a component declares it.

use serde::{Deserialize, Serialize};

/// A decorator on a step or a flow, such as `retry(times=3)`.
///
/// Option values are JSON texts, so every SDK can write them and `mfw show`
/// can print them as they were written.
///
/// ```
/// use mfw_graph::Decorator;
/// let retry = Decorator::new("retry").with_option("times", "3");
/// assert_eq!(retry.to_string(), "@retry(times=3)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decorator {
    /// The decorator's name, without `@`.
    pub name: String,
    /// `(option, JSON value)` pairs in declaration order.
    #[serde(default)]
    pub options: Vec<(String, String)>,
}

impl Decorator {
    /// A decorator without options.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            options: Vec::new(),
        }
    }

    /// Adds an option whose value is the JSON text `value`.
    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.push((key.into(), value.into()));
        self
    }

    /// The JSON text of option `key`, if the decorator has it.
    ///
    /// ```
    /// use mfw_graph::Decorator;
    /// let d = Decorator::new("resources").with_option("memory", "512");
    /// assert_eq!(d.option("memory"), Some("512"));
    /// ```
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Display for Decorator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "@{}", self.name)?;
        if !self.options.is_empty() {
            let options: Vec<String> = self
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "({})", options.join(", "))?;
        }
        Ok(())
    }
}

/// A conditional transition: Metaflow's
/// `self.next({"fast": self.a, "slow": self.b}, condition="mode")`. The task
/// goes to the one case that the value of the artifact `condition` names;
/// the branches are not joined, they meet again at an ordinary step.
///
/// ```
/// use mfw_graph::{Step, Switch};
/// let start = Step::switch("start", "mode", [("\"fast\"", "a"), ("\"slow\"", "b")]);
/// let switch = start.switch.as_ref().unwrap();
/// assert_eq!(switch.condition, "mode");
/// assert_eq!(switch.target("\"slow\""), Some("b"));
/// assert_eq!(start.next, ["a", "b"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switch {
    /// The artifact whose value chooses the case.
    pub condition: String,
    /// `(case value as JSON text, target step)`, in declaration order.
    pub cases: Vec<(String, String)>,
}

impl Switch {
    /// The decorator that carries a switch across the WIT contract, whose
    /// `step` record has no field for it (wit/flow.wit, `step.decorators`).
    pub const DECORATOR: &'static str = "switch";

    /// The switch as the decorator a component declares it with: options
    /// `condition` (a JSON string) and `cases` (a JSON list of
    /// `[case JSON text, target]`).
    ///
    /// ```
    /// use mfw_graph::{Step, Switch};
    /// let start = Step::switch("start", "mode", [("\"a\"", "a"), ("2", "b")]);
    /// let switch = start.switch.unwrap();
    /// let decorator = switch.to_decorator();
    /// assert_eq!(decorator.option("cases"), Some(r#"[["\"a\"","a"],["2","b"]]"#));
    /// assert_eq!(Switch::from_decorator(&decorator), Ok(switch));
    /// ```
    pub fn to_decorator(&self) -> Decorator {
        let text = |v: serde_json::Value| v.to_string();
        Decorator::new(Self::DECORATOR)
            .with_option("condition", text(self.condition.clone().into()))
            .with_option("cases", text(serde_json::json!(self.cases)))
    }

    /// The switch a `switch` decorator declares, or what is wrong with it.
    pub fn from_decorator(decorator: &Decorator) -> Result<Switch, String> {
        let condition = decorator
            .option("condition")
            .ok_or("it has no `condition` option")?;
        let condition: String = serde_json::from_str(condition)
            .map_err(|e| format!("its condition is not a JSON string: {e}"))?;
        let cases = decorator
            .option("cases")
            .ok_or("it has no `cases` option")?;
        let cases: Vec<(String, String)> = serde_json::from_str(cases)
            .map_err(|e| format!("its cases are not a JSON list of [case, step] pairs: {e}"))?;
        Ok(Switch { condition, cases })
    }

    /// The step the case whose JSON text is `case` goes to.
    pub fn target(&self, case: &str) -> Option<&str> {
        self.cases
            .iter()
            .find(|(c, _)| c == case)
            .map(|(_, t)| t.as_str())
    }

    /// Every target, each once, in the order of the cases.
    pub fn targets(&self) -> Vec<String> {
        let mut targets: Vec<String> = Vec::new();
        for (_, target) in &self.cases {
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
        targets
    }
}

impl std::fmt::Display for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cases: Vec<String> = self
            .cases
            .iter()
            .map(|(case, target)| format!("{case}: {target}"))
            .collect();
        write!(
            f,
            "next({{{}}}, condition={})",
            cases.join(", "),
            self.condition
        )
    }
}

/// One step: its transitions, whether it is a join, and its decorators.
///
/// ```
/// use mfw_graph::Step;
/// let start = Step::foreach("start", "train", "n_trees");
/// assert_eq!(start.next, ["train"]);
/// assert_eq!(start.foreach.as_deref(), Some("n_trees"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Unique within the flow.
    pub name: String,
    /// Declared targets of `next`, in order; empty only for `end`.
    #[serde(default)]
    pub next: Vec<String>,
    /// The list artifact a foreach step fans out over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach: Option<String>,
    /// The cases of a switch step, whose `next` is their targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<Switch>,
    /// Whether the step takes join inputs.
    #[serde(default)]
    pub join: bool,
    /// Outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decorators: Vec<Decorator>,
    /// The step's documentation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
    /// Where the step is defined (`file:line`), for messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

impl Step {
    fn bare(name: &str) -> Self {
        Self {
            name: name.to_string(),
            next: Vec::new(),
            foreach: None,
            switch: None,
            join: false,
            decorators: Vec::new(),
            doc: String::new(),
            source: String::new(),
        }
    }

    /// A step that continues to `next`: one target, or several for a split.
    pub fn linear<I, S>(name: &str, next: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut step = Self::bare(name);
        step.next = next.into_iter().map(Into::into).collect();
        step
    }

    /// A step that fans out over the list artifact `over` into `target`.
    pub fn foreach(name: &str, target: &str, over: &str) -> Self {
        let mut step = Self::linear(name, [target]);
        step.foreach = Some(over.to_string());
        step
    }

    /// A step that goes to one of several steps, chosen by the value of the
    /// artifact `condition`: `cases` are `(value as JSON text, target)`.
    pub fn switch<I, C, T>(name: &str, condition: &str, cases: I) -> Self
    where
        I: IntoIterator<Item = (C, T)>,
        C: Into<String>,
        T: Into<String>,
    {
        let switch = Switch {
            condition: condition.to_string(),
            cases: cases
                .into_iter()
                .map(|(c, t)| (c.into(), t.into()))
                .collect(),
        };
        let mut step = Self::linear(name, switch.targets());
        step.switch = Some(switch);
        step
    }

    /// A join step continuing to `next`.
    pub fn join<I, S>(name: &str, next: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut step = Self::linear(name, next);
        step.join = true;
        step
    }

    /// The `end` step.
    pub fn end() -> Self {
        Self::bare("end")
    }

    /// Adds a decorator.
    pub fn with_decorator(mut self, decorator: Decorator) -> Self {
        self.decorators.push(decorator);
        self
    }

    /// The decorator named `name`, if the step has it.
    pub fn decorator(&self, name: &str) -> Option<&Decorator> {
        self.decorators.iter().find(|d| d.name == name)
    }
}

/// The type of a run parameter, which says how a command-line value is read.
///
/// ```
/// use mfw_graph::ParamKind;
/// assert_eq!("int".parse::<ParamKind>(), Ok(ParamKind::Int));
/// assert_eq!(ParamKind::File.as_str(), "file");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// Text, taken as given.
    Str,
    /// A whole number.
    Int,
    /// A floating-point number.
    Float,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// Any JSON value.
    Json,
    /// A path on the user's machine; the step sees the file's bytes.
    File,
}

impl ParamKind {
    /// Every kind, in the order the WIT contract lists them.
    pub const ALL: [ParamKind; 6] = [
        ParamKind::Str,
        ParamKind::Int,
        ParamKind::Float,
        ParamKind::Bool,
        ParamKind::Json,
        ParamKind::File,
    ];

    /// The name used in the WIT contract and on screen.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Str => "str",
            ParamKind::Int => "int",
            ParamKind::Float => "float",
            ParamKind::Bool => "bool",
            ParamKind::Json => "json",
            ParamKind::File => "file",
        }
    }
}

impl std::str::FromStr for ParamKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ParamKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ParamKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown parameter type `{s}` (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for ParamKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run parameter.
///
/// ```
/// use mfw_graph::{ParamKind, Parameter};
/// let n = Parameter::new("n", ParamKind::Int).with_help("how many splits");
/// assert!(!n.required);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// The name, passed as `--name value`.
    pub name: String,
    /// How a command-line value is read.
    pub kind: ParamKind,
    /// The default in the mfw encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<u8>>,
    /// Whether a run must be given a value.
    #[serde(default)]
    pub required: bool,
    /// One line of help.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
}

impl Parameter {
    /// An optional parameter without a default.
    pub fn new(name: &str, kind: ParamKind) -> Self {
        Self {
            name: name.to_string(),
            kind,
            default: None,
            required: false,
            help: String::new(),
        }
    }

    /// Sets the encoded default.
    pub fn with_default(mut self, encoded: Vec<u8>) -> Self {
        self.default = Some(encoded);
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: &str) -> Self {
        self.help = help.to_string();
        self
    }

    /// Makes the parameter required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// A flow's graph as its component exports it.
///
/// ```
/// use mfw_graph::{FlowGraph, Step};
/// let graph = FlowGraph::new("BranchFlow")
///     .with_step(Step::linear("start", ["a", "b"]))
///     .with_step(Step::linear("a", ["join"]))
///     .with_step(Step::linear("b", ["join"]))
///     .with_step(Step::join("join", ["end"]))
///     .with_step(Step::end());
/// assert!(graph.validate().is_ok());
/// assert_eq!(graph.step("a").map(|s| s.next.clone()), Some(vec!["join".to_string()]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowGraph {
    /// The flow's name.
    pub name: String,
    /// Every step, in declaration order.
    pub steps: Vec<Step>,
    /// Run parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Decorators on the flow itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decorators: Vec<Decorator>,
    /// The flow's documentation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
    /// The SDK that built it, such as `mfw-rust/0.1.0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sdk: String,
}

impl FlowGraph {
    /// An empty graph named `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            steps: Vec::new(),
            parameters: Vec::new(),
            decorators: Vec::new(),
            doc: String::new(),
            sdk: String::new(),
        }
    }

    /// Adds a step.
    pub fn with_step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Adds a parameter.
    pub fn with_parameter(mut self, parameter: Parameter) -> Self {
        self.parameters.push(parameter);
        self
    }

    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The parameter named `name`; `-` and `_` match each other, as on
    /// Metaflow's command line (`--typed-int` sets `Parameter("typed-int")`,
    /// which a step reads as `self.typed_int`).
    ///
    /// ```
    /// use mfw_graph::{FlowGraph, Parameter, ParamKind, Step};
    ///
    /// let graph = FlowGraph::new("F")
    ///     .with_step(Step::linear("start", ["end"]))
    ///     .with_step(Step::end())
    ///     .with_parameter(Parameter::new("typed-int", ParamKind::Int));
    /// assert_eq!(graph.parameter("typed_int").map(|p| p.name.as_str()), Some("typed-int"));
    /// assert!(graph.parameter("typed").is_none());
    /// ```
    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        let same = |a: &str, b: &str| {
            a.len() == b.len()
                && a.bytes()
                    .zip(b.bytes())
                    .all(|(x, y)| x == y || (matches!(x, b'-' | b'_') && matches!(y, b'-' | b'_')))
        };
        self.parameters.iter().find(|p| same(&p.name, name))
    }
}

/// One level of foreach around a task (the WIT `foreach-frame`).
///
/// ```
/// let frame = mfw_graph::ForeachFrame { step: "start".into(), over: "xs".into(), index: 2, count: 5 };
/// assert_eq!(frame.index, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeachFrame {
    /// The step that fanned out.
    pub step: String,
    /// The list artifact it fanned out over.
    pub over: String,
    /// This task's position in it.
    pub index: u32,
    /// How many items it had.
    pub count: u32,
}
