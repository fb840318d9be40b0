//! A static split: two branches run in parallel and a join merges them.

use mfw::prelude::*;

/// start -> (a, b) -> join -> end.
#[derive(FlowSpec)]
pub struct BranchFlow;

#[steps]
impl BranchFlow {
    /// Sets an artifact both branches inherit, then splits.
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.set("greeting", "hello")?;
        cx.next(["a", "b"])
    }

    /// One branch.
    #[step]
    fn a(&self, cx: &mut Context) -> StepResult {
        cx.set("x", &1)?;
        cx.set("from_a", "set in a")?;
        cx.next("join")
    }

    /// The other branch.
    #[step]
    fn b(&self, cx: &mut Context) -> StepResult {
        cx.set("x", &2)?;
        cx.set("from_b", "set in b")?;
        cx.next("join")
    }

    /// Adds the branches' x and merges everything else.
    #[step]
    fn join(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
        let a: i64 = inputs.step("a")?.get("x")?;
        let b: i64 = inputs.step("b")?.get("x")?;
        cx.set("total", &(a + b))?;
        // x differs between the branches, so it must be excluded.
        cx.merge_artifacts(inputs, &["x"])?;
        cx.next("end")
    }

    /// Prints what the join merged.
    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let greeting: String = cx.get("greeting")?;
        let total: i64 = cx.get("total")?;
        println!("{greeting}: total = {total}");
        Ok(())
    }
}
