//! A task's keys, defined here and nowhere else (docs/reproducibility.md
//! describes them).
//!
//! - The **input key** hashes what the task was given: its place (step and
//!   task id), the run's parameter values, the artifacts and objects it
//!   inherits (a join: each input's), its foreach frames and the item it
//!   was handed. Resume reuses an earlier task only when its inputs hash
//!   the same, so a task whose upstream ran again with a different result
//!   runs again too. It does not cover the code: resume, like Metaflow's,
//!   reuses finished steps after the code of a failed one changed.
//! - The **task key** adds everything else that can change the result: the
//!   flow's name, the component, the step's decorators, its grants, the
//!   contract version and the host's determinism settings.
//! - The **cache key** is the task key with the parameters left out: the
//!   cache reuses a task for the same cache key when the parameters it
//!   read have the same values (`cache.rs`). It also seeds the task's
//!   randomness (`task::spec`), so a task taken from the cache drew what
//!   running it would draw.
//! - The **step key** is what a step's tasks share in their task keys
//!   (everything but the inputs): the cache's index of a step's tasks.
//! - A task that read other runs (the client inside a step) has its task
//!   key **with its reads** folded in once it ran ([`with_reads`]): what it
//!   was shown of other runs is among what its result is a function of, so
//!   a newer upstream run gives another task key. (It cannot be in the key
//!   the cache looks up, computed before the task runs: the cache checks
//!   the recorded reads instead, `runs.rs`.)

use std::collections::BTreeMap;

use bytes::Bytes;
use mfw_graph::{BlobHash, Decorator, Step};
use mfw_host::NameMap;

use crate::task::ReadyTask;

/// Bumped whenever what goes into a key changes, so old keys never match.
const INPUTS: &[u8] = b"mfw task inputs v1\0";
const TASK: &[u8] = b"mfw task v2\0";
const STEP: &[u8] = b"mfw step v1\0";
const WITH_READS: &[u8] = b"mfw task with reads v1\0";

/// Each parameter's value's hash, by name.
pub(crate) fn parameter_hashes(parameters: &BTreeMap<String, Bytes>) -> BTreeMap<String, BlobHash> {
    parameters
        .iter()
        .map(|(name, value)| (name.clone(), BlobHash::of(value)))
        .collect()
}

/// What stands for the run's parameters in a cache key: the cache matches
/// the values of the parameters a task read apart (see `cache.rs`).
pub(crate) fn parameters_matched_apart() -> BlobHash {
    // A constant, computed once rather than for every task.
    static MATCHED_APART: std::sync::LazyLock<BlobHash> =
        std::sync::LazyLock::new(|| Key::new(b"mfw parameters matched apart\0").finish());
    *MATCHED_APART
}

/// One hash over the run's parameter values, by name.
pub(crate) fn parameters_key(parameters: &BTreeMap<String, Bytes>) -> BlobHash {
    let mut key = Key::new(INPUTS);
    key.count(parameters.len());
    for (name, value) in parameters {
        key.text(name);
        key.hash(&BlobHash::of(value));
    }
    key.finish()
}

/// The inputs key of `task` in a run whose parameters hash to
/// `parameters`.
pub(crate) fn input_key(task: &ReadyTask, parameters: &BlobHash) -> BlobHash {
    let mut key = Key::new(INPUTS);
    key.text(&task.step);
    key.text(&task.task_id());
    key.hash(parameters);
    key.names(&task.artifacts);
    key.names(&task.objects);
    key.count(task.inputs.len());
    for input in &task.inputs {
        key.text(&input.step);
        key.text(&input.task_id);
        key.names(&input.artifacts);
        key.names(&input.objects);
    }
    key.count(task.foreach.len());
    for frame in &task.foreach {
        key.text(&frame.step);
        key.text(&frame.over);
        key.count(frame.index as usize);
        key.count(frame.count as usize);
    }
    key.count(task.foreach_inputs.len());
    for item in &task.foreach_inputs {
        key.hash(&BlobHash::of(item));
    }
    key.finish()
}

