//! What the pages show, read from the datastore: plain data, no HTML.

use std::collections::BTreeMap;

use mfw_graph::{BlobHash, FlowGraph};
use mfw_store::{Datastore, RunRecord, RunStatus, StoreError, TaskRecord, TaskStatus};
use serde::Serialize;

/// A run as the runs list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// The flow.
    pub flow: String,
    /// The run's id.
    pub run_id: String,
    /// `running`, `succeeded`, `failed`, `interrupted`, or `stale` for a
    /// run whose process stopped saying it is alive.
    pub status: String,
    /// When it started (ms since the epoch).
    pub started_at: u64,
    /// How long it ran, or has run so far.
    pub duration_ms: u64,
    /// The user's tags, as `mfw tag` left them.
    pub tags: Vec<String>,
    /// Who started it (its `user:` tag), empty when unknown.
    pub user: String,
    /// Tasks finished.
    pub tasks: u64,
    /// Tasks failed.
    pub failed: u64,
    /// Tasks taken from the cache.
    pub cached: u64,
    /// Tasks reused by resume.
    pub reused: u64,
}

impl RunRow {
    /// Whether the row may still change on its own (its run is going on).
    pub fn is_live(&self) -> bool {
        self.status == "running"
    }
}

/// The row of `record`, with its tags and liveness read beside it.
pub async fn run_row(store: &Datastore, record: &RunRecord) -> RunRow {
    let tags = store
        .run_tags(record)
        .await
        .unwrap_or_else(|_| record.tags.clone());
    let observed = store.observe_run(record).await;
    let user = record.user().to_string();
    RunRow {
        flow: record.flow.clone(),
        run_id: record.run_id.clone(),
        status: observed.status,
        started_at: record.started_at,
        duration_ms: observed.duration_millis,
        tags,
        user,
        tasks: record.tasks_succeeded + record.tasks_failed,
        failed: record.tasks_failed,
        cached: record.tasks_cached,
        reused: record.tasks_reused,
    }
}

/// One attempt of a task, as the timeline draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptBar {
    pub attempt: u32,
    pub started_at: u64,
    pub finished_at: u64,
    pub ok: bool,
}

/// A task on the run page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskBar {
    pub task_id: String,
    pub ok: bool,
    /// Taken from the cache or reused by resume: the run where it ran.
    pub cloned_from: Option<String>,
    pub cached: bool,
    /// It has no record yet but has printed: it is running.
    pub running: bool,
    pub attempts: Vec<AttemptBar>,
}

impl TaskBar {
    fn of(record: &TaskRecord) -> Self {
        Self {
            task_id: record.task_id.clone(),
            ok: record.status == TaskStatus::Succeeded,
            cloned_from: record.cloned_from.clone(),
            cached: record.cached,
            running: false,
            attempts: record
                .attempts
                .iter()
                .map(|a| AttemptBar {
                    attempt: a.attempt,
                    started_at: a.started_at,
                    finished_at: a.finished_at,
                    ok: a.status == TaskStatus::Succeeded,
                })
                .collect(),
        }
    }
}

/// A step of a run: its place in the graph and the tasks it had.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    pub name: String,
    /// `done`, `failed`, `running` (a task is recorded, the run goes on),
    /// `pending`, or `skipped`: a case a switch did not take in a run that
    /// succeeded.
    pub status: &'static str,
    /// The language of the component that holds it.
    pub language: String,
    /// The component's hash.
    pub component: Option<BlobHash>,
    pub tasks: Vec<TaskBar>,
}

/// A run page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    /// The run as the list shows it.
    pub row: RunRow,
    /// Its graph, when it was recorded.
    pub graph: Option<FlowGraph>,
    /// The run it resumed.
    pub origin_run_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Each parameter's value, shown.
    pub parameters: Vec<(String, String)>,
    /// Its steps, in the graph's order.
    pub steps: Vec<StepView>,
    /// Task records that could not be read.
    pub damaged: usize,
}

/// The language an SDK string (`mfw-python/0.1.0`) names.
fn language_of(sdk: &str) -> String {
    let name = sdk.split('/').next().unwrap_or(sdk);
    name.strip_prefix("mfw-").unwrap_or(name).to_string()
}

