//! A flow that fails on purpose, in the way its `mode` parameter names.
//! `start` always succeeds first, so tests can check that what it stored
//! survives the failure.

use mfw::prelude::*;

/// start -> fail -> end; `fail` misbehaves.
#[derive(FlowSpec)]
pub struct FaultyFlow {
    /// none, error, panic, trap, stack, spin, next-undeclared, next-twice,
    /// no-next, bad-name, bad-value or missing.
    #[parameter(default = "none")]
    mode: String,
}

fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    // black_box keeps the recursion from being optimised into a loop.
    std::hint::black_box(recurse(std::hint::black_box(depth + 1)) + 1)
}

#[steps]
impl FaultyFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.set("before", &1)?;
        println!("start ran");
        // A card from a Rust step (tests/ui.rs reads it back).
        cx.card()
            .append(mfw::cards::Markdown::new("start ran **first**"))
            .append(mfw::cards::ProgressBar::new(2.0).value(1.0).label("steps"));
        cx.next("fail")
    }

    #[step]
    fn fail(&self, cx: &mut Context) -> StepResult {
        match self.mode.as_str() {
            "error" => return Err(Error::with_kind("ValueError", "the data is bad")),
            "panic" => panic!("boom"),
            "trap" => core::arch::wasm32::unreachable(),
            "stack" => {
                recurse(0);
            }
            "spin" => {
                // Said first, so its output can be seen while it spins.
                println!("spinning");
                // No @timeout here: only the run's default limits stop it.
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "next-undeclared" => {
                // Bypass the SDK, which only allows declared steps.
                let _ = mfw::__bindings::mfw::flow::control::next(&["start".to_string()]);
                return Ok(());
            }
            "next-twice" => {
                cx.next("end")?;
                return cx.next("end");
            }
            "no-next" => return Ok(()),
            "bad-name" => cx.set("not a name", &1)?,
            "bad-value" => {
                use mfw::__bindings::mfw::flow::types::ArtifactError;
                match mfw::__bindings::mfw::flow::artifacts::set("x", &[0xff]) {
                    Err(ArtifactError::InvalidValue(m)) => {
                        return Err(Error::with_kind("InvalidArtifactValue", m));
                    }
                    other => return Err(Error::msg(format!("unexpected: {other:?}"))),
                }
            }
            "missing" => {
                let _: i64 = cx.get("nope")?;
            }
            _ => {}
        }
        cx.set("after", &2)?;
        cx.next("end")
    }

    #[step]
    fn end(&self, _cx: &mut Context) -> StepResult {
        Ok(())
    }
}
