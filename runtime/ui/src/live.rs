//! The runs the UI knows, kept up to date by one watcher for every open
//! page: it lists the store's runs, reads the records of new ones and of
//! those still running, and announces what changed. Pages listen to those
//! announcements (server-sent events) and fetch again only what changed,
//! so a hundred open tabs still make one watcher's worth of reads.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

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
        let flows = store.list_flows().await.unwrap_or_default();
        for flow in flows {
            let Ok(ids) = store.list_run_ids(&flow).await else {
                continue;
            };
            for id in ids {
                let key = (flow.clone(), id.clone());
                let known = self.rows.read().ok().and_then(|r| r.get(&key).cloned());
                seen.push(key.clone());
                if known.as_ref().is_some_and(|k| !k.is_live()) && !full {
                    continue;
                }
                let Ok(record) = store.read_run(&flow, &id).await else {
                    continue;
                };
                let mut row = run_row(store, &record).await;
                let mut changed = false;
                if row.is_live() {
                    // Its record's counts are written when it ends; a task
                    // recorded or printing changes what is under it.
                    let (count, fingerprint) =
                        store.run_activity(&flow, &id).await.unwrap_or((0, 0));
                    row.tasks = count as u64;
                    if let Ok(mut activity) = self.activity.write() {
                        changed = activity.insert(key.clone(), fingerprint) != Some(fingerprint);
                    }
                } else if let Ok(mut activity) = self.activity.write() {
                    activity.remove(&key);
                }
                let changed = changed || known.as_ref() != Some(&row);
                if changed {
                    changes.push(run_change(&flow, &id));
                    if let Ok(mut rows) = self.rows.write() {
                        rows.insert(key, row);
                    }
                }
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

        // A running run is re-read, and a task recorded is a change.
        assert!(index.refresh(&store, false).await.is_empty());
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