/// Reads a run's page.
pub async fn run_view(store: &Datastore, flow: &str, run_id: &str) -> Result<RunView, StoreError> {
    let record = store.read_run(flow, run_id).await?;
    let mut row = run_row(store, &record).await;
    let (mut tasks, damaged) = store.list_tasks_checked(flow, run_id).await?;
    if row.is_live() {
        // The record's counts are written when the run ends; until then
        // the task records say how far it got.
        let all = || tasks.values().flatten();
        row.tasks = all().count() as u64;
        row.failed = all().filter(|t| t.status == TaskStatus::Failed).count() as u64;
        row.cached = all().filter(|t| t.cached).count() as u64;
        row.reused = all()
            .filter(|t| t.cloned_from.is_some() && !t.cached)
            .count() as u64;
    }
    let mut parameters = Vec::new();
    for (name, hash) in &record.parameters {
        parameters.push((name.clone(), preview(store, hash).await.text));
    }
    let mut component_of: BTreeMap<&str, (&BlobHash, &str)> = BTreeMap::new();
    for component in &record.components {
        for step in &component.steps {
            component_of.insert(step, (&component.hash, &component.sdk));
        }
    }
    let live = row.is_live();
    // Tasks that printed while running and have no record yet.
    let mut running: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if live {
        for (step, task_id) in store.live_logs(flow, run_id).await.unwrap_or_default() {
            let recorded = tasks
                .get(&step)
                .is_some_and(|t| t.iter().any(|r| r.task_id == task_id));
            if !recorded {
                running.entry(step).or_default().push(task_id);
            }
        }
    }
    let names: Vec<String> = match &record.graph {
        Some(graph) => graph.steps.iter().map(|s| s.name.clone()).collect(),
        None => tasks.keys().cloned().collect(),
    };
    let steps = names
        .into_iter()
        .map(|name| {
            let records = tasks.remove(&name).unwrap_or_default();
            let failed = records.iter().any(|t| t.status == TaskStatus::Failed);
            let status = match (records.is_empty(), failed, live) {
                // A run that succeeded ran every step it reached.
                (true, _, _) if row.status == "succeeded" => "skipped",
                (true, _, _) => "pending",
                (false, true, _) => "failed",
                (false, false, true) => "running",
                (false, false, false) => "done",
            };
            let (component, sdk) = component_of
                .get(name.as_str())
                .map_or((None, ""), |(hash, sdk)| (Some(**hash), *sdk));
            let mut bars: Vec<TaskBar> = records.iter().map(TaskBar::of).collect();
            for task_id in running.remove(&name).unwrap_or_default() {
                bars.push(TaskBar {
                    task_id,
                    ok: true,
                    cloned_from: None,
                    cached: false,
                    running: true,
                    attempts: Vec::new(),
                });
            }
            let status = if status == "pending" && !bars.is_empty() {
                "running"
            } else {
                status
            };
            StepView {
                status,
                language: language_of(sdk),
                component,
                tasks: bars,
                name,
            }
        })
        .collect();
    Ok(RunView {
        row,
        graph: record.graph,
        origin_run_id: record.origin_run_id,
        error: record.error,
        parameters,
        steps,
        damaged: damaged.len(),
    })
}

/// A value as a page shows it: what kind it is, and a bounded rendering.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    /// `int`, `text`, `ndarray`, `table`, … or `unreadable`.
    pub kind: String,
    pub size: u64,
    /// At most [`MAX_PREVIEW_TEXT`] bytes.
    pub text: String,
    /// For a table: its column names and first rows, each cell shown.
    pub table: Option<TablePreview>,
}

/// The first rows of a data frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TablePreview {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub total_rows: usize,
}

/// The most of a value a page reads to preview it; a larger one is only
/// named and sized (`mfw dump` or the client reads it).
pub const MAX_PREVIEW_BYTES: u64 = 8 << 20;

/// The most of a value's text a page shows.
pub const MAX_PREVIEW_TEXT: usize = 2000;

/// The most rows of a data frame a page shows.
pub const MAX_PREVIEW_ROWS: usize = 20;

/// Reads `hash` (checked against its hash as it is read) and renders it.
pub async fn preview(store: &Datastore, hash: &BlobHash) -> Preview {
    let unreadable = |size, why: String| Preview {
        kind: "unreadable".into(),
        size,
        text: why,
        table: None,
    };
    let mut reader = match store.value_reader(hash).await {
        Ok(reader) => reader,
        Err(e) => return unreadable(0, e.to_string()),
    };
    let size = reader.size();
    if size > MAX_PREVIEW_BYTES {
        let kind = match reader.next_piece().await {
            Ok(Some(head)) => mfw_encoding::kind_of(&head).unwrap_or("value"),
            _ => "value",
        };
        return Preview {
            kind: kind.into(),
            size,
            text: format!("{size} bytes: too large to show here (`mfw dump` reads it)"),
            table: None,
        };
    }
    let mut bytes = Vec::with_capacity(size as usize);
    loop {
        match reader.next_piece().await {
            Ok(Some(piece)) => bytes.extend_from_slice(&piece),
            Ok(None) => break,
            Err(e) => return unreadable(size, e.to_string()),
        }
    }
    let value = match mfw_encoding::decode(&bytes) {
        Ok(value) => value,
        Err(e) => return unreadable(size, e.to_string()),
    };
    let arrow = mfw_encoding::ArrowTable::from_value(&value).ok();
    let kind = if arrow.is_some() {
        "table"
    } else if mfw_encoding::NdArray::from_value(&value).is_ok() {
        "ndarray"
    } else {
        value.kind()
    };
    let table = arrow.and_then(|t| table_preview(&t));
    Preview {
        kind: kind.into(),
        size,
        text: value.repr_bounded(MAX_PREVIEW_TEXT),
        table,
    }
}

