//! Failure semantics: retries, @catch, resume, Ctrl-C and limits. Kills,
//! damaged stores and what is read back from them are in `faults.rs`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Scratch, cache_dir, guest};

fn scene() -> Scratch {
    let scratch = Scratch::new();
    std::fs::copy(guest("resilient"), scratch.path().join("resilient.wasm")).unwrap();
    scratch
}

fn record(scratch: &Scratch, run: &str, step: &str, task: &str) -> serde_json::Value {
    scratch.task_record("ResilientFlow", run, step, task)
}

#[test]
fn a_retried_step_records_every_attempt() {
    let scratch = scene();
    let ran = scratch
        .mfw(["run", "resilient.wasm", "--flaky_failures", "1"])
        .ok();
    let run = ran.run_id();
    let flaky = record(&scratch, &run, "flaky", "0");
    let attempts = flaky["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], "failed");
    assert!(
        attempts[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("flaky failure on attempt 0")
    );
    assert_eq!(attempts[1]["status"], "succeeded");
    assert!(
        flaky["artifacts"]
            .as_object()
            .unwrap()
            .contains_key("attempts_needed")
    );
    assert_eq!(
        scratch.dump(&format!("ResilientFlow/{run}/flaky/0"))["artifacts"]["attempts_needed"],
        1
    );
}

#[test]
fn retries_run_out_and_the_run_fails_with_every_attempt_recorded() {
    let scratch = scene();
    let ran = scratch
        .mfw(["run", "resilient.wasm", "--flaky_failures", "5"])
        .failed();
    assert!(
        ran.stderr
            .contains("flaky/0: step `flaky` failed: Flaky: flaky failure on attempt 2"),
        "{}",
        ran.stderr
    );
    let flaky = record(&scratch, &ran.run_id(), "flaky", "0");
    assert_eq!(flaky["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(flaky["status"], "failed");
}

#[test]
fn catch_stores_the_failure_and_the_flow_continues() {
    let scratch = scene();
    let ran = scratch
        .mfw(["run", "resilient.wasm", "--mode", "catch"])
        .ok();
    let run = ran.run_id();
    let end = scratch.dump(&format!("ResilientFlow/{run}/end/0"));
    let oops = &end["artifacts"]["oops"];
    // The step's error, as Metaflow's wrapper gives it: its kind and message.
    assert_eq!(oops["type"], "RiskyFailure", "{oops}");
    assert_eq!(oops["message"], "risky failed", "{oops}");
    assert!(end["artifacts"].get("risky_ok").is_none());
    assert_eq!(record(&scratch, &run, "risky", "0")["status"], "succeeded");
}

#[test]
fn resume_reuses_successful_tasks_and_reruns_from_the_failed_step() {
    let scratch = scene();
    let failing = Command::new(env!("CARGO_BIN_EXE_mfw"))
        .args(["run", "--allow-grants", "resilient.wasm"])
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", cache_dir())
        .env("MFW_TEST_FAIL_JOIN", "1")
        .output()
        .unwrap();
    assert!(!failing.status.success());
    let origin = scratch.latest_run("ResilientFlow");
    let resumed = scratch.mfw(["resume", "resilient.wasm"]).ok();
    assert!(
        resumed.stderr.contains("(reused 21, ran 4)"),
        "start and the 20 work tasks are cloned: {}",
        resumed.stderr
    );
    let run = resumed.run_id();
    let work = record(&scratch, &run, "work", "7");
    assert_eq!(work["cloned_from"], origin.as_str());
    assert_eq!(
        work["artifacts"],
        record(&scratch, &origin, "work", "7")["artifacts"],
        "cloned tasks share their values by hash"
    );
    assert!(
        record(&scratch, &run, "join", "0")
            .get("cloned_from")
            .is_none()
    );
    let end = scratch.dump(&format!("ResilientFlow/{run}/end/0"));
    assert_eq!(end["artifacts"]["total"], 3 * (0..20).sum::<u64>());
    let run_record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            scratch
                .path()
                .join(format!(".mfw/flows/ResilientFlow/runs/{run}/run.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(run_record["origin_run_id"], origin.as_str());
    assert_eq!(run_record["tasks_reused"], 21);
    // `mfw runs` shows it: 25 tasks, 21 of them reused.
    let runs = scratch.mfw(["runs", "ResilientFlow"]).ok();
    let line = runs.stdout.lines().find(|l| l.contains(&run)).unwrap();
    // (The run has no tags: its counts end the line.)
    let columns: Vec<&str> = line.split_whitespace().collect();
    // TASKS REUSED CACHED
    assert_eq!(
        columns[columns.len() - 3..],
        ["25", "21", "0"],
        "{}",
        runs.stdout
    );
}

#[test]
fn resume_from_a_chosen_step_reruns_it_and_what_follows() {
    let scratch = scene();
    let first = scratch.mfw(["run", "resilient.wasm"]).ok();
    let origin = first.run_id();
    let nothing = scratch.mfw(["resume", "resilient.wasm", &origin]).failed();
    assert!(
        nothing.stderr.contains("there is nothing to resume"),
        "{}",
        nothing.stderr
    );
    let resumed = scratch
        .mfw(["resume", "resilient.wasm", &origin, "--from-step", "flaky"])
        .ok();
    assert!(
        resumed.stderr.contains("(reused 22, ran 3)"),
        "{}",
        resumed.stderr
    );
}

#[test]
fn ctrl_c_interrupts_running_tasks_and_marks_the_run() {
    ctrl_c_interrupts("loop");
}

#[test]
fn ctrl_c_interrupts_a_sleeping_task() {
    ctrl_c_interrupts("sleep");
}

/// Ctrl-C while the attacker's step runs `mode` stops the run at once.
fn ctrl_c_interrupts(mode: &str) {
    let scratch = Scratch::new();
    std::fs::copy(guest("attacker"), scratch.path().join("attacker.wasm")).unwrap();
    for dir in ["data", "out"] {
        std::fs::create_dir_all(scratch.path().join(dir)).unwrap();
    }
    let child = Command::new(env!("CARGO_BIN_EXE_mfw"))
        .args(["run", "--allow-grants", "attacker.wasm", "--mode", mode])
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", cache_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the looping task runs, then press Ctrl-C.
    let started = Instant::now();
    while latest_runs(scratch.path()).is_empty() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_millis(1500),
        "stopped before the 2 s timeout"
    );
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    let runs = scratch.mfw(["runs", "AttackFlow"]).ok();
    assert!(runs.stdout.contains("interrupted"), "{}", runs.stdout);
}

fn latest_runs(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join(".mfw/flows/AttackFlow/runs"))
        .map(|e| e.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn the_default_timeout_comes_from_the_config_file() {
    let scratch = Scratch::new();
    let config = scratch.write("config.toml", "[defaults]\ntimeout_seconds = 0.5\n");
    let output = Command::new(env!("CARGO_BIN_EXE_mfw"))
        .arg("run")
        .arg(guest("faulty"))
        .args(["--mode", "spin"])
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", cache_dir())
        .env("MFW_CONFIG", &config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("fail/0: step `fail` timed out after 0.5 s"),
        "{stderr}"
    );
}

#[test]
fn fuel_is_a_deterministic_limit() {
    let scratch = Scratch::new();
    let args = |fuel: &str| {
        vec![
            "run".to_string(),
            guest("faulty").display().to_string(),
            "--mode".to_string(),
            "spin".to_string(),
            "--fuel".to_string(),
            fuel.to_string(),
        ]
    };
    let ran = scratch.mfw(args("5000000")).failed();
    assert!(
        ran.stderr
            .contains("fail/0: step `fail` ran out of fuel (5000000 units)"),
        "{}",
        ran.stderr
    );
    // start did far less work than the limit and finished.
    let run = ran.run_id();
    assert_eq!(
        scratch.dump(&format!("FaultyFlow/{run}/start/0"))["status"],
        "succeeded"
    );
}

/// Every task's key in `run`, by `step/task`.
fn task_keys(scratch: &Scratch, run: &str) -> std::collections::BTreeMap<String, String> {
    let tasks = scratch
        .path()
        .join(format!(".mfw/flows/ResilientFlow/runs/{run}/tasks"));
    let mut keys = std::collections::BTreeMap::new();
    for step in std::fs::read_dir(tasks).unwrap().flatten() {
        for record in common::step_records(&step.path()) {
            let task = format!("{}/{}", record["step"], record["task_id"]).replace('"', "");
            let key = record["task_key"].as_str().expect("a task key").to_string();
            keys.insert(task, key);
        }
    }
    keys
}

#[test]
fn the_same_flow_with_the_same_inputs_gets_the_same_task_keys() {
    let scratch = scene();
    let first = scratch
        .mfw(["run", "resilient.wasm", "--n", "3"])
        .ok()
        .run_id();
    let second = scratch
        .mfw(["run", "resilient.wasm", "--n", "3"])
        .ok()
        .run_id();
    let (a, b) = (task_keys(&scratch, &first), task_keys(&scratch, &second));
    assert_eq!(a.len(), 8, "{a:?}");
    assert_eq!(a, b, "two runs of the same flow and inputs");
    // Another parameter value changes every task's key (each sees it).
    let other = scratch
        .mfw(["run", "resilient.wasm", "--n", "4"])
        .ok()
        .run_id();
    let c = task_keys(&scratch, &other);
    for (task, key) in &a {
        assert_ne!(Some(key), c.get(task), "{task} kept its key with --n 4");
    }
}
