//! `mfw runs`: past runs, their status and duration.

use super::*;

#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only this flow's runs.
    flow: Option<String>,
}

/// After how long without a heartbeat `mfw runs` shows a running run as
/// stale (its process was killed, or lost its store).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

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
            // A running run whose process stopped beating is not running:
            // show it as stale, with the time it was last seen alive.
            let (status, duration) = if run.status == RunStatus::Running {
                let last = store.last_beat(&run).await;
                let silent = mfw_store::now_millis().saturating_sub(last);
                if silent > STALE_AFTER.as_millis() as u64 {
                    ("stale".to_string(), last.saturating_sub(run.started_at))
                } else {
                    (run.status.to_string(), run.duration_millis())
                }
            } else {
                (run.status.to_string(), run.duration_millis())
            };
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
