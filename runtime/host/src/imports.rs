//! The host side of the contract's imports: artifacts, control, task-info
//! and logging. Guest mistakes come back as WIT errors; the ones that must
//! fail the task (a bad `next`, an unreadable blob) are also recorded.

use bytes::Bytes;
use mfw_graph::{BlobHash, Transition, is_identifier};

use crate::bindings::mfw::flow::types::{ArtifactError, ForeachFrame, Task};
use crate::bindings::mfw::flow::{artifacts, control, logging, task_info, types};
use crate::task::{Running, Slot, TaskFailure, TaskState};

/// Names starting with this are kept for mfw's own use.
const RESERVED_PREFIX: &str = "_mfw";

pub(crate) const NO_TASK: &str = "no task is running: `graph` must not call the task imports";

impl TaskState {
    pub(crate) fn running(&mut self) -> Result<&mut Running, ArtifactError> {
        self.task
            .as_mut()
            .ok_or_else(|| ArtifactError::Storage(NO_TASK.to_string()))
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), ArtifactError> {
    if !is_identifier(name) {
        return Err(ArtifactError::InvalidName(format!(
            "`{}` is not a valid artifact name: use letters, digits and `_`, starting with a \
             letter or `_`, at most 128 bytes",
            name.escape_debug()
        )));
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(ArtifactError::InvalidName(format!(
            "`{name}` is reserved: names starting with `{RESERVED_PREFIX}` belong to mfw"
        )));
    }
    Ok(())
}

impl Running {
    fn value_of(&mut self, name: &str) -> Result<Bytes, ArtifactError> {
        match self.locate(name)? {
            (Slot::Set(_, bytes), _) => Ok(bytes),
            (Slot::Stored(hash), what) => self.load(&hash, &what),
        }
    }

    /// Where the artifact `name` this task sees is, and what to call it in
    /// a message.
    pub(crate) fn locate(&self, name: &str) -> Result<(Slot, String), ArtifactError> {
        match self.artifacts.get(name) {
            Some(slot) => Ok((slot.clone(), format!("artifact `{name}`"))),
            None => Err(ArtifactError::NotFound(format!(
                "step `{}` has no artifact `{name}`",
                self.spec.step
            ))),
        }
    }

    /// Where the artifact `name` of the join input at `index` is, and what
    /// to call it in a message.
    pub(crate) fn locate_input(
        &self,
        index: u32,
        name: &str,
    ) -> Result<(Slot, String), ArtifactError> {
        let input = self.input(index)?;
        let Some(hash) = input.artifacts.get(name).copied() else {
            return Err(ArtifactError::NotFound(format!(
                "input {index} (step `{}`, task {}) has no artifact `{name}`",
                input.step, input.task_id
            )));
        };
        let what = format!(
            "artifact `{name}` of input {}/{}",
            input.step, input.task_id
        );
        Ok((Slot::Stored(hash), what))
    }

    fn input(&self, index: u32) -> Result<&crate::task::JoinInput, ArtifactError> {
        self.spec
            .inputs
            .get(index as usize)
            .ok_or(ArtifactError::NoSuchInput(self.spec.inputs.len() as u32))
    }

    fn record_next(&mut self, transition: Transition) -> Result<(), String> {
        if let Some(first) = &self.transition {
            let message = format!(
                "step `{}` called next twice (first {first}, then {transition}); call it once, \
                 at the end of the step",
                self.spec.step
            );
            self.fail(TaskFailure::Next(message.clone()));
            return Err(message);
        }
        let checked = match self.graph.step(&self.spec.step) {
            Some(step) => transition.check(step).map_err(|e| e.to_string()),
            None => Err(format!(
                "step `{}` is not in the graph of flow `{}`",
                self.spec.step, self.graph.name
            )),
        };
        if let Err(message) = checked {
            self.fail(TaskFailure::Next(message.clone()));
            return Err(message);
        }
        self.transition = Some(transition);
        Ok(())
    }

