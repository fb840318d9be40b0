//! Damaged and interrupted stores: what `mfw runs`, `dump`, `resume` and
//! `doctor` do when a run is killed or interrupted at any moment, when
//! records are truncated, blobs corrupt or missing, or writers left staging
//! files behind. Nothing damaged may block what it does not feed, and
//! resume reuses every task that finished.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::minio::Minio;
use common::{Scratch, cache_dir, guest};

fn scene() -> Scratch {
    let scratch = Scratch::new();
    std::fs::copy(guest("resilient"), scratch.path().join("resilient.wasm")).unwrap();
    scratch
}

/// Runs the resilient flow over `n` items; returns the run id.
fn run(scratch: &Scratch, n: &str) -> String {
    scratch
        .mfw(["run", "resilient.wasm", "--n", n])
        .ok()
        .run_id()
}

fn run_dir(scratch: &Scratch, run: &str) -> PathBuf {
    scratch
        .path()
        .join(".mfw/flows/ResilientFlow/runs")
        .join(run)
}

/// Cuts a file to half its length, as a crash mid-write on a store without
/// atomic renames would.
fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

/// Writes `bytes` to `path`, last modified `seconds` ago: what a writer
/// killed that long ago left.
fn write_aged(path: &Path, bytes: &[u8], seconds: u64) {
    std::fs::write(path, bytes).unwrap();
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(seconds);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(then)
        .unwrap();
}

fn blob_file(scratch: &Scratch, hash: &str) -> PathBuf {
    scratch
        .path()
        .join(".mfw/blobs")
        .join(&hash[..2])
        .join(hash)
}

/// The tasks of the resilient flow over `n` items: start, `n` `work`,
/// join, flaky, risky and end.
fn tasks(n: usize) -> usize {
    n + 5
}

/// The `(reused N, ran M)` a resumed run of `tasks` tasks ends with:
/// (0, all) if it says nothing of reuse.
fn reuse_counts(stderr: &str, tasks: usize) -> (usize, usize) {
    let Some(start) = stderr.find("(reused ") else {
        return (0, tasks);
    };
    let text = &stderr[start + "(reused ".len()..];
    let end = text.find(')').expect("a closing parenthesis");
    let (reused, ran) = text[..end].split_once(", ran ").expect("reused N, ran M");
    let number = |s: &str| s.replace(',', "").parse::<usize>().unwrap();
    // Tasks the cache answered were not run either.
    let reused = match reused.split_once(", cached ") {
        Some((reused, cached)) => number(reused) + number(cached),
        None => number(reused),
    };
    (reused, number(ran))
}

