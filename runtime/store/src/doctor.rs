//! Finding what is damaged in a store, and setting it aside: `mfw doctor`.
//!
//! A store is self-checking (every blob is named by its blake3), so damage
//! shows up as records that do not parse, blobs whose bytes do not hash to
//! their name, blobs a record needs that are gone, and staging files a
//! killed writer left. [`Datastore::examine`] lists each with the runs and
//! tasks it affects; [`Datastore::repair`] moves damaged objects under
//! `quarantine/` (nothing is deleted but staging files) together with the
//! task records that need a damaged or missing blob, so the next
//! `mfw resume` of their run runs those tasks again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt as _;
use object_store::ObjectStoreExt as _;
use object_store::path::Path;

use crate::{BlobHash, Datastore, StoreError, TaskRecord};

/// What is wrong with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProblemKind {
    /// A run or task record that cannot be read.
    DamagedRecord,
    /// A blob or component whose bytes do not hash to its name.
    CorruptBlob,
    /// A blob a record needs that the store does not hold.
    MissingBlob,
    /// A half-written file a killed writer left (local stores).
    Staging,
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProblemKind::DamagedRecord => "damaged record",
            ProblemKind::CorruptBlob => "corrupt blob",
            ProblemKind::MissingBlob => "missing blob",
            ProblemKind::Staging => "staging file",
        })
    }
}

/// One damaged object and what it affects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// The object's path in the store (for a missing blob, where it
    /// belongs).
    pub path: String,
    /// Why, in a few words.
    pub reason: String,
    /// The runs (`Flow/run`) and tasks (`Flow/run/step/task`) that need it.
    pub affects: Vec<String>,
}

/// What [`Datastore::examine`] looked at and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Examination {
    /// Run records read.
    pub runs: usize,
    /// Task records read.
    pub tasks: usize,
    /// Blobs and components checked.
    pub blobs: usize,
    /// Everything wrong, records first.
    pub problems: Vec<Problem>,
    /// Task records that need a damaged or missing blob: what a repair sets
    /// aside so a resume runs those tasks again.
    pub(crate) dependent_tasks: BTreeSet<String>,
}

/// Staging files younger than this may belong to a write in progress.
pub const STAGING_AGE: Duration = Duration::from_secs(600);

/// The file in a local store's root whose time is the last staging sweep.
const SWEEP_MARKER: &str = ".last-staging-sweep";

/// Where a repair moves what it sets aside.
const QUARANTINE: &str = "quarantine";

/// The blobs a task record needs.
fn task_blobs(task: &TaskRecord) -> impl Iterator<Item = &BlobHash> {
    task.artifacts
        .values()
        .chain(task.objects.values())
        .chain(task.component.iter())
        // The answers a task was given about other runs: replay reads them.
        .chain(task.runs_read.iter().flat_map(|reads| reads.values()))
        .chain(
            task.attempts
                .iter()
                .flat_map(|a| a.stdout.iter().chain(a.stderr.iter())),
        )
}

