//! Switches from Rust: `start` takes the case its `mode` names, the cases
//! meet again at `count`, and `tick` goes back to itself until its count
//! runs out (a recursive step, one task per round).

use mfw::prelude::*;

#[derive(FlowSpec)]
pub struct SwitchFlow {
    /// Which case `start` takes: "fast", "slow", or anything else to fail.
    #[parameter(default = "fast")]
    mode: String,
}

#[steps]
impl SwitchFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.set("mode", &self.mode)?;
        cx.next_switch("mode", [("fast", "quick"), ("slow", "careful")])
    }

    #[step]
    fn quick(&self, cx: &mut Context) -> StepResult {
        cx.set("path", "quick")?;
        cx.next("count")
    }

    #[step]
    fn careful(&self, cx: &mut Context) -> StepResult {
        cx.set("path", "careful")?;
        cx.next("count")
    }

    /// Where the cases meet again: whichever ran.
    #[step]
    fn count(&self, cx: &mut Context) -> StepResult {
        cx.set("left", &3)?;
        cx.set("ticks", &Vec::<i64>::new())?;
        cx.next("tick")
    }

    #[step]
    fn tick(&self, cx: &mut Context) -> StepResult {
        let left: i64 = cx.get::<i64>("left")? - 1;
        let mut ticks: Vec<i64> = cx.get("ticks")?;
        ticks.push(left);
        cx.set("left", &left)?;
        cx.set("ticks", &ticks)?;
        cx.set("done", &(left == 0))?;
        cx.next_switch("done", [(false, "tick"), (true, "end")])
    }

    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let path: String = cx.get("path")?;
        let ticks: Vec<i64> = cx.get("ticks")?;
        println!("{path} {ticks:?}");
        Ok(())
    }
}
