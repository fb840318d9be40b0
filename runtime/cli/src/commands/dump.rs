//! `mfw dump`: the artifacts of a run, a step or a task.

use super::*;

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// Flow/run[/step[/task]].
    pathspec: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The most of a value's repr the text form prints: a large array or byte
/// string would otherwise fill the terminal (`--json` gives it whole).
const MAX_SHOWN: usize = 400;

/// `value`'s repr, cut after [`MAX_SHOWN`] bytes with a ` …`.
fn shown(value: &mfw_encoding::Value) -> String {
    value.repr_bounded(MAX_SHOWN)
}

/// Reads and decodes a stored value for display.
async fn value_of(
    store: &Datastore,
    hash: &mfw_graph::BlobHash,
    what: &str,
) -> anyhow::Result<mfw_encoding::Value> {
    let bytes = store
        .get_blob(hash)
        .await
        .with_context(|| format!("cannot read {what}"))?;
    mfw_encoding::decode(&bytes).with_context(|| format!("{what} is not a valid value"))
}

/// The values of a task's artifacts, by name.
async fn artifact_values(
    store: &Datastore,
    task: &TaskRecord,
) -> anyhow::Result<Vec<(String, mfw_encoding::Value)>> {
    let mut values = Vec::with_capacity(task.artifacts.len());
    for (name, hash) in &task.artifacts {
        let what = format!("artifact `{name}` of {}", task.pathspec());
        values.push((name.clone(), value_of(store, hash, &what).await?));
    }
    Ok(values)
}

async fn task_json(store: &Datastore, task: &TaskRecord) -> anyhow::Result<serde_json::Value> {
    let artifacts: serde_json::Map<String, serde_json::Value> = artifact_values(store, task)
        .await?
        .into_iter()
        .map(|(name, value)| (name, mfw_encoding::to_json(&value)))
        .collect();
    let mut json = serde_json::json!({
        "pathspec": task.pathspec(),
        "step": task.step,
        "task_id": task.task_id,
        "status": task.status,
        "attempts": task.attempts.len(),
        "artifacts": artifacts,
    });
    if !task.objects.is_empty() {
        json["objects"] = serde_json::json!(task.objects);
    }
    if let Some(image) = &task.image {
        json["image"] = serde_json::json!(image);
    }
    if let Some(run) = &task.cloned_from {
        json["cloned_from"] = serde_json::json!(run);
        json["cached"] = serde_json::json!(task.cached);
    }
    if let Some(last) = task.attempts.last() {
        json["started_at"] = serde_json::json!(last.started_at);
        json["finished_at"] = serde_json::json!(last.finished_at);
        if let Some(bytes) = last.memory_bytes {
            json["memory_bytes"] = serde_json::json!(bytes);
        }
        if let Some(error) = &last.error {
            json["error"] = serde_json::json!({
                "kind": error.kind,
                "message": error.message,
                "traceback": error.detail,
            });
        }
    }
    Ok(json)
}

async fn print_task(
    store: &Datastore,
    task: &TaskRecord,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let status = match task.status {
        mfw_store::TaskStatus::Succeeded => "succeeded",
        mfw_store::TaskStatus::Failed => "failed",
    };
    let mut how = vec![status.to_string()];
    how.extend(task.image.as_ref().map(|image| format!("in {image}")));
    how.extend(task.cloned_from.as_ref().map(|run| {
        if task.cached {
            format!("cached from run {run}")
        } else {
            format!("reused from run {run}")
        }
    }));
    writeln!(out, "{} ({})", task.pathspec(), how.join(", "))?;
    for (name, value) in artifact_values(store, task).await? {
        writeln!(out, "  {name} = {}", shown(&value))?;
    }
    // Objects are raw bytes of any size: their keys and hashes only.
    for (key, hash) in &task.objects {
        writeln!(out, "  object {} (blake3 {hash})", key.escape_debug())?;
    }
    if let Some(error) = task.last_attempt().and_then(|a| a.error.as_ref()) {
        writeln!(out, "  error: {}", error.message)?;
        for line in error.detail.trim_end().lines() {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(())
}

pub async fn dump(context: &Context, args: DumpArgs) -> anyhow::Result<ExitCode> {
    let store = context.store()?;
    let spec = Pathspec::parse(&args.pathspec)?;
    let run = store.read_run(&spec.flow, &spec.run_id).await?;
    let mut out = std::io::stdout().lock();
    if let (Some(step), Some(task_id)) = (&spec.step, &spec.task_id) {
        let task = store
            .read_task(&spec.flow, &spec.run_id, step, task_id)
            .await?;
        if args.json {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&task_json(&store, &task).await?)?
            )?;
        } else {
            print_task(&store, &task, &mut out).await?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (all, damaged) = store.list_tasks_checked(&spec.flow, &spec.run_id).await?;
    warn_damaged(&damaged);
    let order: Vec<String> = match &run.graph {
        Some(graph) => graph.steps.iter().map(|s| s.name.clone()).collect(),
        None => all.keys().cloned().collect(),
    };
    let steps: Vec<&String> = match &spec.step {
        Some(step) => {
            if !all.contains_key(step) {
                bail!(
                    "run {}/{} has no tasks of step `{step}` (its steps: {})",
                    spec.flow,
                    spec.run_id,
                    order.join(", ")
                );
            }
            vec![step]
        }
        None => order.iter().filter(|s| all.contains_key(*s)).collect(),
    };
    let mut parameters = BTreeMap::new();
    for (name, hash) in &run.parameters {
        parameters.insert(
            name.clone(),
            value_of(&store, hash, &format!("parameter `{name}`")).await?,
        );
    }
    if args.json {
        let mut tasks = Vec::new();
        for step in &steps {
            for task in &all[*step] {
                tasks.push(task_json(&store, task).await?);
            }
        }
        let parameters: serde_json::Map<String, serde_json::Value> = parameters
            .iter()
            .map(|(k, v)| (k.clone(), mfw_encoding::to_json(v)))
            .collect();
        let doc = serde_json::json!({
            "flow": run.flow,
            "run_id": run.run_id,
            "status": run.status,
            "parameters": parameters,
            "tasks": tasks,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}/{} ({}, {})",
        run.flow,
        run.run_id,
        run.status,
        format_duration(run.duration_millis())
    )?;
    for (name, value) in &parameters {
        writeln!(out, "  parameter {name} = {}", shown(value))?;
    }
    if let Some(error) = &run.error {
        writeln!(out, "  error: {error}")?;
    }
    for step in steps {
        for task in &all[step] {
            print_task(&store, task, &mut out).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_cut_and_a_short_one_is_whole() {
        let long = mfw_encoding::Value::Bytes(vec![0; 100_000]);
        let text = shown(&long);
        assert!(text.ends_with(" …"), "{text}");
        assert!(text.len() <= MAX_SHOWN + 4);
        let short = mfw_encoding::Value::Text("é".repeat(10));
        assert_eq!(shown(&short), format!("'{}'", "é".repeat(10)));
        // Cut inside a multi-byte character: still valid text.
        let wide = mfw_encoding::Value::Text("é".repeat(1000));
        assert!(shown(&wide).ends_with("é …"));
    }
}
