//! A wide foreach: one task per number, each doubling it; the join sums.
//! The benchmarks run it with thousands of splits.

use mfw::prelude::*;

/// Doubles 0..n in parallel and adds the results up.
#[derive(FlowSpec)]
pub struct WideFlow {
    /// How many tasks to fan out to.
    #[parameter(default = 100)]
    n: u64,
}

#[steps]
impl WideFlow {
    /// Makes the list 0..n and fans out over it.
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let items: Vec<u64> = (0..self.n).collect();
        cx.set("items", &items)?;
        cx.next_foreach("double", "items")
    }

    /// Sets y = 2 * input.
    #[step]
    fn double(&self, cx: &mut Context) -> StepResult {
        let input: u64 = cx.input()?;
        cx.set("y", &(2 * input))?;
        cx.next("join")
    }

    /// Sums every task's y.
    #[step]
    fn join(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
        let ys: Vec<u64> = inputs.values("y")?;
        cx.set("total", &ys.iter().sum::<u64>())?;
        cx.next("end")
    }

    /// Reports the total.
    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let total: u64 = cx.get("total")?;
        println!("total = {total}");
        Ok(())
    }
}
