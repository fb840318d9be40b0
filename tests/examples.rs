//! The examples, run through the CLI as a user would, with their printed
//! output and stored artifacts checked.

mod common;

use common::{Scratch, example};
use serde_json::Value;

/// The artifacts of one task, from `mfw dump --json`.
fn artifacts(scratch: &Scratch, pathspec: &str) -> serde_json::Map<String, Value> {
    let dump = scratch.dump(pathspec);
    dump["artifacts"]
        .as_object()
        .unwrap_or_else(|| panic!("no artifacts in {dump}"))
        .clone()
}

#[test]
fn hello_prints_and_stores_x_equal_2() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("hello").as_os_str()])
        .ok();
    assert!(
        ran.stdout
            .contains("end/0: Hello world! The value of x is 2"),
        "{}",
        ran.stdout
    );
    let run = ran.run_id();
    assert_eq!(
        artifacts(&scratch, &format!("HelloFlow/{run}/start/0"))["x"],
        1
    );
    assert_eq!(
        artifacts(&scratch, &format!("HelloFlow/{run}/end/0"))["x"],
        2
    );
    let logs = scratch
        .mfw(["logs", &format!("HelloFlow/{run}/end/0")])
        .ok();
    assert_eq!(logs.stdout, "Hello world! The value of x is 2\n");
    let runs = scratch.mfw(["runs"]).ok();
    let line = runs
        .stdout
        .lines()
        .find(|l| l.contains(&run))
        .expect("the run is listed");
    assert!(
        line.contains("HelloFlow") && line.contains("succeeded"),
        "{line}"
    );
}

#[test]
fn train_keeps_the_lowest_rmse() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("train").as_os_str()])
        .ok();
    let run = ran.run_id();
    let dump = scratch.dump(&format!("TrainFlow/{run}"));
    let tasks = dump["tasks"].as_array().expect("tasks");
    let rmses: Vec<f64> = tasks
        .iter()
        .filter(|t| t["step"] == "train")
        .map(|t| t["artifacts"]["rmse"].as_f64().expect("rmse is a float"))
        .collect();
    assert_eq!(rmses.len(), 3, "one train task per n_trees");
    let n_trees: Vec<u64> = tasks
        .iter()
        .filter(|t| t["step"] == "train")
        .map(|t| {
            t["artifacts"]["model"]["stumps"]
                .as_array()
                .map_or(0, |s| s.len() as u64)
        })
        .collect();
    assert_eq!(n_trees, [16, 32, 64]);
    let best = rmses.iter().copied().fold(f64::INFINITY, f64::min);
    let end = artifacts(&scratch, &format!("TrainFlow/{run}/end/0"));
    assert_eq!(end["best_rmse"].as_f64(), Some(best));
}

#[test]
fn wide_sums_to_9900_for_100_items() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("wide").as_os_str()])
        .ok();
    let run = ran.run_id();
    assert_eq!(
        artifacts(&scratch, &format!("WideFlow/{run}/end/0"))["total"],
        9900
    );
    // 100 tasks of `double`, each with its own index as input.
    let dump = scratch.dump(&format!("WideFlow/{run}/double"));
    let tasks = dump["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 100);
    assert_eq!(tasks[7]["task_id"], "7");
    assert_eq!(tasks[7]["artifacts"]["y"], 14);
}

#[test]
fn wide_takes_n_from_the_command_line() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw([
            "run".as_ref(),
            example("wide").as_os_str(),
            "--n".as_ref(),
            "7".as_ref(),
        ])
        .ok();
    let run = ran.run_id();
    assert_eq!(
        artifacts(&scratch, &format!("WideFlow/{run}/end/0"))["total"],
        42
    );
    let dump = scratch.dump(&format!("WideFlow/{run}"));
    assert_eq!(dump["parameters"]["n"], 7);
}

