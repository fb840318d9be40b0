//! Task records stored several to an object.
//!
//! A run that takes a foreach's thousand tasks from the cache (or clones
//! them on resume) would write a thousand small record files, which is most
//! of what such a run costs. It writes them instead as one *pack* per step,
//! `tasks/<step>/<count>-<name>.pack`: a JSON object whose `tasks` are
//! ordinary task records. Readers see a pack's tasks as if each had its own
//! file (`read_task`, `list_task_ids`, `list_tasks`); where a task has both,
//! its own file wins. A pack is written atomically like any record, and one
//! that cannot be read is reported as a damaged record, naming the pack.

use std::collections::BTreeMap;

use object_store::PutMode;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::{Datastore, StoreError, TaskRecord};

/// What a pack says it is, so a future layout can tell its own apart.
const FORMAT: &str = "mfw task pack v1";

/// The extension of a pack's object name.
pub(crate) const EXTENSION: &str = "pack";

/// A pack as stored: written from borrowed records (`R = &TaskRecord`),
/// read into owned ones.
#[derive(Serialize, Deserialize)]
struct Pack<R> {
    format: String,
    tasks: Vec<R>,
}

impl Datastore {
    /// Writes `records` grouped by run and step, one pack for each (see the
    /// module's documentation): what [`Datastore::write_task`] does for
    /// each of them, in one write per step.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let tasks: Vec<_> = (0..3)
    ///     .map(|i| mfw_store::TaskRecord::new("F", "7", "work", &i.to_string()))
    ///     .collect();
    /// store.write_task_packs(&tasks).await.unwrap();
    /// let ids = store.list_task_ids("F", "7", "work").await.unwrap();
    /// assert_eq!(ids.len(), 3);
    /// assert_eq!(store.read_task("F", "7", "work", "2").await.unwrap(), tasks[2]);
    /// # });
    /// ```
    pub async fn write_task_packs(&self, records: &[TaskRecord]) -> Result<(), StoreError> {
        let mut by_step: BTreeMap<(&str, &str, &str), Vec<&TaskRecord>> = BTreeMap::new();
        for record in records {
            by_step
                .entry((&record.flow, &record.run_id, &record.step))
                .or_default()
                .push(record);
        }
        for ((flow, run_id, step), tasks) in by_step {
            // Named by the tasks it holds: writing the same tasks again
            // replaces it.
            let mut hasher = blake3::Hasher::new();
            for task in &tasks {
                hasher.update(task.task_id.as_bytes());
                hasher.update(&[0]);
            }
            let name = &hasher.finalize().to_hex()[..16];
            let path = Path::from(format!(
                "{}/{}-{name}.{EXTENSION}",
                Self::step_prefix(flow, run_id, step),
                tasks.len()
            ));
            let pack = Pack {
                format: FORMAT.to_string(),
                tasks,
            };
            // Compact: only mfw reads packs, and a cached foreach's is
            // written as the run ends.
            let json = serde_json::to_vec(&pack)
                .map_err(crate::json_error)
                .map_err(|e| self.explain(e))?;
            self.put_json_bytes(&path, json, PutMode::Overwrite)
                .await
                .map_err(|e| self.explain(e))?;
        }
        Ok(())
    }

    /// The records a pack holds.
    pub(crate) async fn read_pack(&self, path: &Path) -> Result<Vec<TaskRecord>, StoreError> {
        let Some(pack) = self.get_json::<Pack<TaskRecord>>(path).await? else {
            return Ok(Vec::new());
        };
        if pack.format != FORMAT {
            return Err(StoreError::BadRecord {
                path: path.to_string(),
                store: self.location.to_string(),
                reason: format!("its format is `{}`, not `{FORMAT}`", pack.format),
            });
        }
        Ok(pack.tasks)
    }

    /// The packs among `paths`.
    pub(crate) fn packs(paths: impl IntoIterator<Item = Path>) -> Vec<Path> {
        paths
            .into_iter()
            .filter(|p| p.extension() == Some(EXTENSION))
            .collect()
    }

