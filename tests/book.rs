//! The book (docs/, built by `scripts/docs`) builds with every link
//! resolving, and what its pages show running is what mfw prints.
//!
//! A page marks what the test runs with the info string of its code blocks:
//! `file=PATH` writes the block to PATH in the page's scratch directory,
//! `sh,run` runs the block's lines there with `mfw` on the PATH, and a
//! `text,output` block right after says what they print. The shown lines
//! must appear in that order in what ran (other lines, such as cargo's, may
//! come between), once run ids, durations and the scratch directory are
//! normalised. A run id in a command stands for the last run the page made.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cache_dir, repo, wheel_cache};

/// Where the pages' examples say the checkout is, and where a user's home
/// directory is: both stand for real paths when they run.
const SHOWN_CHECKOUT: &str = "/path/to/mfw";
const SHOWN_HOME: &str = "/home/you";

/// One fenced code block of a page.
struct Block {
    info: Vec<String>,
    text: String,
    line: usize,
}

impl Block {
    fn has(&self, tag: &str) -> bool {
        self.info.iter().any(|t| t == tag)
    }

    fn file(&self) -> Option<&str> {
        self.info.iter().find_map(|t| t.strip_prefix("file="))
    }
}

/// The fenced code blocks of a Markdown page, in order.
fn blocks(page: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<Block> = None;
    for (number, line) in page.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.split(',').map(|t| t.trim().to_string()).collect(),
                    text: String::new(),
                    line: number + 1,
                })
            }
            (Some(_), Some("")) => found.extend(open.take()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    found
}

/// What varies from run to run, made the same on both sides.
fn normalise(text: &str, scratch: &Path) -> Vec<String> {
    let scratch = scratch.display().to_string();
    text.lines()
        .map(|line| {
            let line = line.replace(&scratch, SHOWN_HOME);
            let mut out = String::new();
            for word in line.split(' ') {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&normalise_word(word));
            }
            out.trim_end().to_string()
        })
        .filter(|line| !line.is_empty())
        .collect()
}

/// A run id becomes `<run>` and a duration (`0.04`) `<t>`, wherever in the
/// word; a version (`0.25.1`) stays.
fn normalise_word(word: &str) -> String {
    let mut out = String::new();
    let mut number = String::new();
    let flush = |number: &mut String, out: &mut String| {
        let dots = number.matches('.').count();
        if number.len() >= 13 && dots == 0 {
            out.push_str("<run>");
        } else if dots == 1 && !number.ends_with('.') {
            out.push_str("<t>");
        } else {
            out.push_str(number);
        }
        number.clear();
    };
    for c in word.chars() {
        if c.is_ascii_digit() || (c == '.' && !number.is_empty()) {
            number.push(c);
        } else {
            flush(&mut number, &mut out);
            out.push(c);
        }
    }
    flush(&mut number, &mut out);
    out
}