/// Starts the resilient flow over `n` items on two workers, its output
/// discarded.
fn start_run(scratch: &Scratch, n: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mfw"))
        .args([
            "run",
            "--allow-grants",
            // Resume is what is tested: the reference run must not answer
            // these tasks from the cache.
            "--no-cache",
            "resilient.wasm",
            "--n",
            n,
            "--max-workers",
            "2",
        ])
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", cache_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// How many tasks of `run` have a record saying they succeeded.
fn succeeded(scratch: &Scratch, run: &str) -> usize {
    statuses(scratch, run)
        .iter()
        .filter(|s| *s == "succeeded")
        .count()
}

/// The statuses of every task record of `run` that can be read.
fn statuses(scratch: &Scratch, run: &str) -> Vec<String> {
    let tasks = run_dir(scratch, run).join("tasks");
    std::fs::read_dir(tasks)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|step| common::step_records(&step.path()))
        .map(|record| record["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every record under the datastore parses, and no staging file is left in
/// a recorded run. (A run killed while its first record was being written
/// has no `run.json`: nothing lists or resumes it, and its staging file is
/// all it left.)
fn assert_store_is_clean(store: &Path) {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let never_recorded = path.parent().is_some_and(|p| p.ends_with("runs"))
                && !path.join("run.json").exists();
            if path.is_dir() && never_recorded {
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&store.join("flows"), &mut files);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.contains('#'),
            "orphaned staging file {}",
            file.display()
        );
        let text = std::fs::read_to_string(&file).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{} is corrupt: {e}", file.display()));
    }
}

#[test]
fn resume_completes_a_run_killed_at_any_moment_reusing_what_finished() {
    let scratch = scene();
    // The reference: one uninterrupted run.
    let reference = scratch.mfw(["run", "resilient.wasm", "--n", "120"]).ok();
    let expected =
        scratch.dump(&format!("ResilientFlow/{}/end/0", reference.run_id()))["artifacts"].clone();
    // Kill points spread over the run, the same every time the test runs.
    let mut resumed_runs = 0;
    for (iteration, delay_ms) in [15u64, 60, 110, 170, 240, 320, 400, 520]
        .into_iter()
        .enumerate()
    {
        let before = scratch
            .mfw(["runs", "ResilientFlow"])
            .ok()
            .stdout
            .lines()
            .count();
        let mut child = start_run(&scratch, "120");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let after = scratch
            .mfw(["runs", "ResilientFlow"])
            .ok()
            .stdout
            .lines()
            .count();
        if after == before {
            continue; // killed before the run was even recorded
        }
        let killed = scratch.latest_run("ResilientFlow");
        let resumed = scratch.mfw(["resume", "--no-cache", "resilient.wasm", &killed]);
        if resumed.code != 0 && resumed.stderr.contains("there is nothing to resume") {
            continue; // the run finished before the kill
        }
        let resumed = resumed.ok();
        // Every task the killed run finished is reused.
        let finished = succeeded(&scratch, &killed);
        assert_eq!(
            reuse_counts(&resumed.stderr, tasks(120)),
            (finished, tasks(120) - finished),
            "iteration {iteration}: {}",
            resumed.stderr
        );
        let got =
            scratch.dump(&format!("ResilientFlow/{}/end/0", resumed.run_id()))["artifacts"].clone();
        assert_eq!(
            got, expected,
            "iteration {iteration} (killed after {delay_ms} ms)"
        );
        assert_store_is_clean(&scratch.path().join(".mfw"));
        resumed_runs += 1;
    }
    assert!(
        resumed_runs >= 3,
        "only {resumed_runs} kills landed mid-run"
    );
}

#[test]
fn ctrl_c_in_a_foreach_then_resume_reuses_every_finished_task() {
    let scratch = scene();
    // Long enough that Ctrl-C lands mid-foreach however loaded the machine.
    let reference = run(&scratch, "400");
    let expected = scratch.dump(&format!("ResilientFlow/{reference}/end/0"))["artifacts"].clone();
    let child = start_run(&scratch, "400");
    // Press Ctrl-C once some `work` tasks have finished, in the middle of
    // the foreach.
    let started = Instant::now();
    let interrupted = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(5));
        let Some(run) = runs_of(&scratch).into_iter().find(|r| *r != reference) else {
            continue;
        };
        if statuses(&scratch, &run).len() >= 10 {
            break run;
        }
    };
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "exits as interrupted");
    let finished = succeeded(&scratch, &interrupted);
    assert!(
        (10..tasks(400)).contains(&finished),
        "{finished} tasks finished before Ctrl-C"
    );
    let resumed = scratch
        .mfw(["resume", "--no-cache", "resilient.wasm", &interrupted])
        .ok();
    assert_eq!(
        reuse_counts(&resumed.stderr, tasks(400)),
        (finished, tasks(400) - finished),
        "{}",
        resumed.stderr
    );
    let got =
        scratch.dump(&format!("ResilientFlow/{}/end/0", resumed.run_id()))["artifacts"].clone();
    assert_eq!(got, expected);
    assert_store_is_clean(&scratch.path().join(".mfw"));
}

