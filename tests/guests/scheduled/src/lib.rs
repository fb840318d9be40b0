//! A scheduled flow for `mfw kubernetes deploy`: its @schedule becomes a
//! CronJob, and its `end` asks for @kubernetes while `start` does not.

use mfw::prelude::*;

/// start -> end, every ten minutes (Paris time).
#[derive(FlowSpec)]
#[flow(schedule(cron = "*/10 * * * *", timezone = "Europe/Paris"))]
pub struct ScheduledFlow;

#[steps]
impl ScheduledFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.set("greeting", &"scheduled hello")?;
        cx.next("end")
    }

    /// The one step that needs the cluster.
    #[step(kubernetes(memory = 512, cpu = 1))]
    fn end(&self, cx: &mut Context) -> StepResult {
        let greeting: String = cx.get("greeting")?;
        println!("{greeting}");
        Ok(())
    }
}
