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
//! A shown `mfw: building ...` line may be missing: the tests keep built
//! components between runs (the scratch directories sit at fixed paths), and
//! mfw says nothing when it reuses one.
//!
//! The scratch directory stands for the reader's home: `file=~/...` writes
//! there, mfw's configuration is read from its `.config/mfw`, and a `cd`
//! in one block holds for the next, as in the reader's shell. A page with a
//! block tagged `k8s` runs against the test cluster (a control plane, a
//! node agent and MinIO), as a reader's would against theirs.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use cluster::Cluster;
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

/// How mfw's line announcing a build begins.
const BUILD_LINE: &str = "mfw: building ";

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
/// the page and line of the first block whose output differs. A page that
/// needs the cluster is skipped (saying so) where there is none; CI has one.
fn run_page(page: &Path) {
    let started = std::time::Instant::now();
    run_blocks(page);
    // Which pages cost CI its time (shown with --nocapture).
    eprintln!("{}: ran in {:.1?}", page.display(), started.elapsed());
}

fn run_blocks(page: &Path) {
    let blocks = page_blocks(page);
    let cluster = if blocks.iter().any(|b| b.has("k8s")) {
        match Cluster::start() {
            Some(cluster) => Some(cluster),
            None => {
                eprintln!("skipping {}: it needs a cluster", page.display());
                return;
            }
        }
    } else {
        None
    };
    // The reader's configuration is the page's own, not this machine's.
    let cluster_env: Vec<(&str, String)> = cluster
        .as_ref()
        .map(|c| c.env())
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| *key != "MFW_CONFIG")
        .collect();
    let dir = scratch_dir(page);
    // Where the last block's shell ended up, for the next block.
    let state = tempfile::tempdir().expect("a state directory");
    let cwd_file = state.path().join("cwd");
    let mut cwd = dir.clone();
    let mfw_dir = Path::new(env!("CARGO_BIN_EXE_mfw"))
        .parent()
        .expect("mfw's directory")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(mfw_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("a PATH");
    let checkout = repo().display().to_string();
    let mut last_run: Option<String> = None;
    let mut i = 0;
    while i < blocks.len() {
        let block = &blocks[i];
        let place = format!("{}:{}", page.display(), block.line);
        if let Some(file) = block.file() {
            // `~/x` is in the reader's home; other paths are where they are.
            let target = match file.strip_prefix("~/") {
                Some(in_home) => dir.join(in_home),
                None => cwd.join(file),
            };
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
                script.push_str(&line.replace(SHOWN_CHECKOUT, &checkout));
                script.push('\n');
            }
            script.push_str("pwd > \"$MFW_BOOK_CWD\"\n");
            let output = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(&cwd)
                .envs(cluster_env.iter().map(|(k, v)| (k, v)))
                .env("MFW_BOOK_CWD", &cwd_file)
                .env("XDG_CONFIG_HOME", dir.join(".config"))
                .env_remove("MFW_CONFIG")
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
            let ended_in = std::fs::read_to_string(&cwd_file).expect("the block's last directory");
            cwd = PathBuf::from(ended_in.trim_end());
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
                    // A flow built by an earlier run of the tests is not
                    // built again, as for a reader running a page twice.
                    if line.starts_with(BUILD_LINE) {
                        let mut ahead = rest.clone();
                        if ahead.any(|p| p == line) {
                            rest = ahead;
                        }
                        continue;
                    }
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

/// The page's scratch directory, emptied: at the same path on every run
/// (beside the tests' build cache), because a flow's component is reused
/// only where the flow's path is unchanged, and a new directory each run
/// made CI build every page's flows again.
fn scratch_dir(page: &Path) -> PathBuf {
    let name = page
        .strip_prefix(repo().join("docs"))
        .unwrap_or(page)
        .with_extension("")
        .to_string_lossy()
        .replace(['/', '\\'], "-");
    let dir = cache_dir().join("book-scratch").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("the last run's scratch directory is removed");
    }
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir.canonicalize().expect("the scratch directory")
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

/// Every page of the book (its Markdown sources under docs/), sorted.
fn pages() -> Vec<PathBuf> {
    let mut pages = Vec::new();
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("docs/ reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// A page's code blocks.
fn page_blocks(page: &Path) -> Vec<Block> {
    blocks(&std::fs::read_to_string(page).expect("a page"))
}

/// Every page of the book that runs something.
fn runnable_pages() -> Vec<PathBuf> {
    pages()
        .into_iter()
        .filter(|page| page_blocks(page).iter().any(|b| b.has("run")))
        .collect()
}

/// Whether a page is one of the tutorials (`docs/tutorials/`).
fn is_tutorial(page: &Path) -> bool {
    page.starts_with(repo().join("docs/tutorials"))
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
    for page in pages.iter().filter(|p| !is_tutorial(p)) {
        run_page(page);
    }
}

/// Every tutorial flow, run by its page: each directory of
/// `examples/tutorials` is run by a tutorial page.
#[test]
fn every_tutorial_runs_as_its_page_shows() {
    let tutorials: Vec<PathBuf> = runnable_pages()
        .into_iter()
        .filter(|p| is_tutorial(p))
        .collect();
    let commands: String = tutorials
        .iter()
        .flat_map(|p| page_blocks(p))
        .filter(|b| b.has("run"))
        .map(|b| b.text)
        .collect();
    let mut dirs: Vec<String> = std::fs::read_dir(repo().join("examples/tutorials"))
        .expect("examples/tutorials reads")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 9, "only these tutorials: {dirs:?}");
    for dir in &dirs {
        assert!(
            commands.contains(&format!("{dir}/")),
            "no tutorial page runs examples/tutorials/{dir}"
        );
    }
    for page in &tutorials {
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

/// A Rust block's code as rustdoc and mdBook read it: a line `# x` is
/// compiled but not shown, so a page shows the lines that matter and the
/// test still compiles a whole crate.
fn rust_source(block: &Block) -> String {
    block
        .text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(hidden) => hidden,
            None if line == "#" => "",
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Rust snippets are doctests: every `rust` block of the book, unless
/// marked `ignore`, is a crate's `lib.rs` against the Rust SDK, and checks
/// for the flows' target.
#[test]
fn every_rust_snippet_of_the_book_compiles() {
    let snippets: Vec<(String, Block)> = pages()
        .iter()
        .flat_map(|page| {
            page_blocks(page)
                .into_iter()
                .filter(|b| b.has("rust") && !b.has("ignore"))
                .map(move |b| (format!("{}:{}", page.display(), b.line), b))
        })
        .collect();
    assert!(snippets.len() >= 5, "only {} Rust snippets", snippets.len());
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let sdk = repo().join("guest-sdks/rust/mfw");
    let mut members = Vec::new();
    for (i, (_, block)) in snippets.iter().enumerate() {
        let name = format!("snippet-{i}");
        let dir = scratch.path().join(&name);
        std::fs::create_dir_all(dir.join("src")).expect("a crate directory");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nmfw = {{ path = {:?} }}\n",
                sdk.display().to_string()
            ),
        )
        .expect("Cargo.toml");
        std::fs::write(
            dir.join("src/lib.rs"),
            format!("#![allow(dead_code, unused)]\n{}\n", rust_source(block)),
        )
        .expect("lib.rs");
        members.push(format!("{name:?}"));
    }
    std::fs::write(
        scratch.path().join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )
    .expect("the workspace");
    // The SDK's own lock, so the snippets build with what it is tested with.
    std::fs::copy(
        repo().join("guest-sdks/rust/Cargo.lock"),
        scratch.path().join("Cargo.lock"),
    )
    .expect("the SDK's Cargo.lock");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "check",
            "--quiet",
            "--workspace",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(scratch.path())
        .env("CARGO_TARGET_DIR", cache_dir().join("book-cargo"))
        .output()
        .expect("cargo runs");
    let errors = String::from_utf8_lossy(&output.stderr);
    // Name each failing snippet by its page and line.
    let failing: Vec<&str> = snippets
        .iter()
        .enumerate()
        .filter(|(i, _)| errors.contains(&format!("snippet-{i}/src/lib.rs")))
        .map(|(_, (place, _))| place.as_str())
        .collect();
    assert!(
        output.status.success(),
        "these Rust snippets do not compile: {failing:?}\n{errors}"
    );
}
