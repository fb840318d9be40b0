//! Two branches that each want both of a 2-worker run's CPUs
//! (`@resources(cpu = 2)`), so they must run one after the other.

use mfw::prelude::*;

fn spin() -> u64 {
    let mut acc = 0u64;
    for i in 0..60_000_000u64 {
        acc = std::hint::black_box(acc.wrapping_mul(31).wrapping_add(i));
    }
    acc
}

/// start -> (a, b) -> join -> end.
#[derive(FlowSpec)]
pub struct HeavyFlow;

#[steps]
impl HeavyFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.next(["a", "b"])
    }

    #[step(resources(cpu = 2))]
    fn a(&self, cx: &mut Context) -> StepResult {
        cx.set("a", &spin())?;
        cx.next("join")
    }

    #[step(resources(cpu = 2))]
    fn b(&self, cx: &mut Context) -> StepResult {
        cx.set("b", &spin())?;
        cx.next("join")
    }

    #[step]
    fn join(&self, cx: &mut Context, _inputs: &mut Inputs) -> StepResult {
        cx.next("end")
    }

    #[step]
    fn end(&self, _cx: &mut Context) -> StepResult {
        Ok(())
    }
}
