//! Other runs of the datastore, as tasks read them (the contract's `runs`
//! interface), and the check that a task's recorded reads still hold.

use std::sync::Arc;

use bytes::Bytes;
use mfw_graph::BlobHash;
use mfw_host::{
    BlobError, BlobSource, Question, ReadError, RunReader, RunView, RunsRead, TaskView, TriggerView,
};
use mfw_store::{Datastore, RunTrigger, StoreError, TaskRecord};
use tokio::runtime::Handle;

use crate::blobs::StoreBlobs;

/// A [`RunReader`] over a datastore, for tasks on blocking threads of a
/// tokio runtime.
///
/// ```no_run
/// # fn f(store: mfw_store::Datastore) {
/// use std::sync::Arc;
/// let handle = tokio::runtime::Handle::current();
/// let blobs = Arc::new(mfw_orchestrator::StoreBlobs::new(store.clone(), handle.clone()));
/// let runs = mfw_orchestrator::StoreRuns::new("alice", None, store, blobs, handle);
/// # }
/// ```
pub struct StoreRuns {
    /// Who started the run the tasks belong to.
    user: String,
    /// What started it, if a trigger did.
    trigger: Option<TriggerView>,
    store: Datastore,
    blobs: Arc<StoreBlobs>,
    handle: Handle,
}

impl StoreRuns {
    /// Reads `store` for tasks of a run `user` started, values through
    /// `blobs`, driving futures on `handle`.
    pub fn new(
        user: &str,
        trigger: Option<&RunTrigger>,
        store: Datastore,
        blobs: Arc<StoreBlobs>,
        handle: Handle,
    ) -> Self {
        Self {
            user: user.to_string(),
            trigger: trigger.map(trigger_view),
            store,
            blobs,
            handle,
        }
    }

    /// The reader for the tasks of `record`'s run, started by `info.user`.
    pub(crate) fn for_run(
        info: &mfw_host::RunInfo,
        record: &mfw_store::RunRecord,
        store: &Datastore,
        blobs: &Arc<StoreBlobs>,
    ) -> Option<Arc<Self>> {
        let handle = Handle::current();
        let trigger = record.trigger.as_ref();
        let reader = Self::new(&info.user, trigger, store.clone(), blobs.clone(), handle);
        Some(Arc::new(reader))
    }

    fn block_on<T>(
        &self,
        future: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ReadError> {
        // Messages a step sees name what it asked for, never where the
        // datastore is.
        self.handle.block_on(future).map_err(|e| match e {
            StoreError::RunNotFound { flow, run_id, .. } => {
                ReadError::NotFound(format!("run {flow}/{run_id} not found"))
            }
            StoreError::TaskNotFound {
                flow,
                run_id,
                step,
                task_id,
                ..
            } => ReadError::NotFound(format!("task {flow}/{run_id}/{step}/{task_id} not found")),
            other => ReadError::Storage(BlobError::new(other)),
        })
    }
}

/// Run ids newest first: longer ids are later, then by text (as the
/// Python client orders them).
fn newest_first(ids: &mut [String]) {
    ids.sort_by(|a, b| (b.len(), b).cmp(&(a.len(), a)));
}

fn text_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

fn trigger_view(trigger: &RunTrigger) -> TriggerView {
    match trigger {
        RunTrigger::Run { flow, run_id } => TriggerView {
            kind: "run".into(),
            flow: Some(flow.clone()),
            run_id: Some(run_id.clone()),
            ..TriggerView::default()
        },
        RunTrigger::Event { name, payload } => TriggerView {
            kind: "event".into(),
            event: Some(name.clone()),
            payload: payload.clone(),
            ..TriggerView::default()
        },
    }
}

fn task_view(record: TaskRecord) -> TaskView {
    let last = record.attempts.last();
    TaskView {
        status: text_of(&record.status),
        stdout: last.and_then(|a| a.stdout),
        stderr: last.and_then(|a| a.stderr),
        exception: last
            .and_then(|a| a.error.as_ref())
            .map(|e| e.message.clone()),
        foreach_index: record.foreach.last().map(|f| f.index),
        cloned_from: record.cloned_from,
        cached: record.cached,
        artifacts: record.artifacts,
        step: record.step,
        id: record.task_id,
    }
}

impl RunReader for StoreRuns {
    fn default_namespace(&self) -> Result<String, ReadError> {
        Ok(format!("user:{}", self.user))
    }

    fn trigger(&self) -> Result<Option<TriggerView>, ReadError> {
        Ok(self.trigger.clone())
    }

    fn flows(&self) -> Result<Vec<String>, ReadError> {
        self.block_on(self.store.list_flows())
    }

    fn run_ids(&self, flow: &str) -> Result<Vec<String>, ReadError> {
        let runs = self.block_on(self.store.list_runs(flow))?;
        if runs.is_empty() {
            return Err(ReadError::NotFound(format!(
                "flow {flow} has no runs in this run's datastore"
            )));
        }
        let mut ids: Vec<String> = runs.into_iter().map(|r| r.run_id).collect();
        newest_first(&mut ids);
        Ok(ids)
    }

