//! What `mfw run` shows while a flow runs: every line a task prints,
//! prefixed with `step/task`, and on a terminal a live display: a bar per
//! step (tasks done of those known, how many run now, how many failed) and
//! one for the whole run.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mfw_host::OutputStream;
use mfw_orchestrator::{RunObserver, TaskKey};

/// Prints task output and progress.
pub struct TerminalObserver {
    display: Option<Display>,
    queued: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    // Keeps lines from different tasks whole.
    lock: Mutex<()>,
    quiet: bool,
    /// The run, once it started: `(flow, run id)`.
    started: Mutex<Option<(String, String)>>,
    /// In a pod: when the last progress line was printed, if one was.
    progress_lines: Option<Mutex<Option<Instant>>>,
    /// Where to write the run's pathspec once it starts (`--run-id-file`).
    run_id_file: Option<PathBuf>,
}

/// How often a pod's log says how far its worker is.
const POD_PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The live display: the run's bar last, a bar per step above it.
struct Display {
    multi: MultiProgress,
    total: ProgressBar,
    steps: Mutex<StepBars>,
}

#[derive(Default)]
struct StepBars {
    bars: HashMap<String, StepBar>,
    /// Steps beyond [`MAX_STEP_BARS`], counted in the run's bar only.
    unshown: u64,
}

struct StepBar {
    bar: ProgressBar,
    running: u64,
    failed: u64,
}

/// The most steps shown with a bar each: a graph wider than a screen
/// shows the rest in the run's bar only.
const MAX_STEP_BARS: usize = 24;

impl TerminalObserver {
    /// A live display when stderr is a terminal, plain lines otherwise.
    pub fn new(quiet: bool) -> Self {
        let target = (std::io::stderr().is_terminal() && !quiet).then(ProgressDrawTarget::stderr);
        Self::with_target(quiet, target)
    }

    /// What a pod's worker shows: task output as plain lines, and how many
    /// of its tasks are done when the first one is and every ten seconds
    /// after, so its log (`kubectl logs`) shows a worker that is moving
    /// and how long it took to start.
    pub fn for_pod() -> Self {
        Self {
            progress_lines: Some(Mutex::new(None)),
            ..Self::with_target(false, None)
        }
    }

    /// Draws the display on `target`, if any.
    fn with_target(quiet: bool, target: Option<ProgressDrawTarget>) -> Self {
        let display = target.map(|target| {
            let multi = MultiProgress::with_draw_target(target);
            let total = multi.add(ProgressBar::new(0));
            total.set_style(style(
                "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} tasks {msg}",
            ));
            total.enable_steady_tick(Duration::from_millis(100));
            Display {
                multi,
                total,
                steps: Mutex::new(StepBars::default()),
            }
        });
        Self {
            display,
            queued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            lock: Mutex::new(()),
            quiet,
            started: Mutex::new(None),
            progress_lines: None,
            run_id_file: None,
        }
    }

    /// Writes `Flow/run_id` to `file` as soon as the run starts: the Python
    /// SDK's `Runner.async_run` returns then, with a `Run` to read while the
    /// run goes on.
    ///
    /// ```ignore
    /// let observer = TerminalObserver::new(false).writing_run_id_to(Some(path));
    /// ```
    pub fn writing_run_id_to(mut self, file: Option<PathBuf>) -> Self {
        self.run_id_file = file;
        self
    }

