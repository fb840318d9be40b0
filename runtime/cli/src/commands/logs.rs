//! `mfw logs`: what a task wrote.

use super::*;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Flow/run/step/task.
    pathspec: String,
    /// Only stdout.
    #[arg(long, conflicts_with = "stderr")]
    stdout: bool,
    /// Only stderr.
    #[arg(long)]
    stderr: bool,
    /// Which attempt (default: the last).
    #[arg(long)]
    attempt: Option<u32>,
}

/// A task's stored output: exactly as stored into a file or a pipe, with
/// control characters escaped on a terminal (a guest must not drive it).
fn write_output<W: Write + std::io::IsTerminal>(out: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    if out.is_terminal() {
        let text = String::from_utf8_lossy(bytes);
        out.write_all(crate::observer::for_terminal(&text).as_bytes())
    } else {
        out.write_all(bytes)
    }
}

pub async fn logs(context: &Context, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let spec = Pathspec::parse(&args.pathspec)?;
    let Some(step) = &spec.step else {
        bail!("`mfw logs` needs a step or a task: Flow/run/step[/task]");
    };
    let tasks = match &spec.task_id {
        Some(task_id) => vec![
            store
                .read_task(&spec.flow, &spec.run_id, step, task_id)
                .await?,
        ],
        // A step: every task's, in order, as Metaflow's `logs run/step`.
        None => store
            .list_tasks(&spec.flow, &spec.run_id)
            .await?
            .remove(step)
            .ok_or_else(|| anyhow!("{}/{}/{step} has no tasks", spec.flow, spec.run_id))?,
    };
    let many = tasks.len() > 1;
    for task in &tasks {
        let attempt = match args.attempt {
            Some(n) => task
                .attempts
                .iter()
                .find(|a| a.attempt == n)
                .ok_or_else(|| anyhow!("{} has no attempt {n}", task.pathspec()))?,
            None => task
                .last_attempt()
                .ok_or_else(|| anyhow!("{} has not run", task.pathspec()))?,
        };
        if many {
            println!("==> {} <==", task.pathspec());
        }
        if !args.stderr
            && let Some(hash) = &attempt.stdout
        {
            let bytes = store.get_blob(hash).await?;
            write_output(&mut std::io::stdout().lock(), &bytes)?;
        }
        if !args.stdout {
            if let Some(hash) = &attempt.stderr {
                let bytes = store.get_blob(hash).await?;
                write_output(&mut std::io::stderr().lock(), &bytes)?;
            }
            // How it failed, with the step's traceback (file and line).
            if let Some(error) = &attempt.error {
                let mut err = std::io::stderr().lock();
                let message = crate::observer::for_terminal(&error.message);
                writeln!(err, "{message}")?;
                if !error.detail.is_empty() {
                    let detail = crate::observer::for_terminal(error.detail.trim_end());
                    writeln!(err, "{detail}")?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
