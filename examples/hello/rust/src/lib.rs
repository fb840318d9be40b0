//! Metaflow's HelloFlow, in Rust.

use mfw::prelude::*;

/// A flow where `start` sets x and `end` increments and prints it.
#[derive(FlowSpec)]
pub struct HelloFlow;

#[steps]
impl HelloFlow {
    /// The start step: set x.
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.set("x", &1)?;
        cx.next("end")
    }

    /// The end step: increment x and say hello.
    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let x: i64 = cx.get("x")?;
        let x = x + 1;
        cx.set("x", &x)?;
        println!("Hello world! The value of x is {x}");
        Ok(())
    }
}
