//! The host side of the contract's `objects` import (since 0.1.3): objects a
//! step keeps by key with its run, Metaflow's `S3(run=self)`. A task sees
//! what it put and what the tasks it comes from ended with, never what a
//! task running beside it put: so a task sees the same objects whenever it
//! runs, and resume and replay stay sound.

use std::collections::BTreeMap;

use mfw_graph::BlobHash;

use crate::bindings::mfw::flow::objects;
use crate::bindings::mfw::flow::types::ArtifactError;
use crate::task::{JoinInput, Slot, TaskSpec, TaskState};

/// The longest key, in bytes (S3's own limit).
const MAX_KEY_BYTES: usize = 1024;

/// The objects one task sees.
pub(crate) struct Objects {
    /// By key: inherited (stored) or put by this task.
    pub(crate) seen: BTreeMap<String, Slot>,
    /// Keys a join's inputs put different objects under, with the inputs
    /// (`step/task`) that disagree: reading one is an error until the join
    /// puts its own.
    conflicts: BTreeMap<String, Vec<String>>,
}

/// The objects a task starts with, by key: its parent's (`objects`), or the
/// union of a join's `inputs`' objects, less the keys they disagree on.
///
/// ```
/// use std::collections::BTreeMap;
/// let parent = BTreeMap::from([("a.txt".to_string(), mfw_graph::BlobHash::of(b"a"))]);
/// assert_eq!(mfw_host::inherited_objects(&parent, &[]), parent);
/// ```
pub fn inherited_objects(
    objects: &BTreeMap<String, BlobHash>,
    inputs: &[JoinInput],
) -> BTreeMap<String, BlobHash> {
    union(objects, inputs).0
}

/// `objects` with the objects of `inputs` added, and the keys the inputs
/// disagree on, each with the inputs (`step/task`) that put it.
fn union(
    objects: &BTreeMap<String, BlobHash>,
    inputs: &[JoinInput],
) -> (BTreeMap<String, BlobHash>, BTreeMap<String, Vec<String>>) {
    let mut seen = objects.clone();
    let mut owners: BTreeMap<&str, Vec<(&JoinInput, BlobHash)>> = BTreeMap::new();
    for input in inputs {
        for (key, hash) in input.objects.iter() {
            owners.entry(key).or_default().push((input, *hash));
        }
    }
    let mut conflicts = BTreeMap::new();
    for (key, held) in owners {
        let first = held[0].1;
        if held.iter().all(|(_, h)| *h == first) {
            seen.insert(key.to_string(), first);
        } else {
            let who = held
                .iter()
                .map(|(input, _)| format!("{}/{}", input.step, input.task_id))
                .collect();
            conflicts.insert(key.to_string(), who);
        }
    }
    (seen, conflicts)
}

impl Objects {
    /// What a task starts with: its parent's objects, or the union of a
    /// join's inputs' objects, keys they disagree on set aside.
    pub(crate) fn inherited(spec: &TaskSpec) -> Self {
        let (seen, conflicts) = union(&spec.objects, &spec.inputs);
        let seen = seen
            .into_iter()
            .map(|(k, h)| (k, Slot::Stored(h)))
            .collect();
        Self { seen, conflicts }
    }
}

fn check_key(key: &str) -> Result<(), ArtifactError> {
    let problem = if key.is_empty() {
        Some("is empty")
    } else if key.len() > MAX_KEY_BYTES {
        Some("is longer than 1024 bytes")
    } else if key.contains('\0') {
        Some("contains a NUL character")
    } else if key.starts_with('/') {
        Some("starts with `/`")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(ArtifactError::InvalidName(format!(
            "object key `{}` {problem}: use 1 to 1024 bytes of text such as `models/forest.pkl`",
            key.escape_debug()
        ))),
        None => Ok(()),
    }
}

impl objects::Host for TaskState {
    fn put(&mut self, key: String, value: Vec<u8>) -> Result<(), ArtifactError> {
        let task = self.running()?;
        task.check_call(value.len())?;
        check_key(&key)?;
        let hash = BlobHash::of(&value);
        let bytes = task.hold(hash, value)?;
        task.objects.conflicts.remove(&key);
        task.objects.seen.insert(key, Slot::Set(hash, bytes));
        Ok(())
    }

    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, ArtifactError> {
        let task = self.running()?;
        check_key(&key)?;
        if let Some(inputs) = task.objects.conflicts.get(&key) {
            return Err(ArtifactError::Storage(format!(
                "the inputs of join `{}` put different objects under `{}` ({}): read it in \
                 each input's step, or put the one to keep under another key",
                task.spec.step,
                key.escape_debug(),
                inputs.join(", ")
            )));
        }
        match task.objects.seen.get(&key).cloned() {
            Some(Slot::Set(_, bytes)) => Ok(Some(bytes.to_vec())),
            Some(Slot::Stored(hash)) => task
                .load(&hash, &format!("object `{}`", key.escape_debug()))
                .map(|b| Some(b.to_vec())),
            None => Ok(None),
        }
    }

    fn keys(&mut self, prefix: String) -> Vec<String> {
        let Ok(task) = self.running() else {
            return Vec::new();
        };
        let seen = task.objects.seen.keys();
        let conflicting = task.objects.conflicts.keys();
        let mut keys: Vec<String> = seen
            .chain(conflicting)
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(step: &str, objects: &[(&str, &[u8])]) -> JoinInput {
        JoinInput {
            step: step.to_string(),
            task_id: "0".to_string(),
            artifacts: Default::default(),
            objects: std::sync::Arc::new(
                objects
                    .iter()
                    .map(|(k, v)| (k.to_string(), BlobHash::of(v)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn a_join_sees_the_union_of_its_inputs_and_sets_disagreements_aside() {
        let mut spec = TaskSpec::new("F", "1", "join", "0");
        spec.inputs = vec![
            input(
                "a",
                &[("shared", b"same"), ("a.txt", b"a"), ("clash", b"1")],
            ),
            input(
                "b",
                &[("shared", b"same"), ("b.txt", b"b"), ("clash", b"2")],
            ),
        ];
        let objects = Objects::inherited(&spec);
        let seen: Vec<&str> = objects.seen.keys().map(String::as_str).collect();
        assert_eq!(seen, ["a.txt", "b.txt", "shared"]);
        assert_eq!(objects.conflicts["clash"], ["a/0", "b/0"]);
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("models/forest.pkl").is_ok());
        for bad in ["", "/abs", "nul\0", &"k".repeat(1025)] {
            assert!(
                matches!(check_key(bad), Err(ArtifactError::InvalidName(_))),
                "{bad:?}"
            );
        }
    }
}
