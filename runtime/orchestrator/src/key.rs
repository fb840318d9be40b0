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
use std::sync::Arc;

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

/// `task`'s input key in a run whose parameters hash to `parameters`, and
/// the one the cache uses: the input key had the parameters hashed to
/// [`parameters_matched_apart`], computed in the same pass over what the
/// task was given.
pub(crate) fn input_keys(task: &ReadyTask, parameters: &BlobHash) -> (BlobHash, BlobHash) {
    let mut key = Key::new(INPUTS);
    key.text(&task.step);
    key.text(&task.task_id());
    let mut apart = Fields(key.0.clone());
    key.hash(parameters);
    apart.hash(&parameters_matched_apart());
    let items = item_hashes(task);
    key.given(task, &items);
    apart.given(task, &items);
    (key.finish(), apart.finish())
}

/// The blake3 of each foreach item `task` was handed.
fn item_hashes(task: &ReadyTask) -> Vec<BlobHash> {
    task.foreach_inputs
        .iter()
        .map(|item| BlobHash::of(item))
        .collect()
}

/// The task key of a task of `flow` with `input_key`, whose step computes
/// as `computation` says.
pub(crate) fn task_key(flow: &str, input_key: &BlobHash, computation: &Computation) -> BlobHash {
    let mut key = Key::new(TASK);
    key.text(flow);
    key.hash(input_key);
    key.0.update(&computation.0);
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
pub(crate) fn step_key(flow: &str, step_name: &str, computation: &Computation) -> BlobHash {
    let mut key = Key::new(STEP);
    key.text(flow);
    key.text(step_name);
    key.0.update(&computation.0);
    key.finish()
}

/// The code a step's tasks run and how — its component, its decorators,
/// its grants, the contract and the host's determinism settings — as the
/// bytes the task and step keys hash: the same for every task of a step,
/// so worked out once a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Computation(Arc<[u8]>);

impl Computation {
    /// Of a step run by `component`, declared as `step`, with `grants` (as
    /// its records list them).
    pub(crate) fn of(component: Option<&BlobHash>, step: Option<&Step>, grants: &[String]) -> Self {
        let mut fields = Fields(Vec::new());
        fields.computation(component, step, grants);
        Self(fields.0.into())
    }
}

/// Where a key's fields go: its hasher, or bytes kept to feed many
/// hashers alike ([`Computation`]).
trait Sink {
    fn update(&mut self, bytes: &[u8]);
}

/// A blake3 hasher fed through a buffer of one blake3 chunk: a key is
/// dozens of fields of 8 to 32 bytes, and blake3 takes each small update
/// through a general copy (that was a third of computing keys). Most keys
/// fit the buffer and are hashed in one call; the hasher (2 KB, copied
/// whenever a key is) is made only for longer ones. blake3 hashes a
/// stream, so how it is cut into updates never changes a key.
#[derive(Clone)]
struct Buffered {
    buffer: [u8; 1024],
    len: usize,
    hasher: Option<Box<blake3::Hasher>>,
}

impl Buffered {
    fn new() -> Self {
        Self {
            buffer: [0; 1024],
            len: 0,
            hasher: None,
        }
    }

    fn finalize(self) -> blake3::Hash {
        let rest = &self.buffer[..self.len];
        match self.hasher {
            None => blake3::hash(rest),
            Some(mut hasher) => hasher.update(rest).finalize(),
        }
    }
}

impl Sink for Buffered {
    #[inline]
    fn update(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end <= self.buffer.len() {
            self.buffer[self.len..end].copy_from_slice(bytes);
            self.len = end;
            return;
        }
        let hasher = self.hasher.get_or_insert_default();
        hasher.update(&self.buffer[..self.len]);
        self.len = 0;
        if bytes.len() < self.buffer.len() {
            self.buffer[..bytes.len()].copy_from_slice(bytes);
            self.len = bytes.len();
        } else {
            hasher.update(bytes);
        }
    }
}

impl Sink for Vec<u8> {
    fn update(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Length-prefixed fields, so no two different sequences of fields hash
/// alike.
struct Fields<S>(S);

/// A blake3 hasher fed [`Fields`].
type Key = Fields<Buffered>;

impl<S: Sink> Fields<S> {
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
        key.text(mfw_host::CONTRACT_KEY_VERSION);
        key.text(mfw_host::DETERMINISM);
    }

    /// What `task` was given after its place and the parameters: what it
    /// inherits, its join inputs, its foreach frames and the hashes of its
    /// items (`items`).
    fn given(&mut self, task: &ReadyTask, items: &[BlobHash]) {
        self.names(&task.artifacts);
        self.names(&task.objects);
        self.count(task.inputs.len());
        for input in &task.inputs {
            self.text(&input.step);
            self.text(&input.task_id);
            self.names(&input.artifacts);
            self.names(&input.objects);
        }
        self.count(task.foreach.len());
        for frame in &task.foreach {
            self.text(&frame.step);
            self.text(&frame.over);
            self.count(frame.index as usize);
            self.count(frame.count as usize);
        }
        self.count(items.len());
        for item in items {
            self.hash(item);
        }
    }

    #[inline]
    fn count(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    fn text(&mut self, text: &str) {
        self.count(text.len());
        self.0.update(text.as_bytes());
    }

    #[inline]
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
}

impl Key {
    fn new(domain: &[u8]) -> Self {
        let mut hasher = Buffered::new();
        hasher.update(domain);
        Self(hasher)
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

    /// `task`'s input key with the run's parameters.
    fn input_key(task: &ReadyTask, parameters: &BlobHash) -> BlobHash {
        input_keys(task, parameters).0
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
        let task_key = |flow: &str,
                        inputs: &BlobHash,
                        code: Option<&BlobHash>,
                        step: Option<&Step>,
                        grants: &[String]| {
            task_key(flow, inputs, &Computation::of(code, step, grants))
        };
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

    #[test]
    fn the_cache_input_key_is_the_input_key_with_parameters_matched_apart() {
        let params = parameters_key(&BTreeMap::from([("n".to_string(), Bytes::from("3"))]));
        let mut task = body(1, b"2");
        task.foreach_inputs.push(Bytes::from_static(b"nested"));
        let (with_params, apart) = input_keys(&task, &params);
        assert_ne!(with_params, apart);
        assert_eq!(apart, input_key(&task, &parameters_matched_apart()));
        assert_eq!(input_keys(&task, &parameters_matched_apart()).1, apart);
    }

    #[test]
    fn a_buffered_hasher_hashes_the_stream_however_it_is_cut() {
        let stream: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        // Pieces that fill the buffer exactly, cross it, and exceed it.
        for cuts in [
            &[8usize, 32, 984, 1024, 1, 2000, 951][..],
            &[1023, 1, 1025, 0, 2951][..],
            &[5000][..],
        ] {
            let mut hasher = Buffered::new();
            let mut at = 0;
            for &len in cuts {
                hasher.update(&stream[at..at + len]);
                at += len;
            }
            assert_eq!(at, stream.len());
            assert_eq!(hasher.finalize(), blake3::hash(&stream), "cut as {cuts:?}");
        }
    }

    /// Keys computed by an earlier mfw must still match (a cache made
    /// before, a resume across an upgrade, the seeds drawn from them), so
    /// how they are computed may change but never what they are.
    #[test]
    fn keys_keep_the_values_earlier_versions_gave() {
        let params = parameters_key(&BTreeMap::from([("n".to_string(), Bytes::from("3"))]));
        let task = body(1, b"2");
        let (inputs, apart) = input_keys(&task, &params);
        let step = Step::linear("body", ["end"]).with_decorator(Decorator {
            name: "retry".to_string(),
            options: vec![("times".to_string(), "2".to_string())],
        });
        let code = BlobHash::of(b"component");
        let computation = Computation::of(Some(&code), Some(&step), &["env HOME".to_string()]);
        let found = [
            inputs,
            apart,
            task_key("F", &inputs, &computation),
            task_key("F", &apart, &computation),
            step_key("F", "body", &computation),
        ]
        .map(|key| key.to_string());
        // What the field-by-field definition (before one-pass input keys
        // and per-step computations) gave for these inputs. Task and step
        // keys cover the host's determinism settings, so a new DETERMINISM
        // changes them on purpose (these are mfw-determinism-4's).
        assert!(
            mfw_host::DETERMINISM.starts_with("mfw-determinism-4 "),
            "DETERMINISM changed: every task and step key changes with it (recompute the last three here)"
        );
        let golden = [
            "37322463c4ef9d0966f88eea35a80d518c1e1f967ea457b14bce8a86ff7072ff",
            "d9939769aaca4cf9d5fd4f6464361a72ed7c34c0c78340283d5f4aa844d60c9f",
            "ab2211a82e29f1b5aa4036cc2bbc97557837f92b2122506ded9b7ad023d17a20",
            "934807b36b39ebf43edc20c0891c9d055f9d9e42193be66b559ab8a8186e0770",
            "b035312037f71945ca849532301a149e269389810a6025f23bfade5b103166ab",
        ];
        assert_eq!(found, golden.map(String::from));
    }
}