/// The ids of the flow's runs that have a directory.
fn runs_of(scratch: &Scratch) -> Vec<String> {
    std::fs::read_dir(scratch.path().join(".mfw/flows/ResilientFlow/runs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect()
}

#[test]
fn a_truncated_run_record_leaves_the_other_runs_listed_and_is_named() {
    let scratch = scene();
    let first = run(&scratch, "2");
    let second = run(&scratch, "2");
    truncate(&run_dir(&scratch, &first).join("run.json"));
    let runs = scratch.mfw(["runs"]).ok();
    assert!(runs.stdout.contains(&second), "{}", runs.stdout);
    assert!(!runs.stdout.contains(&first), "{}", runs.stdout);
    assert!(
        runs.stderr.contains(&format!(
            "left out flows/ResilientFlow/runs/{first}/run.json, which is damaged"
        )),
        "{}",
        runs.stderr
    );
    // Reading the damaged run names the object and where to look further.
    let dump = scratch
        .mfw(["dump", &format!("ResilientFlow/{first}")])
        .failed();
    assert!(
        dump.stderr.contains("is not a valid mfw record")
            && dump
                .stderr
                .contains("`mfw doctor` lists every damaged object"),
        "{}",
        dump.stderr
    );
}

#[test]
fn a_truncated_task_record_is_reported_by_dump_and_rerun_by_resume() {
    let scratch = scene();
    let first = run(&scratch, "3");
    truncate(&run_dir(&scratch, &first).join("tasks/work/1.json"));
    // The run's other tasks are still shown; the damaged one is named.
    let dump = scratch
        .mfw(["dump", &format!("ResilientFlow/{first}")])
        .ok();
    assert!(dump.stdout.contains("ResilientFlow"), "{}", dump.stdout);
    assert!(
        dump.stderr
            .contains(&format!("runs/{first}/tasks/work/1.json, which is damaged")),
        "{}",
        dump.stderr
    );
    // Resume runs the damaged task again and reuses the rest: its output
    // is what it was, so nothing after it has to run.
    let resumed = scratch.mfw(["resume", "resilient.wasm", &first]).ok();
    assert!(
        resumed.stderr.contains("(reused 7, ran 1)"),
        "{}",
        resumed.stderr
    );
    let end = scratch.dump(&format!("ResilientFlow/{}/end/0", resumed.run_id()));
    let original = scratch.dump(&format!("ResilientFlow/{first}/end/0"));
    assert_eq!(end["artifacts"], original["artifacts"]);
}

/// Runs the resilient flow; returns the run, and the hash and file of the
/// blob holding start's `items`.
fn run_and_find_items_blob(scratch: &Scratch) -> (String, String, std::path::PathBuf) {
    let run = scratch
        .mfw(["run", "resilient.wasm", "--n", "3"])
        .ok()
        .run_id();
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run_dir(scratch, &run).join("tasks/start/0.json")).unwrap(),
    )
    .unwrap();
    let hash = record["artifacts"]["items"].as_str().unwrap().to_string();
    let blob = blob_file(scratch, &hash);
    (run, hash, blob)
}

#[test]
fn a_corrupt_blob_is_named_never_read_as_a_value() {
    let scratch = scene();
    let (run, hash, blob) = run_and_find_items_blob(&scratch);
    std::fs::write(&blob, b"\x83\x01\x02\x09").unwrap();
    let dumped = scratch
        .mfw(["dump", &format!("ResilientFlow/{run}/start/0")])
        .failed();
    assert!(
        dumped.stderr.contains(&format!("blob {hash}")),
        "{}",
        dumped.stderr
    );
    assert!(dumped.stderr.contains("is corrupt"), "{}", dumped.stderr);
    // A resumed run that needs the value fails, naming the artifact.
    let resumed = scratch
        .mfw(["resume", "resilient.wasm", &run, "--from-step", "work"])
        .failed();
    assert!(
        resumed.stderr.contains("artifact `items`") || resumed.stderr.contains("`items`"),
        "{}",
        resumed.stderr
    );
    assert!(resumed.stderr.contains("is corrupt"), "{}", resumed.stderr);
}

#[test]
fn a_run_that_stores_a_corrupted_value_again_repairs_its_blob() {
    let scratch = scene();
    let (run, hash, blob) = run_and_find_items_blob(&scratch);
    // The attack: flip bytes, keeping the size, so only the content lies.
    let mut bytes = std::fs::read(&blob).unwrap();
    for b in bytes.iter_mut() {
        *b ^= 0x5a;
    }
    std::fs::write(&blob, &bytes).unwrap();
    // A new run computes the same value: it is stored again, not trusted.
    let second = scratch.mfw(["run", "resilient.wasm", "--n", "3"]).ok();
    for run in [run, second.run_id()] {
        let start = scratch.dump(&format!("ResilientFlow/{run}/start/0"));
        assert_eq!(start["artifacts"]["items"], serde_json::json!([0, 1, 2]));
    }
    assert_eq!(
        blake3::hash(&std::fs::read(&blob).unwrap())
            .to_hex()
            .to_string(),
        hash
    );
}