    fn foreach_count(&mut self, over: &str) -> Result<u32, String> {
        let step = self.spec.step.clone();
        let bytes = self.value_of(over).map_err(|e| match e {
            ArtifactError::NotFound(_) => {
                format!("step `{step}` fans out over `{over}`, but it has no artifact `{over}`")
            }
            other => format!("step `{step}` cannot read `{over}` to fan out: {other:?}"),
        })?;
        let items = mfw_encoding::array_items(&bytes).map_err(|e| {
            format!("step `{step}` fans out over `{over}`, which is not a list: {e}")
        })?;
        if items.is_empty() {
            return Err(format!(
                "step `{step}` fans out over `{over}`, which is empty: a foreach needs at least \
                 one item"
            ));
        }
        let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
        if count > self.spec.max_splits {
            return Err(format!(
                "step `{step}` fans out over `{over}` into {count} tasks, more than the limit of \
                 {} (raise it with --max-num-splits)",
                self.spec.max_splits
            ));
        }
        Ok(count)
    }
}

impl types::Host for TaskState {}

impl artifacts::Host for TaskState {
    fn get(&mut self, name: String) -> Result<Vec<u8>, ArtifactError> {
        let task = self.running()?;
        // A value read from the store is held only here: handing over its
        // buffer copies nothing (shared bytes, such as cached ones, are
        // copied).
        task.value_of(&name).map(Vec::from)
    }

    fn set(&mut self, name: String, value: Vec<u8>) -> Result<(), ArtifactError> {
        let task = self.running()?;
        task.check_call(value.len())?;
        check_name(&name)?;
        mfw_encoding::validate(&value).map_err(|e| {
            ArtifactError::InvalidValue(format!(
                "the value given for `{name}` is not in the mfw encoding: {e}"
            ))
        })?;
        let hash = BlobHash::of(&value);
        let bytes = task.hold(hash, value)?;
        task.artifacts.insert(name, Slot::Set(hash, bytes));
        Ok(())
    }

    fn remove(&mut self, name: String) -> Result<(), ArtifactError> {
        let task = self.running()?;
        check_name(&name)?;
        task.artifacts.remove(&name);
        Ok(())
    }

