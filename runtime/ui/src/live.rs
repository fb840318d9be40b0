//! The runs the UI knows, kept up to date by one watcher for every open
//! page: it lists the store's runs, reads the records of new ones and of
//! those still running, and announces what changed. Pages listen to those
//! announcements (server-sent events) and fetch again only what changed,
//! so a hundred open tabs still make one watcher's worth of reads.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use futures::{StreamExt, stream};
use mfw_store::Datastore;
use tokio::sync::broadcast;

use crate::view::{RunRow, run_row};

/// What changed: `runs` (the list), or `run Flow/id` (a run, its tasks).
pub type Change = String;

/// The change a page showing `flow/run_id` listens for.
pub fn run_change(flow: &str, run_id: &str) -> Change {
    format!("run {flow}/{run_id}")
}

/// Every run's row (a running run's with the tasks recorded so far), and
/// a fingerprint of what is stored under each running run.
#[derive(Default)]
pub struct RunIndex {
    rows: RwLock<BTreeMap<(String, String), RunRow>>,
    activity: RwLock<BTreeMap<(String, String), u64>>,
}

/// How many watcher rounds between two full re-reads (a tag changed by
/// `mfw tag`, a run gone stale).
const FULL_EVERY: u64 = 30;

/// How many runs a round reads at once (a few requests each).
const READS_AT_ONCE: usize = 32;

impl RunIndex {
    /// The rows, newest first, that `keep` keeps, at most `limit`, and how
    /// many it kept in all.
    pub fn rows(&self, keep: impl Fn(&RunRow) -> bool, limit: usize) -> (Vec<RunRow>, usize) {
        let Ok(rows) = self.rows.read() else {
            return (Vec::new(), 0);
        };
        let mut kept: Vec<&RunRow> = rows.values().filter(|r| keep(r)).collect();
        // Newest first; run ids break ties the way the store orders them.
        kept.sort_by(|a, b| {
            (b.started_at, b.run_id.len(), &b.run_id).cmp(&(
                a.started_at,
                a.run_id.len(),
                &a.run_id,
            ))
        });
        let total = kept.len();
        (kept.into_iter().take(limit).cloned().collect(), total)
    }

    /// The flows that have runs.
    pub fn flows(&self) -> Vec<String> {
        let Ok(rows) = self.rows.read() else {
            return Vec::new();
        };
        let mut flows: Vec<String> = rows.keys().map(|(f, _)| f.clone()).collect();
        flows.dedup();
        flows
    }

    /// One round: reads what may have changed, returns what did.
    pub async fn refresh(&self, store: &Datastore, full: bool) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut seen = Vec::new();
        let mut to_read = Vec::new();
        let flows = store.list_flows().await.unwrap_or_default();
        for flow in flows {
            let Ok(ids) = store.list_run_ids(&flow).await else {
                continue;
            };
            for id in ids {
                let key = (flow.clone(), id);
                let known = self.rows.read().ok().and_then(|r| r.get(&key).cloned());
                seen.push(key.clone());
                if known.as_ref().is_some_and(|k| !k.is_live()) && !full {
                    continue;
                }
                to_read.push((key, known));
            }
        }
        // A run costs a few small reads; one at a time, the first round over
        // 10,000 runs took 0.9 s on a local disk and minutes on S3.
        let read: Vec<_> = stream::iter(to_read)
            .map(|(key, known)| async move {
                let (flow, id) = &key;
                let record = store.read_run(flow, id).await.ok()?;
                let mut row = run_row(store, &record).await;
                let mut fingerprint = None;
                if row.is_live() {
                    // Its record's counts are written when it ends; a task
                    // recorded or printing changes what is under it.
                    let (count, print) = store.run_activity(flow, id).await.unwrap_or((0, 0));
                    row.tasks = count as u64;
                    fingerprint = Some(print);
                }
                Some((key, known, row, fingerprint))
            })
            .buffered(READS_AT_ONCE)
            .collect()
            .await;
        for (key, known, row, fingerprint) in read.into_iter().flatten() {
            let mut changed = false;
            if let Ok(mut activity) = self.activity.write() {
                match fingerprint {
                    Some(print) => changed = activity.insert(key.clone(), print) != Some(print),
                    None => {
                        activity.remove(&key);
                    }
                }
            }
            // A running run's duration grows by itself: it is kept, but
            // is not news (else every round would announce every such run).
            let news = changed || !known.as_ref().is_some_and(|k| same_but_duration(k, &row));
            if news {
                changes.push(run_change(&key.0, &key.1));
            }
            if known.as_ref() != Some(&row)
                && let Ok(mut rows) = self.rows.write()
            {
                rows.insert(key, row);
            }
        }
        if let Ok(mut rows) = self.rows.write() {
            let before = rows.len();
            let seen: std::collections::HashSet<_> = seen.into_iter().collect();
            rows.retain(|key, _| seen.contains(key));
            if rows.len() != before {
                changes.push("runs".into());
            }
        }
        if !changes.is_empty() && !changes.iter().any(|c| c == "runs") {
            changes.push("runs".into());
        }
        changes
    }
}

