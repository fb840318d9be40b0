//! The queue: which tasks are ready, and handing them to executors. A
//! finished task makes its successors ready through one method per kind of
//! transition (`queue_linear`, `queue_split`, `queue_foreach`,
//! `queue_join`); running a task is the task module's, and where it runs
//! is its executor's.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::future::Either;
use futures::stream::FuturesOrdered;
use mfw_graph::{BlobHash, ForeachFrame, StepKind, Topology, Transition};
use mfw_host::{JoinInput, NameMap};
use mfw_store::TaskRecord;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle, JoinSet};

use crate::TaskKey;
use crate::executor::{Claim, Executors, TaskEnds};
use crate::task::{Finished, ReadyTask, TaskContext};

/// Why a finished task's successors cannot be made ready.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchedulerError {
    /// The task fanned out over an artifact it did not record.
    #[error("the foreach artifact `{over}` was not recorded")]
    ForeachNotRecorded {
        /// The artifact.
        over: String,
    },
    /// The foreach list cannot be read back.
    #[error("cannot read the foreach artifact `{over}`")]
    ForeachUnreadable {
        /// The artifact.
        over: String,
        /// Why (boxed: the store's errors are large).
        #[source]
        source: Box<mfw_store::StoreError>,
    },
    /// The foreach artifact is not a list.
    #[error("`{over}` is not a list")]
    NotAList {
        /// The artifact.
        over: String,
        /// What the decoder said.
        #[source]
        source: mfw_encoding::Error,
    },
    /// A recursive switch went round more often than a run allows.
    #[error(
        "step `{step}` went back to itself {rounds} times, the most a run allows \
         (--max-rounds); a loop stops when its condition changes: make each round change what \
         the condition reads"
    )]
    TooManyRounds {
        /// The recursive step.
        step: String,
        /// The limit.
        rounds: u32,
    },
    /// A foreach join reached from outside any foreach.
    #[error("join `{join}` has no foreach to close")]
    NoForeachToClose {
        /// The join step.
        join: String,
    },
}

/// How the scheduled tasks ended.
pub(crate) struct ScheduleOutcome {
    pub(crate) succeeded: u64,
    /// Reused by resume.
    pub(crate) cloned: u64,
    /// Taken from the cache.
    pub(crate) cached: u64,
    pub(crate) failures: Vec<(TaskKey, String)>,
    pub(crate) interrupted: bool,
}

/// A join task, named by its step and foreach path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct JoinKey {
    step: String,
    path: Vec<u32>,
}

/// The foreach loops a task runs in, outermost first: their frames, the
/// items it was given, and where each item comes from.
#[derive(Clone, Default)]
struct Frames {
    foreach: Vec<ForeachFrame>,
    inputs: Vec<Bytes>,
    items: Vec<(BlobHash, u32)>,
}

impl Frames {
    fn of(task: &ReadyTask) -> Self {
        Self {
            foreach: task.foreach.clone(),
            inputs: task.foreach_inputs.clone(),
            items: task.foreach_items.clone(),
        }
    }

    /// The frames outside the innermost loop (what its join runs in).
    fn closed(mut self) -> Self {
        self.foreach.pop();
        self.inputs.pop();
        self.items.pop();
        self
    }
}

/// An input that reached its join.
struct Arrival {
    input: JoinInput,
    /// `step/task`, for the join's record.
    parent: String,
}

/// A join waiting for its inputs.
struct JoinWait {
    inputs: Vec<Option<Arrival>>,
    /// How many of `inputs` are filled, so a wide join costs O(1) per input.
    arrived: usize,
    frames: Frames,
}

/// Where an arriving input goes: which join task, which of its inputs, how
/// many it waits for, and the loops the join task runs in.
struct JoinSlot {
    key: JoinKey,
    slot: usize,
    expected: usize,
    frames: Frames,
}

/// A finished task as its successors see it.
struct Parent<'a> {
    task: &'a ReadyTask,
    /// `step/task`.
    name: String,
    /// One map for every successor (a foreach's thousands of tasks, a
    /// join's inputs), the parent's own when this task changed nothing.
    artifacts: NameMap,
    objects: NameMap,
}