/// The task key of a task of `flow` with `input_key`, run by `component`,
/// as step `step` declares it (its decorators and their options), with
/// `grants` (as its record lists them).
pub(crate) fn task_key(
    flow: &str,
    input_key: &BlobHash,
    component: Option<&BlobHash>,
    step: Option<&Step>,
    grants: &[String],
) -> BlobHash {
    let mut key = Key::new(TASK);
    key.text(flow);
    key.hash(input_key);
    key.computation(component, step, grants);
    key.finish()
}

/// The task key of a task that, computing under `task_key`, asked the
/// questions of `reads` about other runs and got those answers.
pub(crate) fn with_reads(task_key: &BlobHash, reads: &BTreeMap<String, BlobHash>) -> BlobHash {
    let mut key = Key::new(WITH_READS);
    key.hash(task_key);
    key.count(reads.len());
    for (question, answer) in reads {
        key.text(question);
        key.hash(answer);
    }
    key.finish()
}

/// What the tasks of one step share in their task keys: everything but
/// their inputs. The cache keeps its index of a step's tasks under it
/// (`cache.rs`), so one read finds a whole foreach's tasks.
pub(crate) fn step_key(
    flow: &str,
    step_name: &str,
    component: Option<&BlobHash>,
    step: Option<&Step>,
    grants: &[String],
) -> BlobHash {
    let mut key = Key::new(STEP);
    key.text(flow);
    key.text(step_name);
    key.computation(component, step, grants);
    key.finish()
}

/// A blake3 hasher fed length-prefixed fields, so no two different
/// sequences of fields hash alike.
struct Key(blake3::Hasher);

impl Key {
    /// The code a task runs and how: its component, its step's decorators,
    /// its grants, the contract and the host's determinism settings.
    fn computation(
        &mut self,
        component: Option<&BlobHash>,
        step: Option<&Step>,
        grants: &[String],
    ) {
        let key = self;
        key.count(usize::from(component.is_some()));
        if let Some(component) = component {
            key.hash(component);
        }
        let mut decorators: Vec<&Decorator> = step
            .map(|s| s.decorators.iter().collect())
            .unwrap_or_default();
        decorators.sort_by(|a, b| (&a.name, &a.options).cmp(&(&b.name, &b.options)));
        key.count(decorators.len());
        for decorator in decorators {
            key.text(&decorator.name);
            key.count(decorator.options.len());
            for (option, value) in &decorator.options {
                key.text(option);
                key.text(value);
            }
        }
        let mut grants: Vec<&String> = grants.iter().collect();
        grants.sort();
        key.count(grants.len());
        for grant in grants {
            key.text(grant);
        }
        key.text(mfw_host::CONTRACT_VERSION);
        key.text(mfw_host::DETERMINISM);
    }

    fn new(domain: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(domain);
        Self(hasher)
    }

    fn count(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    fn text(&mut self, text: &str) {
        self.count(text.len());
        self.0.update(text.as_bytes());
    }

    fn hash(&mut self, hash: &BlobHash) {
        self.0.update(hash.as_bytes());
    }

    fn names(&mut self, names: &NameMap) {
        self.count(names.len());
        for (name, hash) in names.iter() {
            self.text(name);
            self.hash(hash);
        }
    }

    fn finish(self) -> BlobHash {
        BlobHash::from_bytes(*self.0.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use mfw_graph::ForeachFrame;
    use mfw_host::JoinInput;

    fn names(pairs: &[(&str, &[u8])]) -> NameMap {
        Arc::new(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), BlobHash::of(v)))
                .collect(),
        )
    }

    fn body(index: u32, item: &[u8]) -> ReadyTask {
        let mut task = ReadyTask::start();
        task.step = "body".to_string();
        task.path = vec![index];
        task.artifacts = names(&[("xs", b"[1,2,3]")]);
        task.foreach = vec![ForeachFrame {
            step: "start".to_string(),
            over: "xs".to_string(),
            index,
            count: 3,
        }];
        task.foreach_inputs = vec![Bytes::copy_from_slice(item)];
        task
    }