#[test]
fn max_workers_after_the_flow_sizes_the_engine_too() {
    // More workers than cores, given after the flow path, and tasks that
    // overlap (each sleeps): every worker needs an instance slot, and the
    // engine is made before the flow's parameters are read.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) + 4;
    let scratch = Scratch::new();
    let flow = scratch.write(
        "overlap/flow.py",
        "\
from mfw import FlowSpec, step


class OverlapFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(12))
        self.next(self.nap, foreach='items')

    @step
    def nap(self):
        import time
        time.sleep(0.5)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.count = len(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass
",
    );
    let ran = scratch
        .mfw([
            "run".as_ref(),
            flow.as_os_str(),
            "--max-workers".as_ref(),
            workers.to_string().as_ref(),
        ])
        .ok();
    let run = ran.run_id();
    assert_eq!(
        artifacts(&scratch, &format!("OverlapFlow/{run}/join/0"))["count"],
        12
    );
}

#[test]
fn branch_joins_both_branches_and_merges_the_rest() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("branch").as_os_str()])
        .ok();
    assert!(
        ran.stdout.contains("end/0: hello: total = 3"),
        "{}",
        ran.stdout
    );
    let run = ran.run_id();
    let end = artifacts(&scratch, &format!("BranchFlow/{run}/end/0"));
    assert_eq!(end["total"], 3);
    assert_eq!(end["from_a"], "set in a");
    assert_eq!(end["from_b"], "set in b");
    assert_eq!(end["greeting"], "hello");
    assert!(
        !end.contains_key("x"),
        "x differs between branches and was excluded"
    );
}

#[test]
fn nested_foreach_collects_every_pair_in_order() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("nested").as_os_str()])
        .ok();
    let run = ran.run_id();
    let end = artifacts(&scratch, &format!("NestedFlow/{run}/end/0"));
    assert_eq!(
        end["all"],
        serde_json::json!(["a1", "a2", "b1", "b2", "c1", "c2"])
    );
    let pair = artifacts(&scratch, &format!("NestedFlow/{run}/pair/2.1"));
    assert_eq!(pair["pair"], "c2");
    assert_eq!(pair["depth"], 2);
}

#[test]
fn a_step_inherits_its_predecessors_artifacts_by_hash() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), example("branch").as_os_str()])
        .ok();
    let run = ran.run_id();
    let start = scratch.task_record("BranchFlow", &run, "start", "0");
    let a = scratch.task_record("BranchFlow", &run, "a", "0");
    let end = scratch.task_record("BranchFlow", &run, "end", "0");
    let hash = &start["artifacts"]["greeting"];
    assert!(hash.is_string());
    assert_eq!(&a["artifacts"]["greeting"], hash);
    assert_eq!(&end["artifacts"]["greeting"], hash);
    assert_eq!(a["parents"], serde_json::json!(["start/0"]));
}

#[test]
fn running_twice_stores_no_new_blobs() {
    let scratch = Scratch::new();
    scratch
        .mfw(["run".as_ref(), example("hello").as_os_str()])
        .ok();
    let blobs = scratch.files("blobs").len();
    let components = scratch.files("components").len();
    assert!(blobs > 0);
    scratch
        .mfw(["run".as_ref(), example("hello").as_os_str()])
        .ok();
    assert_eq!(
        scratch.files("blobs").len(),
        blobs,
        "identical values are stored once"
    );
    assert_eq!(scratch.files("components").len(), components);
    assert_eq!(
        scratch
            .mfw(["runs"])
            .ok()
            .stdout
            .matches("HelloFlow")
            .count(),
        2
    );
}

