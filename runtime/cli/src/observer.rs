//! What `mfw run` shows while a flow runs: every line a task prints,
//! prefixed with `step/task`, and on a terminal a progress line.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mfw_host::OutputStream;
use mfw_orchestrator::{RunObserver, TaskKey};

/// Prints task output and progress.
pub struct TerminalObserver {
    bar: Option<ProgressBar>,
    queued: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    // Keeps lines from different tasks whole.
    lock: Mutex<()>,
    quiet: bool,
}

impl TerminalObserver {
    /// A progress bar when stderr is a terminal, plain lines otherwise.
    pub fn new(quiet: bool) -> Self {
        let bar = (std::io::stderr().is_terminal() && !quiet).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} tasks {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            bar,
            queued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            lock: Mutex::new(()),
            quiet,
        }
    }

    fn say(&self, stream: OutputStream, text: &str) {
        let _guard = self.lock.lock();
        match &self.bar {
            Some(bar) => bar.suspend(|| print_line(stream, text)),
            None => print_line(stream, text),
        }
    }

    /// Removes the progress line before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn print_line(stream: OutputStream, text: &str) {
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
        self.say(
            OutputStream::Stderr,
            &format!("mfw: {flow} run {run_id} started"),
        );
    }

    fn task_queued(&self, _task: &TaskKey) {
        let total = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    fn task_output(&self, task: &TaskKey, stream: OutputStream, line: &str) {
        if !self.quiet {
            self.say(stream, &format!("{task}: {line}"));
        }
    }

    fn task_finished(&self, task: &TaskKey, failure: Option<&str>) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(why) = failure {
            let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(bar) = &self.bar {
                bar.set_message(format!("({failed} failed)"));
            }
            self.say(OutputStream::Stderr, &format!("{task}: task failed: {why}"));
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}