#[test]
fn a_missing_blob_makes_resume_run_what_needs_it_again() {
    let scratch = scene();
    let failed = scratch
        .mfw_env(
            ["run", "resilient.wasm", "--n", "3"],
            &[("MFW_TEST_FAIL_JOIN", "1".to_string())],
        )
        .failed()
        .run_id();
    // work/2's `y` (6) is lost: a disk error, a careless cleanup. (Not
    // work/1's: its 3 is also the value of the parameter `n`, which resume
    // needs.)
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run_dir(&scratch, &failed).join("tasks/work/2.json")).unwrap(),
    )
    .unwrap();
    let y = record["artifacts"]["y"].as_str().unwrap().to_string();
    std::fs::remove_file(blob_file(&scratch, &y)).unwrap();
    // The default resume runs work/2 again (its value is gone) beside the
    // failed join and what follows; every other task is reused.
    let resumed = scratch.mfw(["resume", "resilient.wasm", &failed]).ok();
    assert!(
        resumed.stderr.contains("(reused 3, ran 5)"),
        "{}",
        resumed.stderr
    );
    assert!(blob_file(&scratch, &y).exists(), "work/2 stored `y` again");
    let reference = run(&scratch, "3");
    assert_eq!(
        scratch.dump(&format!("ResilientFlow/{}/end/0", resumed.run_id()))["artifacts"],
        scratch.dump(&format!("ResilientFlow/{reference}/end/0"))["artifacts"]
    );
}

#[test]
fn doctor_lists_damage_with_what_it_affects_and_repair_sets_it_aside() {
    let scratch = scene();
    let first = run(&scratch, "3");
    let healthy = scratch.mfw(["doctor"]).ok();
    assert!(
        healthy.stdout.contains("nothing is damaged"),
        "{}",
        healthy.stdout
    );
    // A corrupt blob (start's items), a truncated task record and a
    // staging file a killed writer left.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run_dir(&scratch, &first).join("tasks/start/0.json")).unwrap(),
    )
    .unwrap();
    let items = record["artifacts"]["items"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(blob_file(&scratch, &items)).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(blob_file(&scratch, &items), &bytes).unwrap();
    truncate(&run_dir(&scratch, &first).join("tasks/work/2.json"));
    let staging = scratch.path().join(".mfw/blobs/ab/left#1");
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    write_aged(&staging, b"half", 3600);

    let found = scratch.mfw(["doctor"]).failed();
    let out = &found.stdout;
    assert!(
        out.contains(&format!("corrupt blob: blobs/{}/{items}", &items[..2])),
        "{out}"
    );
    assert!(
        out.contains(&format!("  affects ResilientFlow/{first}/start/0")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "damaged record: flows/ResilientFlow/runs/{first}/tasks/work/2.json"
        )),
        "{out}"
    );
    assert!(out.contains("staging file: blobs/ab/left#1"), "{out}");

    let repaired = scratch.mfw(["doctor", "--repair"]).ok();
    assert!(repaired.stdout.contains("repaired:"), "{}", repaired.stdout);
    assert!(!staging.exists());
    assert!(
        scratch
            .path()
            .join(".mfw/quarantine/blobs")
            .join(&items[..2])
            .join(&items)
            .exists()
    );
    let after = scratch.mfw(["doctor"]).ok();
    assert!(
        after.stdout.contains("nothing is damaged"),
        "{}",
        after.stdout
    );
    // The run had succeeded; the next resume still runs what the damage
    // fed, with no step named, and gets the clean result.
    let resumed = scratch.mfw(["resume", "resilient.wasm", &first]).ok();
    let reference = run(&scratch, "3");
    assert_eq!(
        scratch.dump(&format!("ResilientFlow/{}/end/0", resumed.run_id()))["artifacts"],
        scratch.dump(&format!("ResilientFlow/{reference}/end/0"))["artifacts"]
    );
}

#[test]
fn a_frozen_s3_endpoint_fails_the_run_within_the_bound_naming_it() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("frozen");
    let scratch = scene();
    let mut env = minio.env();
    env.push(("MFW_DATASTORE", "s3://frozen/store".to_string()));
    env.push(("MFW_STORE_TIMEOUT", "6".to_string()));
    // Reachable first: the run is recorded.
    scratch
        .mfw_env(["run", "resilient.wasm", "--n", "2"], &env)
        .ok();
    minio.freeze();
    let started = std::time::Instant::now();
    let frozen = scratch.mfw_env(["run", "resilient.wasm", "--n", "2"], &env);
    let elapsed = started.elapsed();
    minio.thaw();
    assert_ne!(frozen.code, 0, "{}", frozen.stdout);
    assert!(
        frozen.stderr.contains(&format!(
            "the store at {} did not answer within 6 s",
            minio.endpoint()
        )),
        "{}",
        frozen.stderr
    );
    // The bound holds with room for a busy machine; minutes would fail.
    assert!(
        elapsed < std::time::Duration::from_secs(20),
        "took {elapsed:?}"
    );
    // Thawed, the store works again.
    scratch.mfw_env(["runs"], &env).ok();
}

