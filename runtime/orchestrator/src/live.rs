//! What running tasks print, stored every second so that `mfw ui` shows a
//! long task's output while it runs. A task that ends within the second
//! (most do) is never stored here: its record holds its output.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use mfw_host::OutputStream;
use mfw_store::{Datastore, LiveLog, now_millis};

/// How much of the end of each stream a live log keeps.
const KEPT: usize = 256 << 10;

/// How often the output of running tasks is stored.
pub(crate) const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Output {
    log: LiveLog,
    changed: bool,
}

/// The output of a run's running tasks, by (step, task id).
#[derive(Default)]
pub(crate) struct LiveLogs {
    tasks: Mutex<HashMap<(String, String), Output>>,
}

fn keep_end(text: &mut String) {
    if text.len() > KEPT {
        let mut cut = text.len() - KEPT;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text.drain(..cut);
    }
}

impl LiveLogs {
    /// A line task `step/task_id` wrote.
    pub(crate) fn line(&self, step: &str, task_id: &str, stream: OutputStream, line: &str) {
        let Ok(mut tasks) = self.tasks.lock() else {
            return;
        };
        let output = tasks
            .entry((step.to_string(), task_id.to_string()))
            .or_default();
        let text = match stream {
            OutputStream::Stdout => &mut output.log.stdout,
            OutputStream::Stderr => &mut output.log.stderr,
        };
        text.push_str(line);
        text.push('\n');
        keep_end(text);
        output.changed = true;
    }

    /// Task `step/task_id` ended: its record holds its output now.
    pub(crate) fn ended(&self, step: &str, task_id: &str) {
        // Most tasks print nothing: nothing to look up.
        if let Ok(mut tasks) = self.tasks.lock()
            && !tasks.is_empty()
        {
            tasks.remove(&(step.to_string(), task_id.to_string()));
        }
    }

    /// Stores the output that changed since the last call. Output is a
    /// convenience: a store that fails here fails nothing.
    pub(crate) async fn store(&self, store: &Datastore, flow: &str, run_id: &str) {
        let changed: Vec<((String, String), LiveLog)> = match self.tasks.lock() {
            Ok(mut tasks) => tasks
                .iter_mut()
                .filter(|(_, output)| output.changed)
                .map(|(key, output)| {
                    output.changed = false;
                    output.log.at = now_millis();
                    (key.clone(), output.log.clone())
                })
                .collect(),
            Err(_) => return,
        };
        for ((step, task_id), log) in changed {
            let _ = store
                .put_live_log(flow, run_id, &step, &task_id, &log)
                .await;
        }
    }

    /// Stores the output of running tasks every [`EVERY`] until aborted.
    pub(crate) async fn keep_storing(
        self: std::sync::Arc<Self>,
        store: Datastore,
        flow: String,
        run_id: String,
    ) {
        loop {
            tokio::time::sleep(EVERY).await;
            self.store(&store, &flow, &run_id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn only_changed_output_of_running_tasks_is_stored() {
        let store = Datastore::with_backend(Arc::new(object_store::memory::InMemory::new()), "m");
        let live = LiveLogs::default();
        live.line("train", "0", OutputStream::Stdout, "epoch 1");
        live.line("train", "0", OutputStream::Stderr, "warning");
        live.line("train", "1", OutputStream::Stdout, "epoch 1");
        live.ended("train", "1");
        live.store(&store, "F", "7").await;
        assert_eq!(
            store.live_logs("F", "7").await.unwrap(),
            [("train".to_string(), "0".to_string())]
        );
        let log = store
            .live_log("F", "7", "train", "0")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (log.stdout.as_str(), log.stderr.as_str()),
            ("epoch 1\n", "warning\n")
        );
        // Nothing new: nothing written (the stored time stays).
        live.store(&store, "F", "7").await;
        let again = store
            .live_log("F", "7", "train", "0")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.at, log.at);
    }

    #[test]
    fn a_long_output_keeps_its_end() {
        let live = LiveLogs::default();
        let line = "é".repeat(1000);
        for _ in 0..300 {
            live.line("s", "0", OutputStream::Stdout, &line);
        }
        let tasks = live.tasks.lock().unwrap();
        let kept = &tasks[&("s".to_string(), "0".to_string())].log.stdout;
        assert!(kept.len() <= KEPT && kept.len() > KEPT - 4);
        assert!(kept.ends_with("é\n"));
    }
}
