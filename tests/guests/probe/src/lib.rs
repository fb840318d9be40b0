//! Records what a step can see of the outside world: the clock, the
//! randomness, the environment and the file system.

use std::hash::BuildHasher;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mfw::prelude::*;

/// One step that looks around and stores what it found.
#[derive(FlowSpec)]
pub struct ProbeFlow;

#[steps]
impl ProbeFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let started = Instant::now();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        cx.set("now_secs", &now)?;
        // HashMap's hasher keys come from the random source.
        let random_hash = std::collections::hash_map::RandomState::new().hash_one(42u64);
        cx.set("random_hash", &random_hash)?;
        cx.set("env_count", &std::env::vars().count())?;
        cx.set("root_readable", &std::fs::read_dir("/").is_ok())?;
        cx.set("passwd_readable", &std::fs::read("/etc/passwd").is_ok())?;
        cx.set("elapsed_positive", &(started.elapsed().as_nanos() > 0))?;
        // A NaN's bits depend on the CPU (x86 makes 0/0 negative) unless
        // the host canonicalises every NaN.
        let (top, bottom) = std::hint::black_box((0.0f64, 0.0f64));
        cx.set("nan_bits", &(top / bottom).to_bits())?;
        let (top32, bottom32) = std::hint::black_box((0.0f32, 0.0f32));
        cx.set("nan32_bits", &(top32 / bottom32).to_bits())?;
        cx.next("end")
    }

    /// `environment(vars = ...)`, Metaflow's `@environment(vars={...})`:
    /// exactly these variables, set by the graph.
    #[step(environment(vars = [("PROBE_GREETING", "hello from the graph")]))]
    fn end(&self, cx: &mut Context) -> StepResult {
        cx.set("greeting", &std::env::var("PROBE_GREETING").ok())?;
        cx.set("env_count", &std::env::vars().count())?;
        Ok(())
    }
}
