//! `mfw replay`: past tasks run again from their records, in the sandbox
//! they ran in, and compared with what was stored.

mod common;

use std::path::PathBuf;

use common::{Ran, Scratch, example, python_example, repo};
use serde_json::Value;

/// The flow and run a `mfw run` started (`mfw: Flow run ID started`).
fn started(ran: &Ran) -> (String, String) {
    let flow = ran
        .stderr
        .lines()
        .find_map(|l| {
            let started = l.strip_prefix("mfw: ")?.strip_suffix(" started")?;
            Some(started.split_once(" run ")?.0)
        })
        .unwrap_or_else(|| panic!("no flow in:\n{}", ran.stderr))
        .to_string();
    (flow, ran.run_id())
}

/// `mfw replay --json pathspec`: what it said, and each task's verdict.
fn replay(scratch: &Scratch, pathspec: &str) -> (Ran, Vec<Value>) {
    let ran = scratch.mfw(["replay", "--json", pathspec]);
    let tasks = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("{e}:\n{}\n{}", ran.stdout, ran.stderr));
    (ran, tasks)
}

/// Every task of the run replays identically, and they are all there.
fn assert_replays_identically(scratch: &Scratch, flow: &str, run: &str) {
    let (ran, tasks) = replay(scratch, &format!("{flow}/{run}"));
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let recorded = scratch.dump(&format!("{flow}/{run}"))["tasks"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(recorded > 0, "{flow}/{run} has no tasks");
    assert_eq!(tasks.len(), recorded, "{flow}: {tasks:?}");
    for task in &tasks {
        assert_eq!(task["verdict"], "identical", "{flow}: {task}");
    }
}

/// Runs each flow (its directory and arguments) in one scratch store and
/// replays every task of each run.
fn run_and_replay(flows: &[(PathBuf, Vec<&str>)]) {
    let scratch = Scratch::new();
    for (dir, args) in flows {
        let mut command = vec!["run".to_string(), dir.display().to_string()];
        command.extend(args.iter().map(|a| a.to_string()));
        let ran = scratch.mfw(&command).ok();
        let (flow, run) = started(&ran);
        assert_replays_identically(&scratch, &flow, &run);
    }
}

fn go_example(name: &str) -> PathBuf {
    repo().join("examples").join(name).join("go")
}

#[test]
fn every_task_of_the_rust_examples_replays_identically() {
    run_and_replay(&[
        (example("hello"), vec![]),
        (example("branch"), vec![]),
        (example("nested"), vec![]),
        (example("train"), vec![]),
        (example("wide"), vec!["--n", "12"]),
    ]);
}

#[test]
fn every_task_of_the_python_examples_replays_identically() {
    run_and_replay(&[
        (python_example("hello"), vec![]),
        (python_example("branch"), vec![]),
        (python_example("params"), vec!["--label", "demo"]),
        (python_example("wide"), vec!["--n", "12"]),
    ]);
}

#[test]
fn every_task_of_the_go_and_polyglot_examples_replays_identically() {
    run_and_replay(&[
        (go_example("hello"), vec![]),
        (go_example("branch"), vec![]),
        (go_example("train"), vec![]),
        (go_example("wide"), vec!["--n", "12"]),
        (repo().join("examples/polyglot"), vec![]),
    ]);
}

#[test]
fn tasks_a_rerun_took_from_the_cache_replay_as_the_run_that_computed_them() {
    let scratch = Scratch::new();
    let train = example("train");
    scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    let second = scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    assert!(second.stderr.contains("cached 6"), "{}", second.stderr);
    let (flow, run) = started(&second);
    assert_replays_identically(&scratch, &flow, &run);
}

#[test]
fn one_task_replays_and_prints_identical() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("hello").as_os_str()])
        .ok();
    let run = ran.run_id();
    let pathspec = format!("HelloFlow/{run}/end/0");
    let replayed = scratch.mfw(["replay", &pathspec]).ok();
    assert!(
        replayed
            .stdout
            .lines()
            .any(|l| l.starts_with(&pathspec) && l.ends_with("identical")),
        "{}",
        replayed.stdout
    );
    assert!(
        replayed
            .stdout
            .contains("1 task: 1 identical, 0 differ, 0 failed, 0 not replayable"),
        "{}",
        replayed.stdout
    );
    // Replay writes nothing: the run's records are as they were.
    let missing = scratch.mfw(["replay", &format!("HelloFlow/{run}/end/7")]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains(&format!("HelloFlow/{run}/end/7 is not a task of its run")),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_task_granted_the_real_clock_is_not_replayable_and_the_grant_is_named() {
    let scratch = Scratch::new();
    let flow = scratch.write(
        "clock/clock.py",
        "import time\n\
         from mfw import FlowSpec, step, grant\n\
         \n\
         class ClockFlow(FlowSpec):\n\
         \x20   @grant(clock=True)\n\
         \x20   @step\n\
         \x20   def start(self):\n\
         \x20       self.now = time.time()\n\
         \x20       self.next(self.end)\n\
         \n\
         \x20   @step\n\
         \x20   def end(self):\n\
         \x20       self.twice = 2\n",
    );
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    let run = ran.run_id();
    let (replayed, tasks) = replay(&scratch, &format!("ClockFlow/{run}"));
    // Not replayable is not a failure.
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert_eq!(tasks[0]["step"], "start");
    assert_eq!(tasks[0]["verdict"], "not_replayable");
    assert_eq!(
        tasks[0]["reason"],
        "it could see the outside world: granted the real clock"
    );
    assert_eq!(tasks[1]["step"], "end");
    assert_eq!(tasks[1]["verdict"], "identical");
}

#[test]
fn a_tampered_artifact_is_reported_with_both_hashes() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("hello").as_os_str()])
        .ok();
    let run = ran.run_id();
    let tasks = scratch
        .path()
        .join(format!(".mfw/flows/HelloFlow/runs/{run}/tasks"));
    let end: Value =
        serde_json::from_str(&std::fs::read_to_string(tasks.join("end/0.json")).unwrap()).unwrap();
    let start_file = tasks.join("start/0.json");
    let mut start: Value =
        serde_json::from_str(&std::fs::read_to_string(&start_file).unwrap()).unwrap();
    let honest = start["artifacts"]["x"].as_str().unwrap().to_string();
    // The record now says `start` computed end's x (2), not 1.
    let forged = end["artifacts"]["x"].as_str().unwrap().to_string();
    assert_ne!(honest, forged);
    start["artifacts"]["x"] = Value::String(forged.clone());
    std::fs::write(&start_file, serde_json::to_vec(&start).unwrap()).unwrap();

    let pathspec = format!("HelloFlow/{run}/start/0");
    let replayed = scratch.mfw(["replay", &pathspec]);
    assert_eq!(replayed.code, 1, "{}", replayed.stdout);
    let out = &replayed.stdout;
    assert!(out.contains(&format!("{pathspec}  differs")), "{out}");
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("artifact `x`"))
        .unwrap_or_else(|| panic!("no row for x:\n{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2..], [forged.as_str(), honest.as_str()], "{row}");
    assert!(out.contains("1 task: 0 identical, 1 differ"), "{out}");
}