/// Runs a page's blocks in a scratch directory of its own; panics naming
/// the page and line of the first block whose output differs.
fn run_page(page: &Path) {
    let text = std::fs::read_to_string(page).expect("the page reads");
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let dir = scratch
        .path()
        .canonicalize()
        .expect("the scratch directory");
    let mfw_dir = Path::new(env!("CARGO_BIN_EXE_mfw"))
        .parent()
        .expect("mfw's directory")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(mfw_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("a PATH");
    let checkout = repo().display().to_string();
    let blocks = blocks(&text);
    let mut last_run: Option<String> = None;
    let mut i = 0;
    while i < blocks.len() {
        let block = &blocks[i];
        let place = format!("{}:{}", page.display(), block.line);
        if let Some(file) = block.file() {
            let target = dir.join(file);
            std::fs::create_dir_all(target.parent().expect("a parent")).expect("a directory");
            std::fs::write(&target, block.text.replace(SHOWN_CHECKOUT, &checkout))
                .expect("the file is written");
        }
        if block.has("run") {
            // One stream, in the order things were printed.
            let mut script = String::from("set -e\nexec 2>&1\n");
            for line in block.text.lines() {
                let line = match &last_run {
                    Some(run) => replace_run_ids(line, run),
                    None => line.to_string(),
                };
                script.push_str(&line);
                script.push('\n');
            }
            let output = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(&dir)
                .env("PATH", &path)
                .env("MFW_CACHE_DIR", cache_dir())
                .env("MFW_WHEEL_CACHE", wheel_cache())
                .env_remove("MFW_DATASTORE")
                // The SDK as `pip install guest-sdks/python` would give it.
                .env("PYTHONPATH", repo().join("guest-sdks/python/src"))
                .env("PYTHONDONTWRITEBYTECODE", "1")
                // One build of the Rust SDK for every run of the pages.
                .env("CARGO_TARGET_DIR", cache_dir().join("book-cargo"))
                // The module proxy is reachable here, its checksum database
                // may not be; the pages' modules pin nothing of their own.
                .env("GOSUMDB", "off")
                .output()
                .expect("bash runs");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                output.status.success(),
                "{place}: the block failed:\n{script}\n{printed}"
            );
            if let Some(run) = printed
                .lines()
                .filter_map(|l| l.split_once(" run ").map(|(_, rest)| rest))
                .filter_map(|rest| rest.strip_suffix(" started"))
                .next_back()
            {
                last_run = Some(run.to_string());
            }
            if let Some(shown) = blocks.get(i + 1).filter(|b| b.has("output")) {
                let shown_lines = normalise(&shown.text, &dir);
                let printed_lines = normalise(&printed, &dir);
                let mut rest = printed_lines.iter();
                for line in &shown_lines {
                    assert!(
                        rest.any(|p| p == line),
                        "{place}: the page shows `{line}`, which the commands did not print \
                         (in that order):\n{}",
                        printed_lines.join("\n")
                    );
                }
                i += 1;
            }
        }
        i += 1;
    }
}

/// `line` with every run id (a number of 13 digits or more) made `run`.
fn replace_run_ids(line: &str, run: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in line.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 13 {
            out.push_str(run);
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// Every page of the book that runs something.
fn runnable_pages() -> Vec<PathBuf> {
    let mut pages = Vec::new();
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("docs/ reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md")
                && blocks(&std::fs::read_to_string(&path).expect("a page"))
                    .iter()
                    .any(|b| b.has("run"))
            {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

#[test]
fn what_the_pages_show_running_is_what_mfw_prints() {
    let pages = runnable_pages();
    for quickstart in ["python.md", "rust.md", "go.md"] {
        assert!(
            pages
                .iter()
                .any(|p| p.ends_with(Path::new("quickstart").join(quickstart))),
            "the {quickstart} quickstart runs nothing"
        );
    }
    for page in &pages {
        run_page(page);
    }
}

#[test]
fn the_book_builds_and_every_link_in_it_resolves() {
    let output = Command::new("bash")
        .arg(repo().join("scripts/docs"))
        .current_dir(repo())
        .output()
        .expect("scripts/docs runs");
    assert!(
        output.status.success(),
        "scripts/docs failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let book = repo().join("target/book");
    for page in ["index.html", "quickstart/python.html", "reference/cli.html"] {
        assert!(book.join(page).is_file(), "the book has no {page}");
    }
}

#[test]
fn the_normalisation_keeps_what_matters() {
    let dir = Path::new("/tmp/x");
    assert_eq!(
        normalise(
            "mfw: HelloFlow/1796195441035730 succeeded: 2 tasks in 0.04 s\nmfw: building /tmp/x/hello.py with componentize-py 0.25.1",
            dir
        ),
        [
            "mfw: HelloFlow/<run> succeeded: 2 tasks in <t> s",
            "mfw: building /home/you/hello.py with componentize-py 0.25.1"
        ]
    );
    assert_eq!(normalise("x = 2", dir), ["x = 2"]);
    assert_eq!(
        replace_run_ids("mfw dump HelloFlow/1796195441035730/end", "42"),
        "mfw dump HelloFlow/42/end"
    );
}