fn table_preview(table: &mfw_encoding::ArrowTable) -> Option<TablePreview> {
    use arrow_cast::display::{ArrayFormatter, FormatOptions};
    let (schema, batches) = table.record_batches().ok()?;
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let total_rows = batches.iter().map(|b| b.num_rows()).sum();
    let options = FormatOptions::default().with_null("None");
    let mut rows = Vec::new();
    'batches: for batch in &batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .ok()?;
        for row in 0..batch.num_rows() {
            if rows.len() == MAX_PREVIEW_ROWS {
                break 'batches;
            }
            rows.push(
                formatters
                    .iter()
                    .map(|f| {
                        let mut cell = f.value(row).to_string();
                        cell.truncate(cell.floor_char_boundary(200));
                        cell
                    })
                    .collect(),
            );
        }
    }
    Some(TablePreview {
        columns,
        rows,
        total_rows,
    })
}

/// An artifact on a task page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArtifactView {
    pub name: String,
    pub hash: BlobHash,
    pub preview: Preview,
}

/// One attempt's output on a task page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptView {
    pub attempt: u32,
    pub started_at: u64,
    pub finished_at: u64,
    pub ok: bool,
    pub error: Option<mfw_store::TaskError>,
    pub stdout: String,
    pub stderr: String,
    pub memory_bytes: Option<u64>,
}

/// The most of a log a page shows: its end, where the failure is.
pub const MAX_LOG_BYTES: usize = 1 << 20;

/// A task page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView {
    /// The task's record.
    pub record: TaskRecord,
    /// Its attempts with their output.
    pub attempts: Vec<AttemptView>,
    /// Its artifacts, previewed.
    pub artifacts: Vec<ArtifactView>,
    /// The run is going on: the page follows it.
    pub run_live: bool,
}

/// A stored log's last [`MAX_LOG_BYTES`], as text.
async fn log_text(store: &Datastore, hash: Option<&BlobHash>) -> String {
    let Some(hash) = hash else {
        return String::new();
    };
    match store.get_blob(hash).await {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(MAX_LOG_BYTES);
            let text = String::from_utf8_lossy(&bytes[start..]).into_owned();
            if start > 0 {
                format!("[… the first {start} bytes are not shown: `mfw logs` prints them]\n{text}")
            } else {
                text
            }
        }
        Err(e) => format!("[the log cannot be read: {e}]"),
    }
}

/// What a running task has printed so far, for its page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningTaskView {
    /// `Flow/run/step/task`.
    pub pathspec: String,
    /// The end of its output, as last stored.
    pub log: mfw_store::LiveLog,
}

/// The page of a task that has no record: running, if it has printed.
pub async fn running_task_view(
    store: &Datastore,
    flow: &str,
    run_id: &str,
    step: &str,
    task_id: &str,
) -> Option<RunningTaskView> {
    let run = store.read_run(flow, run_id).await.ok()?;
    if run.status != RunStatus::Running {
        return None;
    }
    let log = store.live_log(flow, run_id, step, task_id).await.ok()??;
    Some(RunningTaskView {
        pathspec: format!("{flow}/{run_id}/{step}/{task_id}"),
        log,
    })
}

