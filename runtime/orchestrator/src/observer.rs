//! Who hears about a run's progress, and how its tasks are named to them.

use mfw_host::OutputStream;

/// A task of a run: its step and task id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskKey {
    /// The step.
    pub step: String,
    /// `0`, or the foreach indices joined by `.`.
    pub task_id: String,
}

impl std::fmt::Display for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.step, self.task_id)
    }
}

/// Follows a run as it goes: the CLI prints output lines and progress from
/// these calls. They come from several threads at once.
pub trait RunObserver: Send + Sync {
    /// The run was recorded and is about to start its first task.
    fn run_started(&self, _flow: &str, _run_id: &str) {}
    /// The run resumes `origins` (the run named first, then the runs it
    /// resumed), whose `reusable` successful tasks it reuses where their
    /// inputs are unchanged.
    fn run_resumes(&self, _origins: &[String], _reusable: usize) {}
    /// A task became known (it will run once its turn comes).
    fn task_queued(&self, _task: &TaskKey) {}
    /// A task started.
    fn task_started(&self, _task: &TaskKey) {}
    /// A task wrote a line.
    fn task_output(&self, _task: &TaskKey, _stream: OutputStream, _line: &str) {}
    /// A task ended: `failure` says why it failed, if it did.
    fn task_finished(&self, _task: &TaskKey, _failure: Option<&str>) {}
}