#[test]
fn a_second_ctrl_c_exits_at_once_while_the_first_waits_on_a_frozen_store() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("hanging");
    let scratch = scene();
    let mut env = minio.env();
    env.push(("MFW_DATASTORE", "s3://hanging/store".to_string()));
    // The first Ctrl-C's last writes wait this long on a frozen store.
    env.push(("MFW_STORE_TIMEOUT", "120".to_string()));
    let log = scratch.path().join("stderr.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mfw"));
    command
        .args(["run", "--no-cache", "resilient.wasm", "--n", "100000"])
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", cache_dir())
        .env("MFW_ALLOW_GRANTS", "true")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (key, value) in &env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    while !scratch.mfw_env(["runs"], &env).stdout.contains("running") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never showed as running"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    minio.freeze();
    let interrupt = |child: &std::process::Child| {
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
    };
    interrupt(&child);
    std::thread::sleep(Duration::from_secs(2));
    let first_still_waiting = child.try_wait().unwrap().is_none();
    interrupt(&child);
    let sent = Instant::now();
    let status = child.wait().unwrap();
    let waited = sent.elapsed();
    minio.thaw();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        first_still_waiting,
        "the first Ctrl-C should still be waiting on the frozen store: {stderr}"
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("exiting now"), "{stderr}");
    // At once, not after the store's 120 s bound.
    assert!(waited < Duration::from_secs(10), "took {waited:?}");
}

#[test]
fn a_run_whose_heartbeat_stopped_is_shown_stale_not_running() {
    let scratch = scene();
    let run_id = run(&scratch, "2");
    let dir = run_dir(&scratch, &run_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // As a killed process leaves it: running, last seen two minutes ago.
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    record["status"] = "running".into();
    record["started_at"] = (now - 180_000).into();
    record.as_object_mut().unwrap().remove("finished_at");
    std::fs::write(dir.join("run.json"), record.to_string()).unwrap();
    let beat = |at: u64| {
        std::fs::write(
            dir.join("heartbeat.json"),
            serde_json::json!({ "at": at }).to_string(),
        )
        .unwrap()
    };
    beat(now - 120_000);
    let runs = scratch.mfw(["runs"]).ok();
    let line = runs
        .stdout
        .lines()
        .find(|l| l.contains(&run_id))
        .unwrap()
        .to_string();
    assert!(line.contains(" stale "), "{line}");
    assert!(
        line.contains("1m0"),
        "the time it was last seen alive: {line}"
    );
    // Still beating: running.
    beat(now);
    let runs = scratch.mfw(["runs"]).ok();
    let line = runs.stdout.lines().find(|l| l.contains(&run_id)).unwrap();
    assert!(line.contains(" running "), "{line}");
}

#[test]
fn staging_files_killed_writers_left_are_swept_once_stale() {
    let scratch = scene();
    let first = run(&scratch, "2");
    let tasks = run_dir(&scratch, &first).join("tasks/start");
    let old = tasks.join("0.json#7");
    let fresh = tasks.join("0.json#8");
    write_aged(&old, b"half a record", 7200);
    std::fs::write(&fresh, b"a write in progress").unwrap();
    // The first run swept the store a moment ago: the next one does not
    // walk it again.
    run(&scratch, "2");
    assert!(old.exists(), "swept at most once an hour");
    // An hour later, a run sweeps the whole store.
    write_aged(&scratch.path().join(".mfw/.last-staging-sweep"), b"", 3700);
    run(&scratch, "2");
    assert!(!old.exists(), "a stale staging file is removed");
    assert!(fresh.exists(), "a recent one may be a write in progress");
}

/// Runs `mfw` with `args` in `scratch` and returns its peak resident
/// memory in bytes: wait4 reports this child's alone, however many tests
/// run beside it.
fn peak_memory(scratch: &Scratch, args: &[&str]) -> u64 {
    // Waited for by wait4 below, which std's Child cannot do.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_mfw"))
        .args(args)
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", cache_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain C structs, zeroed, filled in by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "mfw {args:?} failed"
    );
    u64::try_from(usage.ru_maxrss).unwrap() * 1024
}

