//! A flow whose name climbs out of the datastore (`../../victim`): the
//! name becomes directories in the store, so a host that trusted it would
//! write, and on resume delete, files outside it. `FlowSpec` is written by
//! hand, as an attacker would, instead of derived from the struct's name.

use mfw::prelude::*;

pub struct EvilFlow;

impl mfw::FlowSpec for EvilFlow {
    fn info() -> mfw::__rt::FlowInfo {
        mfw::__rt::FlowInfo {
            name: "../../victim",
            doc: "",
            decorators: Vec::new(),
            parameters: Vec::new(),
        }
    }

    fn from_parameters() -> Result<Self, mfw::Error> {
        Ok(EvilFlow)
    }
}

#[steps]
impl EvilFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.next("end")
    }

    #[step]
    fn end(&self, _cx: &mut Context) -> StepResult {
        Ok(())
    }
}