impl Datastore {
    /// Checks every record and blob of the store: records parse, blobs hash
    /// to their names (unless `verify_blobs` is false: then only that they
    /// exist), and every blob a record needs is there. Local stores are also
    /// searched for staging files older than [`STAGING_AGE`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let hash = store.put_blob(bytes::Bytes::from_static(b"value")).await.unwrap();
    /// let hex = hash.to_hex();
    /// std::fs::write(dir.path().join("blobs").join(&hex[..2]).join(&hex), b"vAlue").unwrap();
    /// let found = store.examine(true).await.unwrap();
    /// assert_eq!(found.problems[0].kind, mfw_store::ProblemKind::CorruptBlob);
    /// # });
    /// ```
    pub async fn examine(&self, verify_blobs: bool) -> Result<Examination, StoreError> {
        let mut found = Examination::default();
        // Every blob and component, checked once.
        let mut present = BTreeSet::new();
        let mut corrupt: BTreeMap<BlobHash, usize> = BTreeMap::new();
        // The chunk index's segments are named by their hash too.
        for prefix in ["blobs", "components", crate::chunk_packs::INDEX_PREFIX] {
            let objects: Vec<_> = self
                .backend
                .list(Some(&Path::from(prefix)))
                .try_collect()
                .await
                .map_err(|e| self.explain(e))?;
            for object in objects {
                let Some(name) = object.location.filename() else {
                    continue;
                };
                let Ok(hash) = name.trim_end_matches(".wasm").parse::<BlobHash>() else {
                    continue; // not ours
                };
                found.blobs += 1;
                present.insert(hash);
                if !verify_blobs {
                    continue;
                }
                let bytes: Bytes = match self.backend.get(&object.location).await {
                    Ok(result) => result.bytes().await.map_err(|e| self.explain(e))?,
                    Err(object_store::Error::NotFound { .. }) => continue,
                    Err(e) => return Err(self.explain(e)),
                };
                let actual = BlobHash::of(&bytes);
                if actual != hash {
                    corrupt.insert(hash, found.problems.len());
                    found.problems.push(Problem {
                        kind: ProblemKind::CorruptBlob,
                        path: object.location.to_string(),
                        reason: format!("its {} bytes hash to {actual}", bytes.len()),
                        affects: Vec::new(),
                    });
                }
            }
        }
        // Large values: a manifest and its chunks (blobs, checked above).
        let manifests: Vec<_> = self
            .backend
            .list(Some(&Path::from("chunked")))
            .try_collect()
            .await
            .map_err(|e| self.explain(e))?;
        // Without `verify_blobs`: each value stored as differences, which
        // chunk, and the earlier value that chunk needs.
        let mut bases: Vec<(BlobHash, String, usize, BlobHash)> = Vec::new();
        for object in manifests {
            let Some(hash) = object
                .location
                .filename()
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|hex| hex.parse::<BlobHash>().ok())
            else {
                continue; // not ours
            };
            found.blobs += 1;
            present.insert(hash);
            // Without `verify_blobs`, only that every chunk is there.
            let broken = if verify_blobs {
                self.verify_chunked(&hash).await.err()
            } else {
                match self.read_manifest(&hash).await {
                    Ok(manifest) => {
                        let path = object.location.to_string();
                        bases.extend(manifest.chunks.iter().enumerate().filter_map(
                            |(index, chunk)| {
                                chunk.delta.map(|d| (hash, path.clone(), index, d.base))
                            },
                        ));
                        manifest
                            .chunks
                            .iter()
                            .position(|chunk| !present.contains(&chunk.blob()))
                            .map(|index| StoreError::BadChunk {
                                hash,
                                index,
                                count: manifest.chunks.len(),
                                store: self.location.to_string(),
                                source: Box::new(StoreError::MissingBlob {
                                    hash: manifest.chunks[index].blob(),
                                    store: self.location.to_string(),
                                }),
                            })
                    }
                    Err(e) => Some(e),
                }
            };
            match broken {
                None => {}
                // The backend failing is not damage.
                Some(StoreError::Backend { source, .. }) => return Err(self.explain(source)),
                Some(error) => {
                    corrupt.insert(hash, found.problems.len());
                    found.problems.push(Problem {
                        kind: ProblemKind::CorruptBlob,
                        path: object.location.to_string(),
                        // What the value lacks, and why (one cause deep:
                        // a chunk's own error, or the manifest's problem).
                        reason: match std::error::Error::source(&error) {
                            Some(cause) => format!("{error}: {cause}"),
                            None => error.to_string(),
                        },
                        affects: Vec::new(),
                    });
                }
            }
        }
        // (With `verify_blobs`, reading each value checked its earlier ones.)
        // Until nothing changes: a value needing a broken one is broken.
        let mut changed = true;
        while changed {
            changed = false;
            for (hash, path, index, base) in &bases {
                let state = if corrupt.contains_key(base) {
                    "damaged"
                } else if !present.contains(base) {
                    "missing"
                } else {
                    continue;
                };
                if corrupt.contains_key(hash) {
                    continue;
                }
                corrupt.insert(*hash, found.problems.len());
                found.problems.push(Problem {
                    kind: ProblemKind::CorruptBlob,
                    path: path.clone(),
                    reason: format!(
                        "its chunk {index} is stored as its difference from value {base}, which \
                         is {state}"
                    ),
                    affects: Vec::new(),
                });
                changed = true;
            }
        }
        let mut missing: BTreeMap<BlobHash, Vec<String>> = BTreeMap::new();
        let mut needs = |hash: &BlobHash, who: &str, found: &mut Examination, task: bool| {
            if let Some(&index) = corrupt.get(hash) {
                found.problems[index].affects.push(who.to_string());
            } else if !present.contains(hash) {
                missing.entry(*hash).or_default().push(who.to_string());
            } else {
                return;
            }
            if task {
                found.dependent_tasks.insert(who.to_string());
            }
        };
        for flow in self.list_flows().await? {
            let (runs, damaged_runs) = self.list_runs_checked(&flow).await?;
            let mut run_ids: BTreeSet<String> = BTreeSet::new();
            for damaged in damaged_runs {
                let run_id = damaged
                    .path
                    .rsplit('/')
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                found.problems.push(Problem {
                    kind: ProblemKind::DamagedRecord,
                    affects: vec![format!("{flow}/{run_id}")],
                    path: damaged.path,
                    reason: damaged.reason,
                });
                run_ids.insert(run_id);
            }
            for run in &runs {
                found.runs += 1;
                let who = format!("{flow}/{}", run.run_id);
                for hash in run
                    .parameters
                    .values()
                    .chain(run.components.iter().map(|c| &c.hash))
                {
                    needs(hash, &who, &mut found, false);
                }
                run_ids.insert(run.run_id.clone());
            }
            for run_id in run_ids {
                let (tasks, damaged) = self.list_tasks_checked(&flow, &run_id).await?;
                for record in damaged {
                    let affects = record
                        .path
                        .strip_prefix(&format!("flows/{flow}/runs/{run_id}/tasks/"))
                        .and_then(|rest| rest.strip_suffix(".json"))
                        .map(|task| vec![format!("{flow}/{run_id}/{task}")])
                        .unwrap_or_default();
                    found.problems.push(Problem {
                        kind: ProblemKind::DamagedRecord,
                        path: record.path,
                        reason: record.reason,
                        affects,
                    });
                }
                for task in tasks.values().flatten() {
                    found.tasks += 1;
                    let who = task.pathspec();
                    for hash in task_blobs(task) {
                        needs(hash, &who, &mut found, true);
                    }
                }
            }
        }
        for (hash, affects) in missing {
            found.problems.push(Problem {
                kind: ProblemKind::MissingBlob,
                path: Self::blob_path(&hash).to_string(),
                reason: "records need it but the store does not hold it".to_string(),
                affects,
            });
        }
        for path in self.staging_files(STAGING_AGE) {
            found.problems.push(Problem {
                kind: ProblemKind::Staging,
                path,
                reason: "left by a writer that was stopped".to_string(),
                affects: Vec::new(),
            });
        }
        found
            .problems
            .sort_by(|a, b| (a.kind, &a.path).cmp(&(b.kind, &b.path)));
        for problem in &mut found.problems {
            problem.affects.sort();
            problem.affects.dedup();
        }
        Ok(found)
    }

    /// Sets aside what `found` lists: damaged records, corrupt blobs and the
    /// task records that need a corrupt or missing blob move under
    /// `quarantine/` (same path below it), so the next `mfw resume` of their
    /// runs runs those tasks again; staging files are removed. Returns how
    /// many objects it moved or removed.
    pub async fn repair(&self, found: &Examination) -> Result<usize, StoreError> {
        let mut moved = BTreeSet::new();
        for problem in &found.problems {
            match problem.kind {
                ProblemKind::DamagedRecord | ProblemKind::CorruptBlob => {
                    moved.insert(problem.path.clone());
                }
                ProblemKind::MissingBlob => {}
                ProblemKind::Staging => {
                    if let Some(root) = &self.local_root {
                        let path = root.join(&problem.path);
                        if let Err(e) = std::fs::remove_file(&path)
                            && e.kind() != std::io::ErrorKind::NotFound
                        {
                            return Err(StoreError::Open {
                                location: self.location.to_string(),
                                reason: format!("cannot remove {}: {e}", path.display()),
                            });
                        }
                    }
                }
            }
        }
        for task in &found.dependent_tasks {
            let parts: Vec<&str> = task.split('/').collect();
            if let [flow, run_id, step, task_id] = parts[..] {
                moved.insert(Self::task_path(flow, run_id, step, task_id).to_string());
                // A reused task's record is in a pack: the pack goes, and
                // with it its other tasks (they run again on resume).
                if let Ok(Some((pack, _))) = self.pack_holding(flow, run_id, step, task_id).await {
                    moved.insert(pack.to_string());
                }
            }
        }
        let staging = found
            .problems
            .iter()
            .filter(|p| p.kind == ProblemKind::Staging)
            .count();
        for path in &moved {
            let from = Path::from(path.as_str());
            let to = Path::from(format!("{QUARANTINE}/{path}"));
            match self.backend.rename(&from, &to).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.explain(e)),
            }
            if let Some(hash) = from.filename().and_then(|n| {
                n.trim_end_matches(".wasm")
                    .trim_end_matches(".json")
                    .parse::<BlobHash>()
                    .ok()
            }) {
                self.forget_blob(&hash);
            }
        }
        Ok(moved.len() + staging)
    }

    /// Removes staging files older than `age` anywhere in a local store
    /// (what killed writers left); returns how many. Object stores have
    /// none.
    pub fn remove_stale_staging(&self, age: Duration) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        self.staging_files(age)
            .into_iter()
            .filter(|path| std::fs::remove_file(root.join(path)).is_ok())
            .count()
    }

    /// [`Datastore::remove_stale_staging`], unless the store was swept less
    /// than `interval` ago: walking a big store at every run start would
    /// cost more than the files it finds. A marker file in the store's root
    /// (`.last-staging-sweep`) keeps the time of the last sweep.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = mfw_store::Datastore::open(dir.path().to_str().unwrap()).unwrap();
    /// let hour = std::time::Duration::from_secs(3600);
    /// assert_eq!(store.remove_stale_staging_now_and_then(hour, hour), 0);
    /// ```
    pub fn remove_stale_staging_now_and_then(&self, age: Duration, interval: Duration) -> usize {
        let Some(root) = &self.local_root else {
            return 0;
        };
        let marker = root.join(SWEEP_MARKER);
        let recent = std::fs::metadata(&marker)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|swept| std::time::SystemTime::now().duration_since(swept).ok())
            .is_some_and(|elapsed| elapsed < interval);
        if recent {
            return 0;
        }
        // Marked first: runs starting meanwhile do not sweep too.
        if std::fs::write(&marker, b"").is_err() {
            return 0;
        }
        self.remove_stale_staging(age)
    }

    /// The staging files older than `age` in a local store, as store paths.
    fn staging_files(&self, age: Duration) -> Vec<String> {
        let Some(root) = &self.local_root else {
            return Vec::new();
        };
        let now = std::time::SystemTime::now();
        let mut found = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                // The entry itself: symbolic links are neither followed nor
                // removed.
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if kind.is_dir() {
                    if entry.file_name() != QUARANTINE {
                        pending.push(path);
                    }
                    continue;
                }
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| now.duration_since(modified).ok())
                    .is_some_and(|elapsed| elapsed >= age);
                if kind.is_file()
                    && old
                    && entry.file_name().to_string_lossy().contains('#')
                    && let Ok(relative) = path.strip_prefix(root.as_ref())
                {
                    found.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        found.sort();
        found
    }
}