    fn names(&mut self) -> Vec<String> {
        match self.running() {
            Ok(task) => task.artifacts.keys().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    fn input_count(&mut self) -> u32 {
        match self.running() {
            Ok(task) => task.spec.inputs.len() as u32,
            Err(_) => 0,
        }
    }

    fn input_step(&mut self, index: u32) -> Result<String, ArtifactError> {
        let task = self.running()?;
        Ok(task.input(index)?.step.clone())
    }

    fn input_names(&mut self, index: u32) -> Result<Vec<String>, ArtifactError> {
        let task = self.running()?;
        Ok(task.input(index)?.artifacts.keys().cloned().collect())
    }

    fn input_get(&mut self, index: u32, name: String) -> Result<Vec<u8>, ArtifactError> {
        let task = self.running()?;
        let (slot, what) = task.locate_input(index, &name)?;
        task.load(&slot.hash(), &what).map(Vec::from)
    }

    fn merge_artifacts(&mut self, exclude: Vec<String>) -> Result<(), String> {
        let task = self.running().map_err(|_| NO_TASK.to_string())?;
        // Decide on every name before changing anything, so a conflict
        // leaves the task as it was.
        let mut merged: std::collections::BTreeMap<String, BlobHash> = Default::default();
        let mut conflicts = Vec::new();
        for input in &task.spec.inputs {
            for (name, hash) in input.artifacts.iter() {
                if exclude.contains(name)
                    || task.artifacts.contains_key(name)
                    || name.starts_with(RESERVED_PREFIX)
                {
                    continue;
                }
                match merged.get(name) {
                    Some(existing) if existing != hash => {
                        if !conflicts.contains(name) {
                            conflicts.push(name.clone());
                        }
                    }
                    _ => {
                        merged.insert(name.clone(), *hash);
                    }
                }
            }
        }
        if !conflicts.is_empty() {
            let names: Vec<String> = conflicts.iter().map(|n| format!("`{n}`")).collect();
            return Err(format!(
                "merge_artifacts in step `{}`: the inputs have different values for {}; set \
                 them in the join step first, or pass them in exclude",
                task.spec.step,
                names.join(", ")
            ));
        }
        for (name, hash) in merged {
            task.artifacts.insert(name, Slot::Stored(hash));
        }
        Ok(())
    }
}

impl control::Host for TaskState {
    fn next(&mut self, steps: Vec<String>) -> Result<(), String> {
        let task = self.running().map_err(|_| NO_TASK.to_string())?;
        task.record_next(Transition::Steps(steps))
    }

    fn next_foreach(&mut self, step: String, over: String) -> Result<(), String> {
        let task = self.running().map_err(|_| NO_TASK.to_string())?;
        let transition = Transition::Foreach {
            step,
            over: over.clone(),
        };
        task.record_next(transition)?;
        match task.foreach_count(&over) {
            Ok(count) => {
                task.foreach_count = Some(count);
                Ok(())
            }
            Err(message) => {
                task.fail(TaskFailure::Next(message.clone()));
                Err(message)
            }
        }
    }

    fn foreach_input(&mut self) -> Option<Vec<u8>> {
        let task = self.task.as_ref()?;
        task.spec.foreach_input.as_ref().map(|b| b.to_vec())
    }

    fn foreach_index(&mut self) -> Option<u32> {
        let task = self.task.as_ref()?;
        task.spec.foreach_stack.last().map(|f| f.index)
    }

    fn foreach_stack(&mut self) -> Vec<ForeachFrame> {
        let Some(task) = self.task.as_ref() else {
            return Vec::new();
        };
        task.spec
            .foreach_stack
            .iter()
            .map(|f| ForeachFrame {
                step: f.step.clone(),
                over: f.over.clone(),
                index: f.index,
                count: f.count,
            })
            .collect()
    }

    fn parameter(&mut self, name: String) -> Option<Vec<u8>> {
        let task = self.task.as_mut()?;
        let value = task.spec.parameters.get(&name).map(|b| b.to_vec());
        // Only the run's own parameters: the set stays as small as the
        // flow's declarations, whatever names a guest asks for.
        if value.is_some() {
            task.parameters_read.insert(name);
        }
        value
    }
}

impl task_info::Host for TaskState {
    fn run(&mut self) -> types::RunInfo {
        if let Some(task) = self.task.as_mut() {
            task.read_run_identity = true;
        }
        let info = self.task.as_ref().map(|t| t.spec.run_info.clone());
        let info = info.unwrap_or_default();
        types::RunInfo {
            user: info.user.clone(),
            tags: info.tags.clone(),
            origin_run_id: info.origin_run_id.clone(),
        }
    }

    fn current(&mut self) -> Task {
        if let Some(task) = self.task.as_mut() {
            task.read_run_identity = true;
        }
        match self.task.as_ref() {
            Some(task) => Task {
                flow: task.spec.flow.clone(),
                run_id: task.spec.run_id.clone(),
                step: task.spec.step.clone(),
                task_id: task.spec.task_id.clone(),
                attempt: task.spec.attempt,
            },
            None => Task {
                flow: String::new(),
                run_id: String::new(),
                step: String::new(),
                task_id: String::new(),
                attempt: 0,
            },
        }
    }
}

impl logging::Host for TaskState {
    fn log(&mut self, level: logging::Level, message: String) {
        let level = match level {
            logging::Level::Debug => "debug",
            logging::Level::Info => "info",
            logging::Level::Warn => "warning",
            logging::Level::Error => "error",
        };
        if let Some(stderr) = &self.stderr {
            stderr.write(format!("[{level}] {message}\n").as_bytes());
        }
    }

    fn fatal(&mut self, message: String) {
        if let Some(task) = self.task.as_mut() {
            task.panic_message = Some(crate::task::bounded(
                message,
                crate::task::MAX_MESSAGE_BYTES,
            ));
        }
    }
}
