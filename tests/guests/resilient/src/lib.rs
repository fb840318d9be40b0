//! A flow for failure handling: a foreach whose join can be told to fail
//! (through a granted environment variable, so a resumed run can succeed),
//! a flaky step with @retry and a risky one with @catch.

use mfw::prelude::*;

/// start -> work (foreach) -> join -> flaky -> risky -> end.
#[derive(FlowSpec)]
pub struct ResilientFlow {
    /// How many work tasks.
    #[parameter(default = 20)]
    n: u64,
    /// How many attempts of `flaky` fail before one succeeds.
    #[parameter(default = 0)]
    flaky_failures: u32,
    /// `catch` makes `risky` fail (and be caught).
    #[parameter(default = "none")]
    mode: String,
}

#[steps]
impl ResilientFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let items: Vec<u64> = (0..self.n).collect();
        cx.set("items", &items)?;
        cx.next_foreach("work", "items")
    }

    /// Some real work per item, so a run takes long enough to be killed
    /// in the middle.
    #[step]
    fn work(&self, cx: &mut Context) -> StepResult {
        let input: u64 = cx.input()?;
        let mut acc = input;
        for i in 0..2_000_000u64 {
            acc = std::hint::black_box(acc.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        cx.set("y", &(input * 3))?;
        cx.set("noise", &(acc % 7))?;
        cx.next("join")
    }

    /// Fails while MFW_TEST_FAIL_JOIN is set.
    #[step(grant(env = ["MFW_TEST_FAIL_JOIN"]))]
    fn join(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
        if std::env::var("MFW_TEST_FAIL_JOIN").is_ok() {
            return Err(Error::with_kind("JoinFailure", "join told to fail"));
        }
        let ys: Vec<u64> = inputs.values("y")?;
        cx.set("total", &ys.iter().sum::<u64>())?;
        cx.next("flaky")
    }

    /// Fails its first `flaky_failures` attempts.
    #[step(retry(times = 2, minutes_between_retries = 0))]
    fn flaky(&self, cx: &mut Context) -> StepResult {
        let attempt = cx.current().retry_count;
        if attempt < self.flaky_failures {
            return Err(Error::with_kind(
                "Flaky",
                format!("flaky failure on attempt {attempt}"),
            ));
        }
        cx.set("attempts_needed", &attempt)?;
        cx.next("risky")
    }

    /// Fails in mode `catch`; @catch stores why in `oops`.
    #[step(catch(var = "oops"))]
    fn risky(&self, cx: &mut Context) -> StepResult {
        if self.mode == "catch" {
            return Err(Error::with_kind("RiskyFailure", "risky failed"));
        }
        cx.set("risky_ok", &true)?;
        cx.next("end")
    }

    #[step]
    fn end(&self, _cx: &mut Context) -> StepResult {
        Ok(())
    }
}