impl Parent<'_> {
    /// A task of `step` that continues this one's lineage.
    fn child(&self, step: &str) -> ReadyTask {
        let mut child = self.task.clone();
        child.iteration = if step == self.task.step {
            // A recursive switch going round again.
            self.task.iteration.saturating_add(1)
        } else {
            0
        };
        child.step = step.to_string();
        child.inputs = Vec::new();
        child.artifacts = self.artifacts.clone();
        child.objects = self.objects.clone();
        child.parents = vec![self.name.clone()];
        child.earlier = Vec::new();
        child
    }
}

/// The map successors inherit: `inherited` itself when the task ended with
/// the same names and values, else one new map.
fn passed_on(inherited: &NameMap, ended: &BTreeMap<String, BlobHash>) -> NameMap {
    if **inherited == *ended {
        inherited.clone()
    } else {
        Arc::new(ended.clone())
    }
}

/// Plans and queues a run's tasks.
pub(crate) struct Scheduler {
    ctx: Arc<TaskContext>,
    topology: Arc<Topology>,
    executors: Executors,
    joins: HashMap<JoinKey, JoinWait>,
}

impl Scheduler {
    pub(crate) fn new(
        ctx: Arc<TaskContext>,
        topology: Arc<Topology>,
        executors: Executors,
    ) -> Self {
        Self {
            ctx,
            topology,
            executors,
            joins: HashMap::new(),
        }
    }

    /// The tasks that become ready because `task` finished as `record`.
    pub(crate) async fn successors(
        &mut self,
        task: &ReadyTask,
        record: &TaskRecord,
    ) -> Result<Vec<ReadyTask>, SchedulerError> {
        let Some(transition) = &record.next else {
            return Ok(Vec::new());
        };
        let parent = Parent {
            task,
            name: format!("{}/{}", task.step, task.task_id()),
            artifacts: passed_on(&task.artifacts, &record.artifacts),
            objects: passed_on(&task.objects, &record.objects),
        };
        match transition {
            Transition::Foreach { step, over } => {
                self.queue_foreach(&parent, record, step, over).await
            }
            // A switch's task recorded the one case it took, which may
            // be its own step again.
            Transition::Steps(targets) => match targets.as_slice() {
                // A loop whose rounds change nothing goes round for ever.
                [target] if *target == task.step && task.iteration >= self.ctx.max_rounds => {
                    Err(SchedulerError::TooManyRounds {
                        step: target.clone(),
                        rounds: self.ctx.max_rounds,
                    })
                }
                [target] => self.queue_linear(&parent, target),
                targets => self.queue_split(&parent, targets),
            },
        }
    }

    /// `next(a)`: one child, or an input of a join.
    fn queue_linear(
        &mut self,
        parent: &Parent<'_>,
        target: &str,
    ) -> Result<Vec<ReadyTask>, SchedulerError> {
        match self.topology.kind(target) {
            Some(StepKind::Join { foreach, .. }) => {
                let foreach = *foreach;
                self.queue_join(parent, target, foreach)
            }
            _ => Ok(vec![parent.child(target)]),
        }
    }

    /// `next(a, b)`: one child per branch, each in the same loops.
    fn queue_split(
        &mut self,
        parent: &Parent<'_>,
        targets: &[String],
    ) -> Result<Vec<ReadyTask>, SchedulerError> {
        let mut ready = Vec::new();
        for target in targets {
            ready.extend(self.queue_linear(parent, target)?);
        }
        Ok(ready)
    }