    /// How many records the pack at `path` holds, from its name (nothing
    /// read).
    pub(crate) fn pack_count(path: &Path) -> usize {
        path.filename()
            .and_then(|name| name.split_once('-'))
            .and_then(|(count, _)| count.parse().ok())
            .unwrap_or(0)
    }

    /// A task's record from the packs of its step, when it has no file.
    pub(crate) async fn read_task_from_packs(
        &self,
        flow: &str,
        run_id: &str,
        step: &str,
        task_id: &str,
    ) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self
            .pack_holding(flow, run_id, step, task_id)
            .await?
            .map(|(_, record)| record))
    }

    /// The pack of its step that holds a task's record, and the record.
    pub(crate) async fn pack_holding(
        &self,
        flow: &str,
        run_id: &str,
        step: &str,
        task_id: &str,
    ) -> Result<Option<(Path, TaskRecord)>, StoreError> {
        let prefix = Path::from(Self::step_prefix(flow, run_id, step));
        let objects = self.list_all(&prefix).await?;
        for pack in Self::packs(objects.into_iter().map(|o| o.location)) {
            let found = self
                .read_pack(&pack)
                .await?
                .into_iter()
                .find(|t| t.task_id == task_id);
            if let Some(record) = found {
                return Ok(Some((pack, record)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use crate::TaskRecord;
    use crate::tests::store;

    fn task(step: &str, id: &str, marker: &str) -> TaskRecord {
        let mut task = TaskRecord::new("F", "7", step, id);
        task.cloned_from = Some(marker.to_string());
        task
    }

    #[tokio::test]
    async fn packed_tasks_read_like_filed_ones_and_a_file_wins() {
        let (_dir, store) = store();
        let packed = vec![
            task("work", "0", "pack"),
            task("work", "1", "pack"),
            task("end", "0", "pack"),
        ];
        store.write_task_packs(&packed).await.unwrap();
        store.write_task(&task("work", "1", "file")).await.unwrap();
        store.write_task(&task("work", "2", "file")).await.unwrap();

        let (tasks, damaged) = store.list_tasks_checked("F", "7").await.unwrap();
        assert!(damaged.is_empty(), "{damaged:?}");
        let work: Vec<(&str, &str)> = tasks["work"]
            .iter()
            .map(|t| (t.task_id.as_str(), t.cloned_from.as_deref().unwrap()))
            .collect();
        assert_eq!(work, [("0", "pack"), ("1", "file"), ("2", "file")]);
        assert_eq!(tasks["end"].len(), 1);

        let ids = store.list_task_ids("F", "7", "work").await.unwrap();
        assert_eq!(ids.len(), 3);
        let one = store.read_task("F", "7", "work", "1").await.unwrap();
        assert_eq!(one.cloned_from.as_deref(), Some("file"));
        let zero = store.read_task("F", "7", "work", "0").await.unwrap();
        assert_eq!(zero.cloned_from.as_deref(), Some("pack"));
        assert!(store.read_task("F", "7", "work", "9").await.is_err());
        // Counted from the pack's name, with the two files.
        assert_eq!(store.run_activity("F", "7").await.unwrap().0, 3 + 2);
    }

    #[tokio::test]
    async fn a_damaged_pack_is_a_damaged_record_naming_it() {
        let (dir, store) = store();
        store
            .write_task_packs(&[task("work", "0", "pack")])
            .await
            .unwrap();
        store.write_task(&task("work", "1", "file")).await.unwrap();
        let step = dir.path().join("flows/F/runs/7/tasks/work");
        let pack = std::fs::read_dir(&step)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "pack"))
            .unwrap();
        std::fs::write(&pack, b"{\"format\": ").unwrap();

        let (tasks, damaged) = store.list_tasks_checked("F", "7").await.unwrap();
        assert_eq!(tasks["work"].len(), 1, "the filed task is still read");
        assert_eq!(damaged.len(), 1);
        assert!(damaged[0].path.ends_with(".pack"), "{:?}", damaged[0]);
        let err = store.read_task("F", "7", "work", "0").await.unwrap_err();
        assert!(err.to_string().contains(".pack"), "{err}");
    }
}
