//! `mfw runs`: past runs, their status and duration.

use super::*;

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only this flow's runs.
    flow: Option<String>,
}

pub async fn runs(context: &Context, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let flows = match args.flow {
        Some(flow) => vec![flow],
        None => store.list_flows().await?,
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<24} {:<18} {:<11} {:>9} {:>7} {:>7} {:>7}  TAGS",
        "FLOW", "RUN", "STATUS", "DURATION", "TASKS", "REUSED", "CACHED"
    )?;
    for flow in flows {
        let (runs, damaged) = store.list_runs_checked(&flow).await?;
        warn_damaged(&damaged);
        for run in runs {
            let tags = store.run_tags(&run).await.unwrap_or_default();
            // A running run whose process stopped beating is shown as
            // stale, with the time it was last seen alive.
            let observed = store.observe_run(&run).await;
            let (status, duration) = (observed.status, observed.duration_millis);
            writeln!(
                out,
                "{:<24} {:<18} {:<11} {:>9} {:>7} {:>7} {:>7}  {}",
                run.flow,
                run.run_id,
                status,
                format_duration(duration),
                run.tasks_succeeded + run.tasks_failed,
                run.tasks_reused,
                run.tasks_cached,
                tags.join(",")
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