    /// `next(step, foreach=over)`: one child per item of the list.
    async fn queue_foreach(
        &self,
        parent: &Parent<'_>,
        record: &TaskRecord,
        step: &str,
        over: &str,
    ) -> Result<Vec<ReadyTask>, SchedulerError> {
        let over_name = || over.to_string();
        let hash = record
            .artifacts
            .get(over)
            .ok_or_else(|| SchedulerError::ForeachNotRecorded { over: over_name() })?;
        let list = self.ctx.blobs.load_async(hash).await.map_err(|source| {
            SchedulerError::ForeachUnreadable {
                over: over_name(),
                source: Box::new(source),
            }
        })?;
        let items =
            mfw_encoding::array_items(&list).map_err(|source| SchedulerError::NotAList {
                over: over_name(),
                source,
            })?;
        let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let mut ready = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let index = index as u32;
            let mut child = parent.child(step);
            child.path.push(index);
            child.foreach.push(ForeachFrame {
                step: parent.task.step.clone(),
                over: over_name(),
                index,
                count,
            });
            child.foreach_inputs.push(list.slice_ref(item));
            child.foreach_items.push((*hash, index));
            ready.push(child);
        }
        Ok(ready)
    }

    /// An input reaching `join`: the join task once all its inputs are in.
    /// A foreach's join waits for every item of the loop it closes; a
    /// split's for each branch.
    fn queue_join(
        &mut self,
        parent: &Parent<'_>,
        join: &str,
        closes_foreach: bool,
    ) -> Result<Vec<ReadyTask>, SchedulerError> {
        let task = parent.task;
        let at = if closes_foreach {
            let frame = task
                .foreach
                .last()
                .ok_or_else(|| SchedulerError::NoForeachToClose {
                    join: join.to_string(),
                })?;
            let mut path = task.path.clone();
            let index = path.pop().unwrap_or(0);
            JoinSlot {
                key: JoinKey {
                    step: join.to_string(),
                    path,
                },
                slot: index as usize,
                expected: frame.count as usize,
                frames: Frames::of(task).closed(),
            }
        } else {
            // One input per branch of the split; validation gave every
            // predecessor its slot.
            let (slot, expected) = self.topology.join_slot(join, &task.step).unwrap_or((0, 1));
            JoinSlot {
                key: JoinKey {
                    step: join.to_string(),
                    path: task.path.clone(),
                },
                slot,
                expected,
                frames: Frames::of(task),
            }
        };
        let JoinSlot {
            key,
            slot,
            expected,
            frames,
        } = at;
        let wait = self.joins.entry(key.clone()).or_insert_with(|| JoinWait {
            inputs: std::iter::repeat_with(|| None).take(expected).collect(),
            arrived: 0,
            frames,
        });
        if let Some(place) = wait.inputs.get_mut(slot)
            && place.is_none()
        {
            wait.arrived += 1;
            *place = Some(Arrival {
                input: JoinInput {
                    step: task.step.clone(),
                    task_id: task.task_id(),
                    artifacts: parent.artifacts.clone(),
                    objects: parent.objects.clone(),
                },
                parent: parent.name.clone(),
            });
        }
        if wait.arrived < wait.inputs.len() {
            return Ok(Vec::new());
        }
        let Some(wait) = self.joins.remove(&key) else {
            return Ok(Vec::new());
        };
        let (inputs, parents) = wait
            .inputs
            .into_iter()
            .flatten()
            .map(|a| (a.input, a.parent))
            .unzip();
        Ok(vec![ReadyTask {
            step: key.step,
            path: key.path,
            iteration: 0,
            artifacts: NameMap::default(),
            objects: NameMap::default(),
            inputs,
            foreach: wait.frames.foreach,
            foreach_inputs: wait.frames.inputs,
            foreach_items: wait.frames.items,
            parents,
            earlier: Vec::new(),
        }])
    }

    /// Runs the flow from `start` to the end: up to `workers` slots of
    /// tasks at once, within `budget_mb` of memory limits, stopping new
    /// tasks after a failure or when `interrupt` turns true.
    ///
    /// A ready task that resume or the cache may answer is looked up first,
    /// without taking a slot and [`REUSE_AT_ONCE`] at a time (a cached task
    /// is a few reads and a write); the rest queue for their executor.
    pub(crate) async fn run(
        mut self,
        workers: usize,
        budget_mb: u64,
        mut interrupt: Option<watch::Receiver<bool>>,
    ) -> ScheduleOutcome {
        let ctx = self.ctx.clone();
        let mut ready = Ready::default();
        self.make_ready(&mut ready, vec![ReadyTask::start()]);
        let mut running: JoinSet<TaskEnds> = JoinSet::new();
        // In the order the tasks became ready; a task of a step with
        // nothing cached needs no lookup and is answered at once.
        let mut lookups: FuturesOrdered<LookingUp> = FuturesOrdered::new();
        let mut outcome = ScheduleOutcome {
            succeeded: 0,
            cloned: 0,
            cached: 0,
            failures: Vec::new(),
            interrupted: false,
        };
        let workers = workers.max(1);
        // Slots and memory in use by tasks run one at a time.
        let mut busy = Claim::default();
        let mut held: HashMap<tokio::task::Id, Claim> = HashMap::new();
        let mut last_flush = tokio::time::Instant::now();
        // Records of cloned tasks being written as a pack while lookups go
        // on, so the run's end does not write them all.
        let mut packing: Option<JoinHandle<()>> = None;
        loop {
            let halted = !outcome.failures.is_empty() || outcome.interrupted;
            // After a failure or an interrupt nothing new starts; what runs
            // ends.
            while lookups.len() < REUSE_AT_ONCE && !halted {
                let Some(task) = ready.unchecked.pop_front() else {
                    break;
                };
                // Without a run to resume, a task the cache may not answer
                // (`--no-cache`, `@cache(False)`) or whose step it holds
                // nothing for (a first run) skips the lookup and its thread
                // hand-offs; it queues at once unless tasks ready before it
                // are still being looked up.
                let needs_no_lookup = |task: &ReadyTask| {
                    ctx.origin.is_none()
                        && (!crate::cache::may_cache(&ctx, &task.step)
                            || ctx.cache_book.holds_nothing_for(&task.step))
                };
                if needs_no_lookup(&task) {
                    if lookups.is_empty() {
                        ready.push_to_run(self.claim(&task.step).is_none(), task);
                    } else {
                        lookups
                            .push_back(Either::Right(futures::future::ready(Ok(vec![Err(task)]))));
                    }
                    continue;
                }
                // Many ready tasks (a foreach) are looked up several to a
                // job: a spawn, a join and a wake-up per task cost about
                // as much as the lookup of a cached task. Few go one each,
                // so they still spread over the workers.
                let size = (ready.unchecked.len() / REUSE_AT_ONCE).clamp(1, LOOKUP_BATCH);
                let mut batch = vec![task];
                while batch.len() < size {
                    match ready.unchecked.pop_front() {
                        Some(next) if !needs_no_lookup(&next) => batch.push(next),
                        Some(next) => {
                            ready.unchecked.push_front(next);
                            break;
                        }
                        None => break,
                    }
                }
                let ctx = ctx.clone();
                lookups.push_back(Either::Left(tokio::spawn(async move {
                    let mut looked = Vec::with_capacity(batch.len());
                    for task in batch {
                        looked.push(crate::task::reuse(&ctx, task).await);
                    }
                    looked
                })));
            }
            // Steps whose executor takes batches leave together, one batch
            // per step, without taking slots: a foreach's tasks all go at
            // once, when none is being looked up.
            if !halted && lookups.is_empty() && ready.unchecked.is_empty() {
                for (step, tasks) in std::mem::take(&mut ready.batches) {
                    self.dispatch(&mut running, step, tasks);
                }
            }
            while let Some(front) = ready.queue.front().filter(|_| !halted) {
                let Some(need) = self.fits(&front.step, &busy, workers, budget_mb) else {
                    break;
                };
                let Some(task) = ready.queue.pop_front() else {
                    break;
                };
                let step = task.step.clone();
                let id = self.dispatch(&mut running, step, vec![task]);
                held.insert(id, need);
                busy.slots += need.slots;
                busy.memory_mb += need.memory_mb;
            }
            if running.is_empty() && lookups.is_empty() {
                break;
            }
            let flush_due = tokio::time::sleep_until(last_flush + CACHE_FLUSH_INTERVAL);
            let ended = tokio::select! {
                joined = running.join_next_with_id(), if !running.is_empty() => match joined {
                    Some(Ok((id, ends))) => {
                        busy.release(held.remove(&id));
                        ends.0
                    }
                    Some(Err(e)) => {
                        busy.release(held.remove(&e.id()));
                        // An executor panicked: a host bug, reported as one.
                        outcome.failures.push((unknown_task(), format!("mfw worker failed: {e}")));
                        continue;
                    }
                    None => continue,
                },
                looked = lookups.next(), if !lookups.is_empty() => match looked {
                    Some(Ok(looked)) => {
                        let mut reused = Vec::new();
                        for lookup in looked {
                            match lookup {
                                Ok(finished) => reused.push(finished),
                                // Nothing to reuse: it runs.
                                Err(task) => {
                                    let failed = !outcome.failures.is_empty() && !outcome.interrupted;
                                    if !failed {
                                        ready.push_to_run(self.claim(&task.step).is_none(), task);
                                    } else if let Some(need) =
                                        self.fits(&task.step, &busy, workers, budget_mb)
                                        && self.claim(&task.step).is_some()
                                    {
                                        // It was ready before the failure, with
                                        // tasks that started then: it starts too
                                        // if a slot is free, as it would have
                                        // without the lookup.
                                        let step = task.step.clone();
                                        let id = self.dispatch(&mut running, step, vec![task]);
                                        held.insert(id, need);
                                        busy.slots += need.slots;
                                        busy.memory_mb += need.memory_mb;
                                    }
                                }
                            }
                        }
                        reused
                    }
                    Some(Err(e)) => {
                        outcome.failures.push((unknown_task(), format!("mfw worker failed: {e}")));
                        continue;
                    }
                    None => continue,
                },
                () = flush_due, if ctx.cache_book.has_added() => {
                    crate::cache::flush(&ctx).await;
                    // An error is tried again at the end, which reports it.
                    let _ = crate::cache::flush_clones(&ctx).await;
                    last_flush = tokio::time::Instant::now();
                    continue;
                }
                changed = wait_interrupt(&mut interrupt) => {
                    if changed {
                        outcome.interrupted = true;
                        // Running guests stop at their next epoch tick.
                        ctx.cancel.store(true, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            for finished in ended {
                let key = finished.task.key();
                if finished.interrupted {
                    outcome.interrupted = true;
                    continue;
                }
                if let Some(why) = finished.failure {
                    outcome.failures.push((key, why));
                    continue;
                }
                outcome.succeeded += 1;
                // A remote worker's cache hit is known by its record.
                if finished.record.cached {
                    outcome.cached += 1;
                } else {
                    outcome.cloned += u64::from(finished.cloned);
                }
                match self.successors(&finished.task, &finished.record).await {
                    Ok(next) => self.make_ready(&mut ready, next),
                    Err(why) => outcome.failures.push((key, mfw_host::error_chain(&why))),
                }
                if finished.to_pack {
                    ctx.cache_book.add_clone(finished.record);
                }
            }
            if ctx.cache_book.clones_waiting() >= CLONES_PER_PACK
                && packing.as_ref().is_none_or(|p| p.is_finished())
            {
                let ctx = ctx.clone();
                packing = Some(tokio::spawn(async move {
                    // An error keeps the records for the last flush, which
                    // reports it.
                    let _ = crate::cache::flush_clones(&ctx).await;
                }));
            }
        }
        if let Some(packing) = packing {
            let _ = packing.await;
        }
        crate::cache::flush(&ctx).await;
        if let Err(e) = crate::cache::flush_clones(&ctx).await {
            outcome.failures.push((
                unknown_task(),
                format!(
                    "cannot store the records of the tasks taken from the cache or the resumed run: {}",
                    mfw_host::error_chain(&e)
                ),
            ));
        }
        outcome
    }

    /// Queues `tasks`: first to be looked up, when resume or the cache may
    /// answer them, else to run.
    fn make_ready(&self, ready: &mut Ready, tasks: Vec<ReadyTask>) {
        for task in tasks {
            if let Some(observer) = &self.ctx.observer {
                observer.task_queued(&task.key());
            }
            if self.ctx.origin.is_some() || crate::cache::may_cache(&self.ctx, &task.step) {
                ready.unchecked.push_back(task);
            } else {
                ready.push_to_run(self.claim(&task.step).is_none(), task);
            }
        }
    }

    /// What a task of `step` takes from the run's budget while it runs, or
    /// `None` when its executor takes the step's tasks in batches.
    fn claim(&self, step: &str) -> Option<Claim> {
        self.executors.for_step(step).claim(step)
    }

    /// What a task of `step` would take from the run's budget, if it fits
    /// beside what is `busy` now.
    fn fits(&self, step: &str, busy: &Claim, workers: usize, budget_mb: u64) -> Option<Claim> {
        let need = self.claim(step).unwrap_or_default();
        let need = Claim {
            slots: need.slots.clamp(1, workers),
            ..need
        };
        let fits = busy.slots + need.slots <= workers
            && (busy.slots == 0 || busy.memory_mb + need.memory_mb <= budget_mb);
        fits.then_some(need)
    }

    /// Hands `tasks` of `step` to the executor that runs the step.
    fn dispatch(
        &self,
        running: &mut JoinSet<TaskEnds>,
        step: String,
        tasks: Vec<ReadyTask>,
    ) -> tokio::task::Id {
        let executor = self.executors.for_step(&step).clone();
        let work = self.executors.ready(&self.ctx, step, tasks);
        running.spawn(async move { executor.run(work).await }).id()
    }
}

impl Claim {
    fn release(&mut self, claim: Option<Claim>) {
        let claim = claim.unwrap_or_default();
        self.slots = self.slots.saturating_sub(claim.slots);
        self.memory_mb = self.memory_mb.saturating_sub(claim.memory_mb);
    }
}

/// How many lookup jobs (resume, the cache) run at once: a lookup is a few
/// small reads and one write, so they overlap well.
const REUSE_AT_ONCE: usize = 32;

/// The most ready tasks one lookup job takes.
const LOOKUP_BATCH: usize = 16;

/// What looking a task up gives: the task finished by reusing another, or
/// the task back, to run.
type Lookup = Result<Finished, ReadyTask>;

/// What one lookup job gives, in the order of its tasks.
type Looked = Vec<Lookup>;

/// A lookup under way on its own task, or one answered at once.
type LookingUp = Either<JoinHandle<Looked>, futures::future::Ready<Result<Looked, JoinError>>>;

/// Tasks ready to start.
#[derive(Default)]
struct Ready {
    /// To be looked up first (resume, the cache).
    unchecked: VecDeque<ReadyTask>,
    /// To run one at a time, in order, as slots free up.
    queue: VecDeque<ReadyTask>,
    /// To run as one batch per step (their executor takes batches).
    batches: BTreeMap<String, Vec<ReadyTask>>,
}

impl Ready {
    fn push_to_run(&mut self, batched: bool, task: ReadyTask) {
        if batched {
            self.batches
                .entry(task.step.clone())
                .or_default()
                .push(task);
        } else {
            self.queue.push_back(task);
        }
    }
}

/// Stands for a task a panic lost track of.
fn unknown_task() -> TaskKey {
    TaskKey {
        step: "?".to_string(),
        task_id: "?".to_string(),
    }
}

/// How many cloned tasks' records make a pack before the run's end or its
/// next periodic flush.
pub(crate) const CLONES_PER_PACK: usize = 256;

/// How often a run stores what its tasks added to the cache, so a run
/// killed midway loses at most this much of it.
const CACHE_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Resolves when the interrupt flag turns true; never if there is none.
async fn wait_interrupt(interrupt: &mut Option<watch::Receiver<bool>>) -> bool {
    match interrupt {
        Some(rx) => {
            if *rx.borrow() {
                // Already interrupted: stop polling this branch.
                *interrupt = None;
                return true;
            }
            match rx.changed().await {
                Ok(()) => *rx.borrow(),
                Err(_) => {
                    *interrupt = None;
                    false
                }
            }
        }
        None => std::future::pending().await,
    }
}
