//! A Rust flow that reads another flow's runs (the Python `UpFlow` of
//! tests/flows.rs), and what a step cannot read that way.

use std::collections::BTreeMap;

use mfw::prelude::*;

/// start (reads UpFlow) -> end.
#[derive(FlowSpec)]
pub struct ReaderFlow;

#[steps]
impl ReaderFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let flow = mfw::Flow::new("UpFlow")?;
        let run = flow
            .latest_successful_run()?
            .ok_or_else(|| mfw::Error::msg("UpFlow has no successful run"))?;
        let model: BTreeMap<String, i64> = run.task("end")?.get("model")?;
        let w: i64 = run.parameter("w")?;
        cx.set("model_run", &run.id)?;
        // A user started this run: nothing triggered it.
        cx.set("triggered", &mfw::trigger()?.is_some())?;
        cx.set("w", &model["w"])?;
        cx.set("parameter_w", &w)?;
        // A value no answer named (straight through the bindings, as a
        // hostile step would), and a run name that would leave the flows'
        // directory: both refused.
        use mfw::__bindings::mfw::flow::runs;
        let unshown = match runs::value_by_hash(&"ab".repeat(32)) {
            Err(runs::ReadError::NotFound(_)) => "not found",
            Err(_) => "another error",
            Ok(_) => "read",
        };
        let escape = match runs::run("UpFlow", &format!("../{}", run.id)) {
            Err(runs::ReadError::InvalidName(_)) => "invalid name",
            Err(_) => "another error",
            Ok(_) => "read",
        };
        cx.set("unshown", &unshown)?;
        cx.set("escape", &escape)?;
        cx.next("end")
    }

    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let w: i64 = cx.get("w")?;
        println!("w is {w}");
        Ok(())
    }
}
