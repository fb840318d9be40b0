//! A foreach inside a foreach: letters times numbers.

use mfw::prelude::*;

/// Fans out over letters, then over numbers for each letter, and collects
/// every combination.
#[derive(FlowSpec)]
pub struct NestedFlow;

#[steps]
impl NestedFlow {
    /// The outer list.
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.set("letters", &["a", "b", "c"])?;
        cx.next_foreach("letter", "letters")
    }

    /// Keeps this task's letter and fans out again.
    #[step]
    fn letter(&self, cx: &mut Context) -> StepResult {
        let letter: String = cx.input()?;
        cx.set("letter", &letter)?;
        cx.set("numbers", &[1, 2])?;
        cx.next_foreach("pair", "numbers")
    }

    /// One combination: the inherited letter and this task's number.
    #[step]
    fn pair(&self, cx: &mut Context) -> StepResult {
        let letter: String = cx.get("letter")?;
        let number: u32 = cx.input()?;
        let stack = cx.foreach_stack();
        cx.set("pair", &format!("{letter}{number}"))?;
        cx.set("depth", &stack.len())?;
        cx.next("join_numbers")
    }

    /// Collects one letter's pairs.
    #[step]
    fn join_numbers(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
        let pairs: Vec<String> = inputs.values("pair")?;
        cx.set("pairs", &pairs)?;
        cx.next("join_letters")
    }

    /// Collects every letter's pairs, in order.
    #[step]
    fn join_letters(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
        let all: Vec<Vec<String>> = inputs.values("pairs")?;
        cx.set("all", &all.concat())?;
        cx.next("end")
    }

    /// Prints them.
    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let all: Vec<String> = cx.get("all")?;
        println!("{}", all.join(" "));
        Ok(())
    }
}