    #[test]
    fn the_same_inputs_give_the_same_key_and_any_change_another() {
        let params = parameters_key(&BTreeMap::from([("n".to_string(), Bytes::from("3"))]));
        let key = input_key(&body(1, b"2"), &params);
        assert_eq!(key, input_key(&body(1, b"2"), &params));
        let mut changed = Vec::new();
        changed.push(input_key(&body(2, b"2"), &params));
        changed.push(input_key(&body(1, b"9"), &params));
        let other_params = parameters_key(&BTreeMap::from([("n".to_string(), Bytes::from("4"))]));
        changed.push(input_key(&body(1, b"2"), &other_params));
        let mut inherited = body(1, b"2");
        inherited.artifacts = names(&[("xs", b"[1,2,4]")]);
        changed.push(input_key(&inherited, &params));
        let mut object = body(1, b"2");
        object.objects = names(&[("k", b"v")]);
        changed.push(input_key(&object, &params));
        let mut joined = body(1, b"2");
        joined.inputs = vec![JoinInput {
            step: "a".to_string(),
            task_id: "0".to_string(),
            artifacts: names(&[("x", b"1")]),
            objects: names(&[]),
        }];
        changed.push(input_key(&joined, &params));
        let mut other_join = joined.clone();
        other_join.inputs[0].artifacts = names(&[("x", b"2")]);
        changed.push(input_key(&other_join, &params));
        for (i, other) in changed.iter().enumerate() {
            assert_ne!(&key, other, "change {i} kept the key");
        }
    }

    #[test]
    fn what_a_task_read_of_other_runs_is_in_its_task_key() {
        let key = BlobHash::of(b"a task key");
        let read =
            |answer: &[u8]| BTreeMap::from([("run-ids Up".to_string(), BlobHash::of(answer))]);
        assert_eq!(with_reads(&key, &read(b"7")), with_reads(&key, &read(b"7")));
        assert_ne!(with_reads(&key, &read(b"7")), with_reads(&key, &read(b"8")));
        assert_ne!(with_reads(&key, &read(b"7")), key);
    }

    #[test]
    fn the_task_key_changes_with_the_flow_code_decorators_and_grants_only() {
        let inputs = BlobHash::of(b"inputs");
        let code = BlobHash::of(b"component");
        let step = Step::linear("train", ["end"]).with_decorator(Decorator {
            name: "retry".to_string(),
            options: vec![("times".to_string(), "2".to_string())],
        });
        let grants = ["env HOME".to_string()];
        let key = task_key("F", &inputs, Some(&code), Some(&step), &grants);
        // Order does not matter where it means nothing.
        let reordered = ["b".to_string(), "a".to_string()];
        let sorted = ["a".to_string(), "b".to_string()];
        assert_eq!(
            task_key("F", &inputs, Some(&code), Some(&step), &reordered),
            task_key("F", &inputs, Some(&code), Some(&step), &sorted)
        );
        assert_eq!(
            key,
            task_key("F", &inputs, Some(&code), Some(&step), &grants)
        );
        let other_step = Step::linear("train", ["end"]).with_decorator(Decorator {
            name: "retry".to_string(),
            options: vec![("times".to_string(), "3".to_string())],
        });
        let changed = [
            task_key(
                "F",
                &BlobHash::of(b"other inputs"),
                Some(&code),
                Some(&step),
                &grants,
            ),
            task_key(
                "F",
                &inputs,
                Some(&BlobHash::of(b"edited")),
                Some(&step),
                &grants,
            ),
            task_key("F", &inputs, None, Some(&step), &grants),
            task_key("F", &inputs, Some(&code), Some(&other_step), &grants),
            task_key("F", &inputs, Some(&code), Some(&step), &[]),
            task_key("G", &inputs, Some(&code), Some(&step), &grants),
            // The same bytes as an input key and as a task key differ.
            input_key(&body(1, b"2"), &inputs),
        ];
        for (i, other) in changed.iter().enumerate() {
            assert_ne!(&key, other, "change {i} kept the key");
        }
    }
}
