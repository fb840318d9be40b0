//! `mfw card`: a task's cards (`@card`) as self-contained HTML pages.

use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::commands::Context;
use crate::pathspec::Pathspec;

#[derive(clap::Subcommand, Debug)]
pub enum CardCommand {
    /// Write a task's card to a file (or stdout with `-o -`).
    ///
    /// Example: `mfw card get TrainFlow/12/train/0 -o report.html`
    Get {
        /// The task: Flow/run/step/task.
        task: String,
        /// Which card (its `@card(id=...)`); the only one if there is one.
        #[arg(long)]
        id: Option<String>,
        /// Where to write it (default: `<Flow>-<run>-<step>-<task>-<id>.html`).
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
    /// Write a task's card to a temporary file and open it in the browser.
    ///
    /// Example: `mfw card view TrainFlow/12/train/0`
    View {
        /// The task: Flow/run/step/task.
        task: String,
        /// Which card (its `@card(id=...)`); the only one if there is one.
        #[arg(long)]
        id: Option<String>,
    },
}

/// The card of `task` that `id` names, rendered.
async fn chosen(
    context: &Context,
    task: &str,
    id: Option<&str>,
) -> anyhow::Result<(Pathspec, mfw_ui::RenderedCard)> {
    let spec = Pathspec::parse(task)?;
    let (Some(step), Some(task_id)) = (&spec.step, &spec.task_id) else {
        bail!("`{task}` is not a task: cards belong to tasks, Flow/run/step/task");
    };
    let store = context.store()?;
    let vega = match mfw_ui::vega_scripts(&context.cache_dir.join("ui")).await {
        Ok(scripts) => Some(scripts),
        Err(e) => {
            eprintln!("mfw: charts, if the card has any, are shown as their specs: {e}");
            None
        }
    };
    let cards = mfw_ui::task_cards(
        &store,
        &spec.flow,
        &spec.run_id,
        step,
        task_id,
        vega.as_ref(),
    )
    .await?;
    let names = || {
        cards
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let card = match id {
        Some(id) => cards
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .with_context(|| format!("{task} has no card `{id}`; its cards: {}", names()))?,
        None => match cards.as_slice() {
            [] => bail!("{task} has no cards: its step has no @card and added no components"),
            [only] => only.clone(),
            _ => bail!(
                "{task} has several cards ({}): choose one with --id",
                names()
            ),
        },
    };
    Ok((spec, card))
}

pub async fn card(context: &Context, command: CardCommand) -> anyhow::Result<ExitCode> {
    match command {
        CardCommand::Get { task, id, output } => {
            let (spec, card) = chosen(context, &task, id.as_deref()).await?;
            let path = output.unwrap_or_else(|| file_name(&spec, &card.id).into());
            if path.as_os_str() == "-" {
                print!("{}", card.html);
            } else {
                std::fs::write(&path, &card.html)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!(
                    "mfw: wrote card `{}` of {task} to {}",
                    card.id,
                    path.display()
                );
            }
        }
        CardCommand::View { task, id } => {
            let (spec, card) = chosen(context, &task, id.as_deref()).await?;
            let path = std::env::temp_dir().join(file_name(&spec, &card.id));
            std::fs::write(&path, &card.html)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            let opened = std::process::Command::new(opener)
                .arg(&path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !opened {
                eprintln!("mfw: open {} in a browser", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn file_name(spec: &Pathspec, id: &str) -> String {
    let parts = [
        spec.flow.as_str(),
        spec.run_id.as_str(),
        spec.step.as_deref().unwrap_or(""),
        spec.task_id.as_deref().unwrap_or(""),
        id,
    ];
    let name: String = parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.html")
}
