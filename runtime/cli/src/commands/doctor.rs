//! `mfw doctor`: list every damaged object in the datastore and what it
//! affects; `--repair` sets them aside so the next resume reruns what they
//! fed.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;

use crate::commands::Context;

/// Options of `mfw doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Move damaged records and blobs (and the task records that need them)
    /// under `quarantine/` in the store, and remove leftover staging files,
    /// so the next `mfw resume` of each affected run runs those tasks again.
    #[arg(long)]
    repair: bool,
    /// Check only that every blob a record needs exists, without reading
    /// and hashing each blob (faster on a large or remote store).
    #[arg(long)]
    quick: bool,
}

/// Examines the datastore; exits 1 when something is damaged (and not
/// repaired), so scripts can check a store.
pub async fn doctor(context: &Context, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let found = store.examine(!args.quick).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "checked {} runs, {} tasks and {} blobs in {}",
        found.runs,
        found.tasks,
        found.blobs,
        store.location()
    )?;
    if found.problems.is_empty() {
        writeln!(out, "nothing is damaged")?;
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &found.problems {
        writeln!(
            out,
            "{}: {} ({})",
            problem.kind,
            crate::observer::for_terminal(&problem.path),
            problem.reason
        )?;
        for affected in &problem.affects {
            writeln!(out, "  affects {}", crate::observer::for_terminal(affected))?;
        }
    }
    if !args.repair {
        writeln!(
            out,
            "{} problems; `mfw doctor --repair` sets them aside so `mfw resume` reruns the \
             tasks they fed",
            found.problems.len()
        )?;
        return Ok(ExitCode::from(1));
    }
    let moved = store.repair(&found).await?;
    writeln!(
        out,
        "repaired: {moved} objects moved under quarantine/ or removed; resume the affected runs \
         to run their tasks again"
    )?;
    Ok(ExitCode::SUCCESS)
}