/// Reads a task's page.
pub async fn task_view(
    store: &Datastore,
    flow: &str,
    run_id: &str,
    step: &str,
    task_id: &str,
) -> Result<TaskView, StoreError> {
    let record = store.read_task(flow, run_id, step, task_id).await?;
    let run_live = match store.read_run(flow, run_id).await {
        Ok(run) => run.status == RunStatus::Running,
        Err(_) => false,
    };
    let mut attempts = Vec::with_capacity(record.attempts.len());
    for a in &record.attempts {
        attempts.push(AttemptView {
            attempt: a.attempt,
            started_at: a.started_at,
            finished_at: a.finished_at,
            ok: a.status == TaskStatus::Succeeded,
            error: a.error.clone(),
            stdout: log_text(store, a.stdout.as_ref()).await,
            stderr: log_text(store, a.stderr.as_ref()).await,
            memory_bytes: a.memory_bytes,
        });
    }
    let mut artifacts = Vec::with_capacity(record.artifacts.len());
    for (name, hash) in &record.artifacts {
        artifacts.push(ArtifactView {
            name: name.clone(),
            hash: *hash,
            preview: preview(store, hash).await,
        });
    }
    Ok(TaskView {
        record,
        attempts,
        artifacts,
        run_live,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_repr_is_cut_at_a_character_boundary() {
        let value = mfw_encoding::Value::Text("é".repeat(50));
        let shown = value.repr_bounded(10);
        assert!(shown.ends_with(" …"), "{shown}");
        assert!(shown.len() <= 10 + " …".len());
    }

    #[test]
    fn the_language_is_the_sdk_name() {
        assert_eq!(language_of("mfw-python/0.1.0"), "python");
        assert_eq!(language_of("mfw-go/0.1.0"), "go");
        assert_eq!(language_of(""), "");
    }

    #[tokio::test]
    async fn a_data_frame_is_previewed_as_its_first_rows() {
        use mfw_encoding::arrow_array::{Float64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let store =
            Datastore::with_backend(Arc::new(object_store::memory::InMemory::new()), "memory");
        let genres: Vec<String> = (0..30).map(|i| format!("g<{i}>")).collect();
        let gross: Vec<f64> = (0..30).map(|i| i as f64 * 1.5).collect();
        let batch = RecordBatch::try_from_iter([
            ("genre", Arc::new(StringArray::from(genres)) as _),
            ("gross", Arc::new(Float64Array::from(gross)) as _),
        ])
        .unwrap();
        let table =
            mfw_encoding::ArrowTable::from_record_batches(&batch.schema(), &[batch]).unwrap();
        let hash = store
            .put_blob(mfw_encoding::encode(&table.to_value()).into())
            .await
            .unwrap();
        let preview = preview(&store, &hash).await;
        assert_eq!(preview.kind, "table");
        let table = preview.table.expect("a table preview");
        assert_eq!(table.columns, ["genre", "gross"]);
        assert_eq!((table.rows.len(), table.total_rows), (MAX_PREVIEW_ROWS, 30));
        assert_eq!(table.rows[3], ["g<3>", "4.5"]);
    }

    #[tokio::test]
    async fn a_value_too_large_to_show_is_only_named_and_sized() {
        use std::sync::Arc;
        let store =
            Datastore::with_backend(Arc::new(object_store::memory::InMemory::new()), "memory");
        let big = mfw_encoding::Value::Bytes(vec![7; MAX_PREVIEW_BYTES as usize + 1]);
        let hash = store
            .put_blob(mfw_encoding::encode(&big).into())
            .await
            .unwrap();
        let preview = preview(&store, &hash).await;
        assert_eq!(preview.kind, "bytes");
        assert!(preview.size > MAX_PREVIEW_BYTES);
        assert!(
            preview.text.contains("too large to show"),
            "{}",
            preview.text
        );
    }

    #[tokio::test]
    async fn a_case_a_switch_did_not_take_is_skipped_once_the_run_succeeded() {
        use mfw_graph::{FlowGraph, Step};
        let store = Datastore::with_backend(
            std::sync::Arc::new(object_store::memory::InMemory::new()),
            "memory",
        );
        let mut run = mfw_store::RunRecord::new("F");
        run.graph = Some(
            FlowGraph::new("F")
                .with_step(Step::switch("start", "m", [("1", "a"), ("2", "b")]))
                .with_step(Step::linear("a", ["end"]))
                .with_step(Step::linear("b", ["end"]))
                .with_step(Step::end()),
        );
        store.create_run(&mut run).await.unwrap();
        for step in ["start", "a"] {
            let mut task = mfw_store::TaskRecord::new("F", &run.run_id, step, "0");
            task.status = TaskStatus::Succeeded;
            store.write_task(&task).await.unwrap();
        }
        let status_of = |view: &RunView, step: &str| {
            view.steps.iter().find(|s| s.name == step).map(|s| s.status)
        };
        // While it runs, and if it fails, a step without tasks may still come.
        run.status = mfw_store::RunStatus::Failed;
        run.finished_at = Some(run.started_at + 5);
        store.update_run(&run).await.unwrap();
        let view = run_view(&store, "F", &run.run_id).await.unwrap();
        assert_eq!(status_of(&view, "b"), Some("pending"));
        run.status = mfw_store::RunStatus::Succeeded;
        store.update_run(&run).await.unwrap();
        let view = run_view(&store, "F", &run.run_id).await.unwrap();
        assert_eq!(status_of(&view, "a"), Some("done"));
        assert_eq!(status_of(&view, "b"), Some("skipped"));
    }
}
