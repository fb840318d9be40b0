//! A flow whose split is never joined: both branches go straight to end.

use mfw::prelude::*;

/// start -> (a, b) -> end, with no join.
#[derive(FlowSpec)]
pub struct UnjoinedFlow;

#[steps]
impl UnjoinedFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.next(["a", "b"])
    }

    #[step]
    fn a(&self, cx: &mut Context) -> StepResult {
        cx.next("end")
    }

    #[step]
    fn b(&self, cx: &mut Context) -> StepResult {
        cx.next("end")
    }

    #[step]
    fn end(&self, _cx: &mut Context) -> StepResult {
        Ok(())
    }
}