/// Whether two rows of a run differ at most in how long it has run.
fn same_but_duration(a: &RunRow, b: &RunRow) -> bool {
    RunRow {
        duration_ms: b.duration_ms,
        ..a.clone()
    } == *b
}

/// Watches `store` every `every`, announcing changes on `changes`, until
/// nobody can listen any more.
pub async fn watch(
    index: std::sync::Arc<RunIndex>,
    store: Datastore,
    every: Duration,
    changes: broadcast::Sender<Change>,
) {
    let mut round = 0u64;
    loop {
        tokio::time::sleep(every).await;
        round += 1;
        for change in index
            .refresh(&store, round.is_multiple_of(FULL_EVERY))
            .await
        {
            // Nobody listening is fine: the index is still current.
            let _ = changes.send(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn store() -> Datastore {
        Datastore::with_backend(Arc::new(object_store::memory::InMemory::new()), "memory")
    }

    #[tokio::test]
    async fn a_new_run_and_a_finished_one_are_announced_once() {
        let store = store();
        let index = RunIndex::default();
        let mut run = mfw_store::RunRecord::new("F");
        store.create_run(&mut run).await.unwrap();
        store.beat("F", &run.run_id).await.unwrap();
        let changes = index.refresh(&store, false).await;
        assert_eq!(changes, [run_change("F", &run.run_id), "runs".to_string()]);
        let (rows, total) = index.rows(|_| true, 10);
        assert_eq!((rows[0].status.as_str(), total), ("running", 1));

        // A running run is re-read; the time it has run is kept but is not
        // news, and a task recorded is a change.
        let ran = rows[0].duration_ms;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(index.refresh(&store, false).await.is_empty());
        assert!(index.rows(|_| true, 10).0[0].duration_ms >= ran + 5);
        let task = mfw_store::TaskRecord::new("F", &run.run_id, "start", "0");
        store.write_task(&task).await.unwrap();
        assert_eq!(index.refresh(&store, false).await.len(), 2);

        run.status = mfw_store::RunStatus::Succeeded;
        run.finished_at = Some(run.started_at + 5);
        store.update_run(&run).await.unwrap();
        assert_eq!(index.refresh(&store, false).await.len(), 2);
        assert_eq!(index.rows(|_| true, 10).0[0].status, "succeeded");
        // A finished run is not read again between full rounds.
        assert!(index.refresh(&store, false).await.is_empty());
        assert!(index.refresh(&store, true).await.is_empty());
    }

    #[tokio::test]
    async fn rows_come_newest_first_and_are_limited() {
        let store = store();
        for started in [5, 9, 7] {
            let mut run = mfw_store::RunRecord::new("F");
            run.started_at = started;
            run.status = mfw_store::RunStatus::Failed;
            store.create_run(&mut run).await.unwrap();
        }
        let index = RunIndex::default();
        index.refresh(&store, false).await;
        let (rows, total) = index.rows(|_| true, 2);
        assert_eq!(total, 3);
        let started: Vec<u64> = rows.iter().map(|r| r.started_at).collect();
        assert_eq!(started, [9, 7]);
        assert_eq!(index.flows(), ["F"]);
    }
}
