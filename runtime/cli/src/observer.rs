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
    /// The run, once it started: `(flow, run id)`.
    started: Mutex<Option<(String, String)>>,
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
            started: Mutex::new(None),
        }
    }

    fn say(&self, stream: OutputStream, text: &str) {
        let _guard = self.lock.lock();
        match &self.bar {
            Some(bar) => bar.suspend(|| print_line(stream, text)),
            None => print_line(stream, text),
        }
    }

    /// The run's flow and id, once it started.
    pub fn run(&self) -> Option<(String, String)> {
        self.started.lock().ok().and_then(|run| run.clone())
    }

    /// Removes the progress line before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
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

    fn task_queued(&self, _task: &TaskKey) {
        let total = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
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
    fn control_characters_are_shown_escaped() {
        assert_eq!(for_terminal("plain\ttext"), "plain\ttext");
        assert_eq!(
            for_terminal("\u{1b}[2K\rmfw: HelloFlow/1 succeeded"),
            "\\u{1b}[2K\\rmfw: HelloFlow/1 succeeded"
        );
        assert_eq!(for_terminal("bell\u{7}"), "bell\\u{7}");
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        let shown: Vec<String> = [0, 999, 1_000, 1_994, 1_234_567].map(thousands).to_vec();
        assert_eq!(shown, ["0", "999", "1,000", "1,994", "1,234,567"]);
    }
}