    fn run(&self, flow: &str, id: &str) -> Result<RunView, ReadError> {
        let record = self.block_on(self.store.read_run(flow, id))?;
        let mut user_tags = self.block_on(self.store.run_tags(&record))?;
        user_tags.sort();
        let mut system_tags = record.system_tags.clone();
        system_tags.sort();
        Ok(RunView {
            flow: record.flow.clone(),
            id: record.run_id.clone(),
            status: text_of(&record.status),
            started_ms: record.started_at,
            finished_ms: record.finished_at,
            user_tags,
            system_tags,
            error: record.error.clone(),
            origin_run_id: record.origin_run_id.clone(),
            steps: record
                .graph
                .as_ref()
                .map(|g| g.steps.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default(),
            parameters: record.parameters,
        })
    }

    fn tasks(&self, flow: &str, run: &str, step: &str) -> Result<Vec<TaskView>, ReadError> {
        // The run must exist: an empty list means its step has not run.
        self.block_on(self.store.read_run(flow, run))?;
        // One read of the step's records and packs, not one per task.
        let (records, damaged) =
            self.block_on(self.store.list_step_tasks_checked(flow, run, step))?;
        if let Some(bad) = damaged.into_iter().next() {
            return Err(ReadError::Storage(BlobError::new(StoreError::BadRecord {
                path: bad.path,
                store: self.store.location().to_string(),
                reason: bad.reason,
            })));
        }
        Ok(records.into_iter().map(task_view).collect())
    }

    fn value(&self, hash: &BlobHash) -> Result<Bytes, ReadError> {
        Ok(self.blobs.load(hash)?)
    }
}

/// Whether every question `old` asked of other runs has the same answer
/// now: only then may the cache reuse it. Asked on a blocking thread.
pub(crate) async fn reads_still_hold(reader: Arc<StoreRuns>, old: &TaskRecord) -> bool {
    let Some(reads) = old.runs_read.clone() else {
        return true;
    };
    if reads.is_empty() {
        return true;
    }
    tokio::task::spawn_blocking(move || same_answers(reader.as_ref(), &reads))
        .await
        .unwrap_or(false)
}

/// Whether `reader` answers each question of `reads` with the recorded
/// answer; an unreadable question or answer is a difference.
pub(crate) fn same_answers(reader: &dyn RunReader, reads: &RunsRead) -> bool {
    reads.iter().all(|(text, hash)| {
        let Ok(question) = text.parse::<Question>() else {
            return false;
        };
        mfw_host::recorded_form(&question.ask(reader))
            .is_some_and(|bytes| BlobHash::of(&bytes) == *hash)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flow whose run ids are `ids`; no runs of anything else.
    struct Ids(Vec<String>);

    impl RunReader for Ids {
        fn default_namespace(&self) -> Result<String, ReadError> {
            Ok("user:alice".into())
        }
        fn trigger(&self) -> Result<Option<TriggerView>, ReadError> {
            Ok(None)
        }
        fn flows(&self) -> Result<Vec<String>, ReadError> {
            Ok(vec!["Up".into()])
        }
        fn run_ids(&self, flow: &str) -> Result<Vec<String>, ReadError> {
            match flow {
                "Up" => Ok(self.0.clone()),
                _ => Err(ReadError::NotFound(format!("flow {flow} has no runs"))),
            }
        }
        fn run(&self, flow: &str, id: &str) -> Result<RunView, ReadError> {
            Err(ReadError::NotFound(format!("run {flow}/{id} not found")))
        }
        fn tasks(&self, _: &str, _: &str, _: &str) -> Result<Vec<TaskView>, ReadError> {
            Ok(Vec::new())
        }
        fn value(&self, hash: &BlobHash) -> Result<Bytes, ReadError> {
            Err(ReadError::NotFound(format!("no value {hash}")))
        }
    }

    fn record(reader: &dyn RunReader, questions: &[&str]) -> RunsRead {
        questions
            .iter()
            .map(|text| {
                let asked = text.parse::<Question>().unwrap().ask(reader);
                let bytes = mfw_host::recorded_form(&asked).unwrap();
                (text.to_string(), BlobHash::of(&bytes))
            })
            .collect()
    }

    #[test]
    fn recorded_reads_hold_until_an_answer_changes_even_nothing_found() {
        let before = Ids(vec!["2".into(), "1".into()]);
        let reads = record(
            &before,
            &["run-ids Up", "run-ids Down", "default-namespace"],
        );
        assert!(same_answers(&before, &reads));
        // A newer upstream run.
        assert!(!same_answers(
            &Ids(vec!["3".into(), "2".into(), "1".into()]),
            &reads
        ));
        // "Nothing there" was an answer too: Down now has runs.
        struct DownToo(Ids);
        impl RunReader for DownToo {
            fn default_namespace(&self) -> Result<String, ReadError> {
                self.0.default_namespace()
            }
            fn trigger(&self) -> Result<Option<TriggerView>, ReadError> {
                self.0.trigger()
            }
            fn flows(&self) -> Result<Vec<String>, ReadError> {
                self.0.flows()
            }
            fn run_ids(&self, _: &str) -> Result<Vec<String>, ReadError> {
                Ok(self.0.0.clone())
            }
            fn run(&self, f: &str, id: &str) -> Result<RunView, ReadError> {
                self.0.run(f, id)
            }
            fn tasks(&self, f: &str, r: &str, s: &str) -> Result<Vec<TaskView>, ReadError> {
                self.0.tasks(f, r, s)
            }
            fn value(&self, hash: &BlobHash) -> Result<Bytes, ReadError> {
                self.0.value(hash)
            }
        }
        assert!(!same_answers(
            &DownToo(Ids(vec!["2".into(), "1".into()])),
            &reads
        ));
        // A question that is not one is never taken as answered.
        let garbled = RunsRead::from([("run-ids ../Up".to_string(), BlobHash::of(b"x"))]);
        assert!(!same_answers(&before, &garbled));
    }

    #[test]
    fn runs_are_listed_newest_first() {
        let mut ids = vec!["9".to_string(), "10".into(), "2".into(), "11".into()];
        newest_first(&mut ids);
        assert_eq!(ids, ["11", "10", "9", "2"]);
    }
}
