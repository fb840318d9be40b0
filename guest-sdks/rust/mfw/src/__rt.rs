//! Support code the macros expand to. Not a stable API.

use crate::__bindings::mfw::flow::{control, logging, types};
use crate::{Error, FlowSpec, ParameterType, Steps};

/// A decorator as the macros record it.
pub struct DecoratorInfo {
    pub name: &'static str,
    pub options: Vec<(&'static str, &'static str)>,
}

/// A parameter as `#[derive(FlowSpec)]` records it.
pub struct ParameterInfo {
    pub name: &'static str,
    pub kind: &'static str,
    pub default: Option<Vec<u8>>,
    pub required: bool,
    pub help: &'static str,
}

/// The flow as `#[derive(FlowSpec)]` records it.
pub struct FlowInfo {
    pub name: &'static str,
    pub doc: &'static str,
    pub decorators: Vec<DecoratorInfo>,
    pub parameters: Vec<ParameterInfo>,
}

/// A step as `#[steps]` records it.
pub struct StepInfo {
    pub name: &'static str,
    pub next: &'static [&'static str],
    pub foreach: Option<&'static str>,
    /// A switch: its condition artifact and `(case as JSON text, step)`.
    pub switch: Option<(&'static str, &'static [(&'static str, &'static str)])>,
    pub join: bool,
    pub decorators: Vec<DecoratorInfo>,
    pub doc: &'static str,
    pub source: &'static str,
}

/// Encodes a parameter default. Serialising plain data cannot fail; if a
/// custom `Serialize` does, the parameter simply has no default.
pub fn encode_default<T: ParameterType>(value: &T) -> Vec<u8> {
    mfw_encoding::to_vec(value).unwrap_or_default()
}

/// Reads a parameter's value for the run; `Option` parameters may be absent.
pub fn parameter<T: ParameterType>(name: &str) -> Result<T, Error> {
    match control::parameter(name) {
        Some(bytes) => crate::context::decode(&bytes, &format!("parameter `{name}`")),
        // An absent value decodes as null, which only an Option accepts.
        None => mfw_encoding::from_slice::<T>(&[0xf6]).map_err(|_| {
            Error::with_kind(
                "ParameterNotFound",
                format!("the run has no value for parameter `{name}`"),
            )
        }),
    }
}

fn decorators(list: Vec<DecoratorInfo>) -> Vec<types::Decorator> {
    list.into_iter()
        .map(|d| types::Decorator {
            name: d.name.to_string(),
            options: d
                .options
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .collect()
}

/// A switch goes to the host as the decorator `switch` (wit/flow.wit):
/// its condition as a JSON string, its cases as `[[case text, step], ...]`.
fn with_switch(
    mut list: Vec<types::Decorator>,
    switch: Option<(&str, &[(&str, &str)])>,
) -> Vec<types::Decorator> {
    if let Some((condition, cases)) = switch {
        let cases: Vec<[&str; 2]> = cases.iter().map(|(c, t)| [*c, *t]).collect();
        list.push(types::Decorator {
            name: "switch".to_string(),
            options: vec![
                (
                    "condition".to_string(),
                    serde_json::json!(condition).to_string(),
                ),
                ("cases".to_string(), serde_json::json!(cases).to_string()),
            ],
        });
    }
    list
}

/// The graph export.
pub fn graph<F: FlowSpec + Steps>() -> types::FlowGraph {
    let info = F::info();
    types::FlowGraph {
        name: info.name.to_string(),
        steps: F::steps()
            .into_iter()
            .map(|s| types::Step {
                name: s.name.to_string(),
                next: s.next.iter().map(|n| n.to_string()).collect(),
                foreach: s.foreach.map(str::to_string),
                join: s.join,
                decorators: with_switch(decorators(s.decorators), s.switch),
                doc: s.doc.to_string(),
                source: s.source.to_string(),
            })
            .collect(),
        parameters: info
            .parameters
            .into_iter()
            .map(|p| types::Parameter {
                name: p.name.to_string(),
                kind: p.kind.to_string(),
                default: p.default,
                required: p.required,
                help: p.help.to_string(),
            })
            .collect(),
        decorators: decorators(info.decorators),
        doc: info.doc.to_string(),
        sdk: concat!("mfw-rust/", env!("CARGO_PKG_VERSION")).to_string(),
    }
}

/// Reports a panic to the host before the trap that follows, so the run
/// shows the message and where it happened.
fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            let message = match info.location() {
                Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
                None => message,
            };
            eprintln!("panic: {message}");
            logging::fatal(&message);
        }));
    });
}

/// The run-step export.
pub fn run_step<F: FlowSpec + Steps>(step: &str) -> Result<(), types::StepError> {
    install_panic_hook();
    let into_wit = |e: Error| types::StepError {
        kind: e.kind().to_string(),
        message: e.message().to_string(),
        detail: e.detail().to_string(),
    };
    let flow = F::from_parameters().map_err(into_wit)?;
    let mut cx = crate::Context::new();
    flow.run_step(step, &mut cx).map_err(into_wit)?;
    cx.store_cards().map_err(into_wit)
}