#[test]
fn the_host_holds_one_copy_of_a_large_artifact_plus_a_buffer() {
    let scratch = Scratch::new();
    std::fs::copy(guest("big"), scratch.path().join("big.wasm")).unwrap();
    let run = |mib: &str| {
        peak_memory(
            &scratch,
            &["run", "big.wasm", "--mib", mib, "--memory", "1024"],
        )
    };
    let baseline = run("1");
    let peak = run("128");
    // The guest's own memory (one copy of the value in each step) is the
    // guest's: each task records how much it had. The host's is the rest:
    // one copy (what it is handed, what it reads) and some buffer. A second
    // copy while the guest holds one (as `to_vec` on the read path made)
    // would show.
    let run_id = scratch.latest_run("BigFlow");
    let dir = scratch
        .path()
        .join(".mfw/flows/BigFlow/runs")
        .join(&run_id)
        .join("tasks");
    let mut guest = 0;
    let end = scratch.dump(&format!("BigFlow/{run_id}/end/0"));
    assert_eq!(end["artifacts"]["len"], 128 << 20, "end read all of it");
    for step in ["start", "end"] {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(step).join("0.json")).unwrap()).unwrap();
        let had = record["attempts"][0]["memory_bytes"].as_u64().unwrap();
        assert!(had >= 128 << 20, "{step} held the value: {had}");
        guest = guest.max(had);
    }
    let value: u64 = 128 << 20;
    let host = peak.saturating_sub(guest).saturating_sub(baseline);
    assert!(
        host <= value + value / 4,
        "the host held {host} bytes of a {value}-byte value (peak {peak}, guest {guest}, \
         baseline {baseline})"
    );
}

#[test]
fn a_streamed_artifact_holds_a_few_chunks_in_the_process_whatever_its_size() {
    let scratch = Scratch::new();
    std::fs::copy(guest("big"), scratch.path().join("big.wasm")).unwrap();
    let run = |mib: &str| {
        peak_memory(
            &scratch,
            &[
                "run",
                "big.wasm",
                "--mib",
                mib,
                "--streamed",
                "--memory",
                "256",
            ],
        )
    };
    let baseline = run("1");
    let peak = run("512");
    let run_id = scratch.latest_run("BigFlow");
    let end = scratch.dump(&format!("BigFlow/{run_id}/end/0"));
    assert_eq!(end["artifacts"]["len"], 512 << 20, "end read all of it");
    assert_eq!(
        end["artifacts"]["sum"], end["artifacts"]["sum_read"],
        "end read what start wrote"
    );
    // Neither the guest (it writes and reads 1 MiB at a time) nor the
    // host (a few chunks in flight each way) holds the value: the whole
    // process grows by far less than it.
    let grew = peak.saturating_sub(baseline);
    assert!(
        grew <= 96 << 20,
        "the process grew by {grew} bytes for a {} byte value (peak {peak}, baseline {baseline})",
        512u64 << 20
    );
}

#[test]
fn a_step_that_fails_while_streaming_a_value_leaves_no_value() {
    let scratch = Scratch::new();
    std::fs::copy(guest("big"), scratch.path().join("big.wasm")).unwrap();
    let ran = scratch
        .mfw([
            "run",
            "big.wasm",
            "--mib",
            "64",
            "--streamed",
            "--fail-after-mib",
            "40",
        ])
        .failed();
    assert!(
        ran.stderr.contains("stopped after 41943040 bytes"),
        "{}",
        ran.stderr
    );
    // 40 MiB of chunks may be stored, but no manifest names them: no value
    // exists, and no record names one.
    assert!(
        scratch.files("chunked").is_empty(),
        "{:?}",
        scratch.files("chunked")
    );
    let run_id = scratch.latest_run("BigFlow");
    let start = scratch.dump(&format!("BigFlow/{run_id}/start/0"));
    assert_eq!(start["status"], "failed");
    assert!(start["artifacts"].get("blob").is_none(), "{start}");
    // Run again without the failure, the whole value is stored.
    scratch
        .mfw(["run", "big.wasm", "--mib", "64", "--streamed"])
        .ok();
    assert_eq!(scratch.files("chunked").len(), 1);
}
