//! A flow built against mfw:flow@0.1.4 (its WIT, copied from that release,
//! is beside it), without the SDK: what a component built before the
//! contract gained `streams` looks like. The host must still run it.

wit_bindgen::generate!({
    path: "wit",
    world: "flow-component",
});

use mfw::flow::types::{FlowGraph, Step, StepError};
use mfw::flow::{artifacts, control};

struct Component;

fn step(name: &str, next: &[&str]) -> Step {
    Step {
        name: name.to_string(),
        next: next.iter().map(|s| s.to_string()).collect(),
        foreach: None,
        join: false,
        decorators: Vec::new(),
        doc: String::new(),
        source: "src/lib.rs".to_string(),
    }
}

fn failed(message: String) -> StepError {
    StepError {
        kind: "Error".to_string(),
        message,
        detail: String::new(),
    }
}

impl exports::mfw::flow::flow::Guest for Component {
    fn graph() -> FlowGraph {
        FlowGraph {
            name: "OldFlow".to_string(),
            steps: vec![step("start", &["end"]), step("end", &[])],
            parameters: Vec::new(),
            decorators: Vec::new(),
            doc: "start sets x = 1, end sets y = x + 1, with the 0.1.4 imports".to_string(),
            sdk: "old-contract-test/0.1.4".to_string(),
        }
    }

    fn run_step(name: String) -> Result<(), StepError> {
        match name.as_str() {
            // 0x01 and 0x02: the integers 1 and 2 in the mfw encoding.
            "start" => {
                artifacts::set("x", &[0x01]).map_err(|e| failed(format!("{e:?}")))?;
                control::next(&["end".to_string()]).map_err(failed)
            }
            "end" => {
                let x = artifacts::get("x").map_err(|e| failed(format!("{e:?}")))?;
                if x != [0x01] {
                    return Err(failed(format!("x is {x:?}")));
                }
                artifacts::set("y", &[0x02]).map_err(|e| failed(format!("{e:?}")))
            }
            other => Err(failed(format!("no step {other}"))),
        }
    }
}

export!(Component);
