//! `mfw replay`: run past tasks again, in the sandbox they ran in, and
//! check they compute what was stored.

use mfw_orchestrator::{ReplayOptions, Replayed, Verdict, replay_run};

use super::*;
use crate::observer::for_terminal;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Flow/run (every task), Flow/run/step or Flow/run/step/task.
    pathspec: String,
    /// How many tasks run at once (default: one per core).
    #[arg(long)]
    max_workers: Option<usize>,
    /// Print what each task's replay found as JSON.
    #[arg(long)]
    json: bool,
}

/// Replays the tasks the pathspec names and prints, for each, `identical`,
/// what differs, or why it cannot be replayed. Fails (exit 1) when a task
/// computed something else or its replay failed.
pub async fn replay(context: &Context, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let spec = Pathspec::parse(&args.pathspec)?;
    let store = context.store()?;
    let max_workers = args
        .max_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let host = context.host(max_workers, false)?;
    let config = crate::config::Config::load()?;
    let interrupt_rx = interrupt_on_ctrl_c(
        "mfw: interrupted; stopping the replay (Ctrl-C again to exit now)",
        "mfw: interrupted again; exiting now",
    );
    let options = ReplayOptions {
        step: spec.step.clone(),
        task_id: spec.task_id.clone(),
        max_workers,
        defaults: run_defaults(&config, None, None, None),
        interrupt: Some(interrupt_rx),
    };
    let replayed = replay_run(&store, &host, &spec.flow, &spec.run_id, options)
        .await
        .with_context(|| format!("cannot replay {}", args.pathspec))?;
    if replayed.is_empty() {
        bail!(
            "{} has no tasks to replay (did the run start?)",
            args.pathspec
        );
    }
    let bad = replayed
        .iter()
        .any(|t| matches!(t.verdict, Verdict::Differs { .. } | Verdict::Failed { .. }));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&replayed)?);
    } else {
        print_report(&spec, &replayed)?;
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One line per task, a table under each that differs, and a count.
fn print_report(spec: &Pathspec, replayed: &[Replayed]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let names: Vec<String> = replayed
        .iter()
        .map(|t| format!("{}/{}/{}/{}", spec.flow, spec.run_id, t.step, t.task_id))
        .collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let (mut identical, mut differ, mut not_replayable, mut failed) = (0, 0, 0, 0);
    for (name, task) in names.iter().zip(replayed) {
        let name = for_terminal(name);
        match &task.verdict {
            Verdict::Identical => {
                identical += 1;
                writeln!(out, "{name:width$}  identical")?;
            }
            Verdict::NotReplayable { reason } => {
                not_replayable += 1;
                writeln!(
                    out,
                    "{name:width$}  not replayable: {}",
                    for_terminal(reason)
                )?;
            }
            Verdict::Failed { reason } => {
                failed += 1;
                writeln!(out, "{name:width$}  failed: {}", for_terminal(reason))?;
            }
            Verdict::Differs { differences } => {
                differ += 1;
                writeln!(out, "{name:width$}  differs")?;
                let rows: Vec<[String; 3]> = differences
                    .iter()
                    .map(|d| {
                        let shown = |v: &Option<String>| {
                            v.as_deref()
                                .map_or("(none)".to_string(), |v| for_terminal(v).into_owned())
                        };
                        [
                            for_terminal(&d.what).into_owned(),
                            shown(&d.recorded),
                            shown(&d.replayed),
                        ]
                    })
                    .collect();
                let header = ["what".to_string(), "recorded".into(), "replayed".into()];
                let widths: Vec<usize> = (0..3)
                    .map(|i| {
                        std::iter::once(&header)
                            .chain(&rows)
                            .map(|r| r[i].chars().count())
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                for row in std::iter::once(&header).chain(&rows) {
                    writeln!(
                        out,
                        "    {:w0$}  {:w1$}  {}",
                        row[0],
                        row[1],
                        row[2],
                        w0 = widths[0],
                        w1 = widths[1]
                    )?;
                }
            }
        }
    }
    let tasks = replayed.len();
    let noun = if tasks == 1 { "task" } else { "tasks" };
    writeln!(
        out,
        "{tasks} {noun}: {identical} identical, {differ} differ, {failed} failed, \
         {not_replayable} not replayable"
    )
}