    /// The pathspec written whole or not at all: a reader polling for the
    /// file never sees half of it.
    fn write_run_id(&self, pathspec: &str) {
        let Some(file) = &self.run_id_file else {
            return;
        };
        let staging = file.with_extension(format!("partial-{}", std::process::id()));
        let written =
            std::fs::write(&staging, pathspec).and_then(|()| std::fs::rename(&staging, file));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&staging);
            self.say(
                OutputStream::Stderr,
                &format!(
                    "mfw: warning: cannot write the run's id to {}: {e}",
                    file.display()
                ),
            );
        }
    }

    /// A pod's progress line, if one is due at `now`.
    fn pod_progress(&self, now: Instant) -> Option<String> {
        let mut last = self.progress_lines.as_ref()?.lock().ok()?;
        if last.is_some_and(|at| now.saturating_duration_since(at) < POD_PROGRESS_EVERY) {
            return None;
        }
        *last = Some(now);
        let done = self.done.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        Some(format!(
            "mfw worker: {} {} done so far ({failed} failed)",
            thousands(done),
            if done == 1 { "task" } else { "tasks" }
        ))
    }

    fn say(&self, stream: OutputStream, text: &str) {
        let _guard = self.lock.lock();
        match &self.display {
            Some(display) => display.multi.suspend(|| print_line(stream, text)),
            None => print_line(stream, text),
        }
    }

    /// The run's flow and id, once it started.
    pub fn run(&self) -> Option<(String, String)> {
        self.started.lock().ok().and_then(|run| run.clone())
    }

    /// Removes the display before the summary is printed.
    pub fn finish(&self) {
        if let Some(display) = &self.display {
            if let Ok(steps) = display.steps.lock() {
                for step in steps.bars.values() {
                    step.bar.finish_and_clear();
                }
            }
            display.total.finish_and_clear();
            let _ = display.multi.clear();
        }
    }

    /// Updates `task`'s step bar, made when its first task is known.
    fn on_step(&self, task: &TaskKey, update: impl FnOnce(&mut StepBar)) {
        let Some(display) = &self.display else {
            return;
        };
        let Ok(mut steps) = display.steps.lock() else {
            return;
        };
        let steps = &mut *steps;
        if !steps.bars.contains_key(&task.step) {
            if steps.bars.len() >= MAX_STEP_BARS {
                steps.unshown += 1;
                self.total_message(display, steps.unshown);
                return;
            }
            let bar = display
                .multi
                .insert_before(&display.total, ProgressBar::new(0));
            bar.set_style(style("  {prefix:>16!} [{bar:30}] {pos}/{len} {msg}"));
            bar.set_prefix(for_terminal(&task.step).into_owned());
            steps.bars.insert(
                task.step.clone(),
                StepBar {
                    bar,
                    running: 0,
                    failed: 0,
                },
            );
        }
        if let Some(step) = steps.bars.get_mut(&task.step) {
            update(step);
            step.bar.set_message(match (step.running, step.failed) {
                (0, 0) => String::new(),
                (running, 0) => format!("{running} running"),
                (0, failed) => format!("{failed} failed"),
                (running, failed) => format!("{running} running, {failed} failed"),
            });
        }
    }

    /// The run's bar says how many tasks failed and how many steps have no
    /// bar of their own.
    fn total_message(&self, display: &Display, unshown: u64) {
        let failed = self.failed.load(Ordering::Relaxed);
        let parts: Vec<String> = [
            (failed > 0).then(|| format!("{failed} failed")),
            (unshown > 0).then(|| format!("{unshown} more steps not shown")),
        ]
        .into_iter()
        .flatten()
        .collect();
        display.total.set_message(if parts.is_empty() {
            String::new()
        } else {
            format!("({})", parts.join("; "))
        });
    }

    #[cfg(test)]
    fn step_bar(&self, step: &str) -> Option<ProgressBar> {
        let display = self.display.as_ref()?;
        let steps = display.steps.lock().ok()?;
        steps.bars.get(step).map(|s| s.bar.clone())
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// `text` as it may reach a terminal: control characters (escape
/// sequences, `\r`, backspace) are shown escaped (`\u{1b}`), so a guest's
/// output or names cannot move the cursor, recolour the terminal or forge
/// mfw's own lines. Newlines and tabs stay.
///
/// ```ignore
/// assert_eq!(for_terminal("a\u{1b}[2Kb\r"), "a\\u{1b}[2Kb\\r");
/// ```
pub(crate) fn for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// The most characters of one line of a task's output the console shows.
const MAX_SHOWN_LINE: usize = 16 << 10;

fn print_line(stream: OutputStream, text: &str) {
    let text = for_terminal(text);
    match stream {
        OutputStream::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
        OutputStream::Stderr => {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }
}

impl RunObserver for TerminalObserver {
    fn run_started(&self, flow: &str, run_id: &str) {
        if let Ok(mut started) = self.started.lock() {
            *started = Some((flow.to_string(), run_id.to_string()));
        }
        self.write_run_id(&format!("{flow}/{run_id}"));
        self.say(
            OutputStream::Stderr,
            &format!("mfw: {flow} run {run_id} started"),
        );
    }

    fn run_resumes(&self, origins: &[String], reusable: usize) {
        let flow = self.run().map(|(flow, _)| flow).unwrap_or_default();
        let first = origins.first().map_or("", String::as_str);
        let before = match origins.len() {
            0 | 1 => String::new(),
            2 => " and the run it resumed".to_string(),
            n => format!(" and the {} runs it resumed", n - 1),
        };
        self.say(
            OutputStream::Stderr,
            &format!(
                "mfw: resuming {flow}/{first}{before}: {} finished tasks to reuse where their inputs are unchanged",
                thousands(reusable as u64)
            ),
        );
    }

    fn task_queued(&self, task: &TaskKey) {
        let total = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(display) = &self.display {
            display.total.set_length(total);
        }
        self.on_step(task, |step| step.bar.inc_length(1));
    }

    fn task_started(&self, task: &TaskKey) {
        self.on_step(task, |step| step.running += 1);
    }

    fn task_output(&self, task: &TaskKey, stream: OutputStream, line: &str) {
        if !self.quiet {
            // The console shows the start of a huge line; the task's log
            // keeps all of it.
            let shown = match line.char_indices().nth(MAX_SHOWN_LINE) {
                Some((cut, _)) => format!(
                    "{} ... ({} bytes more: `mfw logs` has the whole line)",
                    &line[..cut],
                    line.len() - cut
                ),
                None => line.to_string(),
            };
            self.say(stream, &format!("{task}: {shown}"));
        }
    }

    fn task_finished(&self, task: &TaskKey, failure: Option<&str>) {
        self.done.fetch_add(1, Ordering::Relaxed);
        // A task taken from the cache or reused by resume never started.
        self.on_step(task, |step| {
            step.running = step.running.saturating_sub(1);
            step.failed += u64::from(failure.is_some());
            step.bar.inc(1);
        });
        if let Some(why) = failure {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Some(display) = &self.display {
                let unshown = display.steps.lock().map_or(0, |steps| steps.unshown);
                self.total_message(display, unshown);
            }
            self.say(OutputStream::Stderr, &format!("{task}: task failed: {why}"));
        }
        if let Some(display) = &self.display {
            display.total.inc(1);
        }
        if let Some(line) = self.pod_progress(Instant::now()) {
            self.say(OutputStream::Stderr, &line);
        }
    }
}

/// `1994` as `1,994`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_says_how_far_it_is_at_its_first_task_and_every_ten_seconds() {
        let pod = TerminalObserver::for_pod();
        // The first task's line is printed as it finishes.
        pod.task_finished(&key("work", "1"), None);
        assert_eq!(pod.pod_progress(Instant::now()), None);
        pod.task_finished(&key("work", "2"), Some("boom"));
        assert_eq!(
            pod.pod_progress(Instant::now() + POD_PROGRESS_EVERY),
            Some("mfw worker: 2 tasks done so far (1 failed)".to_string())
        );
        // `mfw run` has its display (or nothing) instead.
        let run = TerminalObserver::new(true);
        run.task_finished(&key("work", "1"), None);
        assert_eq!(run.pod_progress(Instant::now()), None);
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(for_terminal("plain\ttext"), "plain\ttext");
        assert_eq!(
            for_terminal("\u{1b}[2K\rmfw: HelloFlow/1 succeeded"),
            "\\u{1b}[2K\\rmfw: HelloFlow/1 succeeded"
        );
        assert_eq!(for_terminal("bell\u{7}"), "bell\\u{7}");
    }

    fn key(step: &str, task_id: &str) -> TaskKey {
        TaskKey {
            step: step.to_string(),
            task_id: task_id.to_string(),
        }
    }

    #[test]
    fn the_run_id_file_holds_the_pathspec_as_soon_as_the_run_starts() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("run-id");
        let observer = TerminalObserver::new(true).writing_run_id_to(Some(file.clone()));
        assert!(!file.exists());
        observer.run_started("TrainFlow", "1764900000000001");
        assert_eq!(
            std::fs::read_to_string(&file).expect("the file is written"),
            "TrainFlow/1764900000000001"
        );
        // Nothing half-written is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("readable")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names, ["run-id"]);
        // A file that cannot be written is a warning, not a failed run.
        let unwritable =
            TerminalObserver::new(true).writing_run_id_to(Some(dir.path().join("missing/run-id")));
        unwritable.run_started("TrainFlow", "2");
        assert_eq!(unwritable.run(), Some(("TrainFlow".into(), "2".into())));
    }

    #[test]
    fn each_step_has_a_bar_of_its_tasks_done_running_and_failed() {
        let observer = TerminalObserver::with_target(false, Some(ProgressDrawTarget::hidden()));
        observer.task_queued(&key("start", "0"));
        observer.task_started(&key("start", "0"));
        observer.task_finished(&key("start", "0"), None);
        for i in 0..4 {
            observer.task_queued(&key("train", &i.to_string()));
        }
        observer.task_started(&key("train", "0"));
        observer.task_started(&key("train", "1"));
        observer.task_started(&key("train", "2"));
        observer.task_finished(&key("train", "0"), Some("boom"));
        // A cached task finishes without starting.
        observer.task_finished(&key("train", "3"), None);

        let start = observer.step_bar("start").unwrap();
        assert_eq!((start.position(), start.length()), (1, Some(1)));
        assert_eq!(start.message(), "");
        let train = observer.step_bar("train").unwrap();
        assert_eq!((train.position(), train.length()), (2, Some(4)));
        assert_eq!(train.message(), "1 running, 1 failed");
        assert_eq!(train.prefix(), "train");
        let total = &observer.display.as_ref().unwrap().total;
        assert_eq!((total.position(), total.length()), (3, Some(5)));
        assert_eq!(total.message(), "(1 failed)");
    }

    #[test]
    fn a_step_name_cannot_move_the_cursor_and_wide_graphs_are_capped() {
        let observer = TerminalObserver::with_target(false, Some(ProgressDrawTarget::hidden()));
        observer.task_queued(&key("evil\u{1b}[2J", "0"));
        assert_eq!(
            observer.step_bar("evil\u{1b}[2J").unwrap().prefix(),
            "evil\\u{1b}[2J"
        );
        for i in 0..MAX_STEP_BARS + 2 {
            observer.task_queued(&key(&format!("s{i}"), "0"));
        }
        assert!(
            observer
                .step_bar(&format!("s{}", MAX_STEP_BARS - 2))
                .is_some()
        );
        assert!(observer.step_bar(&format!("s{}", MAX_STEP_BARS)).is_none());
        let total = &observer.display.as_ref().unwrap().total;
        assert_eq!(total.message(), "(3 more steps not shown)");
    }

    #[test]
    fn without_a_terminal_there_is_no_display() {
        let observer = TerminalObserver::with_target(false, None);
        observer.task_queued(&key("start", "0"));
        assert!(observer.step_bar("start").is_none());
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        let shown: Vec<String> = [0, 999, 1_000, 1_994, 1_234_567].map(thousands).to_vec();
        assert_eq!(shown, ["0", "999", "1,000", "1,994", "1,234,567"]);
    }
}