#[test]
fn a_task_costs_at_most_three_files_and_a_step_one_cache_segment() {
    let scratch = Scratch::new();
    let wide = example("wide");
    let run_wide = || {
        scratch.mfw([
            "run".as_ref(),
            wide.as_os_str(),
            "--n".as_ref(),
            "50".as_ref(),
        ])
    };
    run_wide().ok();
    let tasks = scratch
        .files("flows")
        .iter()
        .filter(|p| {
            p.parent().is_some_and(|d| {
                d.ends_with("tasks") || d.parent().is_some_and(|g| g.ends_with("tasks"))
            })
        })
        .count();
    assert_eq!(tasks, 53);
    // A second run takes every task from the cache and writes their
    // records as one pack per step.
    let again = run_wide().ok();
    assert!(
        again.stderr.contains("(cached 53, ran 0)"),
        "{}",
        again.stderr
    );
    let packed = scratch.files(&format!("flows/WideFlow/runs/{}/tasks", again.run_id()));
    let mut names: Vec<String> = packed
        .iter()
        .map(|p| {
            let step = p.parent().and_then(|d| d.file_name()).unwrap();
            let name = p.file_name().unwrap().to_string_lossy();
            format!(
                "{}/{}",
                step.to_string_lossy(),
                name.split('-').next().unwrap()
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["double/50", "end/1", "join/1", "start/1"],
        "{packed:?}"
    );
    assert!(
        packed
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "pack"))
    );
    assert_eq!(
        scratch.task_record("WideFlow", &again.run_id(), "double", "49")["cached"],
        true
    );
    // The cache remembers every task that ran, a step's tasks together:
    // a segment per step each time the run writes them (every 2 s).
    let segments = scratch.files("cache");
    let entries: usize = segments
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a cache segment");
            let segment: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            segment["entries"].as_array().expect("entries").len()
        })
        .sum();
    assert_eq!(entries, tasks);
    assert!(segments.len() * 5 < tasks, "{} cache files", segments.len());
    let total = scratch.files("").len() - segments.len();
    assert!(total <= 3 * tasks, "{total} files for {tasks} tasks");
}

#[test]
fn a_second_run_does_not_rebuild_or_recompile() {
    let scratch = Scratch::new();
    scratch
        .mfw(["run".as_ref(), example("hello").as_os_str()])
        .ok();
    let again = scratch
        .mfw(["run".as_ref(), example("hello").as_os_str()])
        .ok();
    assert!(!again.stderr.contains("Compiling"), "{}", again.stderr);
    assert!(!again.stderr.contains("mfw: compiling"), "{}", again.stderr);
    assert!(
        !again.stderr.contains("Finished"),
        "cargo was not even invoked: {}",
        again.stderr
    );
}

#[test]
fn show_prints_steps_with_their_decorators() {
    let scratch = Scratch::new();
    let shown = scratch
        .mfw(["show".as_ref(), example("train").as_os_str()])
        .ok();
    assert!(shown.stdout.contains("TrainFlow"), "{}", shown.stdout);
    assert!(
        shown
            .stdout
            .contains("start            foreach over n_trees -> train"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("@retry(times=2)"), "{}", shown.stdout);
    assert!(
        shown
            .stdout
            .contains("join             join of start -> end"),
        "{}",
        shown.stdout
    );
    let shown = scratch
        .mfw(["show".as_ref(), example("wide").as_os_str()])
        .ok();
    assert!(shown.stdout.contains("--n"), "{}", shown.stdout);
    assert!(shown.stdout.contains("default 100"), "{}", shown.stdout);
    let checked = scratch
        .mfw(["check".as_ref(), example("wide").as_os_str()])
        .ok();
    assert_eq!(checked.stdout, "WideFlow: the graph is valid (4 steps)\n");
}

#[test]
fn run_help_lists_the_flows_own_parameters() {
    let scratch = Scratch::new();
    // Before the flow's parameters, as Metaflow's `run --help`, and among them.
    for args in [
        vec![
            "run".as_ref(),
            example("wide").as_os_str(),
            "--help".as_ref(),
        ],
        vec![
            "run".as_ref(),
            example("wide").as_os_str(),
            "--n".as_ref(),
            "3".as_ref(),
            "--help".as_ref(),
        ],
    ] {
        let helped = scratch.mfw(args).ok();
        assert!(
            helped.stdout.contains("Usage: mfw run"),
            "{}",
            helped.stdout
        );
        assert!(
            helped.stdout.contains("Parameters of WideFlow:"),
            "{}",
            helped.stdout
        );
        assert!(helped.stdout.contains("--n "), "{}", helped.stdout);
        assert!(helped.stdout.contains("default 100"), "{}", helped.stdout);
    }
    // Asking for help runs nothing: the datastore holds no file.
    let stored = scratch.files("");
    assert!(stored.is_empty(), "a run was stored: {stored:?}");
    let plain = scratch.mfw(["run", "--help"]).ok();
    assert!(plain.stdout.contains("Usage: mfw run"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("Parameters of"), "{}", plain.stdout);
}
