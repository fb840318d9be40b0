//! `mfw tag`: a run's tags, changed after it ran (Metaflow's `tag add`,
//! `tag remove`, `tag list`).

use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::commands::Context;
use crate::pathspec::Pathspec;

#[derive(clap::Subcommand, Debug)]
pub enum TagCommand {
    /// Add tags to a run.
    ///
    /// Example: `mfw tag add HelloFlow/1764312345678901 reviewed baseline`
    Add {
        /// The run: Flow/run_id.
        run: String,
        /// The tags to add.
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a run (its system tags stay).
    ///
    /// Example: `mfw tag remove HelloFlow/1764312345678901 baseline`
    Remove {
        /// The run: Flow/run_id.
        run: String,
        /// The tags to remove.
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Show a run's tags: the user's, then mfw's (`user:NAME`...).
    ///
    /// Example: `mfw tag list HelloFlow/1764312345678901`
    List {
        /// The run: Flow/run_id.
        run: String,
    },
}

/// A tag a user may give: visible text of at most 500 characters.
pub fn check_tag(tag: &str) -> anyhow::Result<()> {
    if tag.trim().is_empty() || tag.len() > 500 || tag.chars().any(char::is_control) {
        bail!("`{tag}` is not a tag: give 1 to 500 characters of text, without control characters");
    }
    Ok(())
}

pub async fn tag(context: &Context, command: TagCommand) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let (run, change) = match &command {
        TagCommand::Add { run, tags } => (run, Some((tags, true))),
        TagCommand::Remove { run, tags } => (run, Some((tags, false))),
        TagCommand::List { run } => (run, None),
    };
    let path = Pathspec::parse(run)?;
    if path.step.is_some() {
        bail!("tags belong to runs: give Flow/run_id, not `{run}`");
    }
    let record = store
        .read_run(&path.flow, &path.run_id)
        .await
        .with_context(|| format!("cannot tag {run}"))?;
    let mut tags = store.run_tags(&record).await?;
    if let Some((given, add)) = change {
        for tag in given {
            check_tag(tag)?;
        }
        if add {
            tags.extend(given.iter().cloned());
        } else {
            tags.retain(|t| !given.contains(t));
        }
        store.set_run_tags(&record, &tags).await?;
        tags = store.run_tags(&record).await?;
    }
    println!("{run}: {}", tags.join(", "));
    if matches!(command, TagCommand::List { .. }) && !record.system_tags.is_empty() {
        println!("system: {}", record.system_tags.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
