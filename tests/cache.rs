//! Automatic caching: a task whose task key matches a task that already
//! succeeded is not run; its record is cloned, and the run says so.

mod common;

use common::{Scratch, example, guest};

fn record(scratch: &Scratch, flow: &str, run: &str, task: &str) -> serde_json::Value {
    let (step, id) = task.split_once('/').unwrap();
    scratch.task_record(flow, run, step, id)
}

#[test]
fn a_second_run_of_the_same_flow_runs_nothing_and_ends_the_same() {
    let scratch = Scratch::new();
    let train = example("train");
    let first = scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    assert!(!first.stderr.contains("cached"), "{}", first.stderr);
    let second = scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    assert!(
        second.stderr.contains("6 tasks (cached 6, ran 0)"),
        "{}",
        second.stderr
    );
    let (a, b) = (first.run_id(), second.run_id());
    for task in ["start/0", "train/2", "join/0", "end/0"] {
        let (old, new) = (
            record(&scratch, "TrainFlow", &a, task),
            record(&scratch, "TrainFlow", &b, task),
        );
        assert_eq!(old["artifacts"], new["artifacts"], "{task}");
        assert_eq!(new["cached"], true, "{task}");
        assert_eq!(new["cloned_from"], a.as_str(), "{task}");
        assert_eq!(old["task_key"], new["task_key"], "{task}");
    }
    let runs = scratch.mfw(["runs", "TrainFlow"]).ok().stdout;
    let line = runs.lines().find(|l| l.contains(&b)).unwrap();
    // The value right-aligned under each heading.
    let column = |heading: &str| {
        let end = runs.find(heading).unwrap() + heading.len();
        line[..end].split_whitespace().last().unwrap().to_string()
    };
    let counts = [column("TASKS"), column("REUSED"), column("CACHED")];
    assert_eq!(counts, ["6", "0", "6"], "{runs}");
    let dump = scratch
        .mfw(["dump", &format!("TrainFlow/{b}/join/0")])
        .ok()
        .stdout;
    assert!(dump.contains(&format!("cached from run {a}")), "{dump}");

    // --no-cache runs everything again, with the same results.
    let third = scratch
        .mfw(["run".as_ref(), train.as_os_str(), "--no-cache".as_ref()])
        .ok();
    assert!(!third.stderr.contains("cached"), "{}", third.stderr);
    let end = record(&scratch, "TrainFlow", &third.run_id(), "end/0");
    assert_eq!(end["cached"], serde_json::Value::Null);
    assert_eq!(
        end["artifacts"],
        record(&scratch, "TrainFlow", &a, "end/0")["artifacts"]
    );
}

#[test]
fn a_task_that_sees_the_outside_world_or_its_run_always_runs() {
    let scratch = Scratch::new();
    std::fs::copy(guest("resilient"), scratch.path().join("resilient.wasm")).unwrap();
    let first = scratch
        .mfw(["run", "resilient.wasm", "--n", "3"])
        .ok()
        .run_id();
    let again = scratch.mfw(["run", "resilient.wasm", "--n", "3"]).ok();
    let second = again.run_id();
    // `join` is granted an environment variable and `flaky` reads its
    // attempt number: both run again; the rest comes from the cache.
    assert!(
        again.stderr.contains("(cached 6, ran 2)"),
        "{}",
        again.stderr
    );
    for task in ["join/0", "flaky/0"] {
        let new = record(&scratch, "ResilientFlow", &second, task);
        assert_eq!(new["cloned_from"], serde_json::Value::Null, "{task}");
    }
    for task in ["start/0", "work/1", "risky/0", "end/0"] {
        let new = record(&scratch, "ResilientFlow", &second, task);
        assert_eq!(new["cloned_from"], first.as_str(), "{task}");
    }
    // Another parameter value: every task sees it, so every task runs.
    let other = scratch.mfw(["run", "resilient.wasm", "--n", "4"]).ok();
    assert!(!other.stderr.contains("cached"), "{}", other.stderr);
}

#[test]
fn a_missing_value_makes_the_cached_task_run_again() {
    let scratch = Scratch::new();
    let train = example("train");
    let first = scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    // The model of train/2 goes missing from the store.
    let model = record(&scratch, "TrainFlow", &first.run_id(), "train/2")["artifacts"]["model"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = scratch
        .path()
        .join(format!(".mfw/blobs/{}/{model}", &model[..2]));
    std::fs::remove_file(&blob).unwrap();
    let second = scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    assert!(
        second.stderr.contains("(cached 5, ran 1)"),
        "{}",
        second.stderr
    );
    assert!(blob.exists(), "the model is stored again");
}

const EDITED: &str = "\
from mfw import FlowSpec, step


class EditFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.a)

    @step
    def a(self):
        self.y = self.x + 1
        self.next(self.b)

    @step
    def b(self):
        self.z = self.y * 10
        self.next(self.end)

    @step
    def end(self):
        print('z is', self.z)
";

#[test]
fn editing_one_python_step_reruns_that_step_and_what_its_change_reaches() {
    let scratch = Scratch::new();
    let flow = scratch.write("edit/flow.py", EDITED);
    let run = |expect: &str| {
        let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
        assert!(ran.stderr.contains(expect), "{expect}: {}", ran.stderr);
        ran
    };
    run("succeeded: 4 tasks in");
    // b computes something else: b runs, and end, which reads it.
    scratch.write("edit/flow.py", &EDITED.replace("* 10", "* 100"));
    let edited = run("(cached 2, ran 2)");
    assert!(edited.stdout.contains("z is 200"), "{}", edited.stdout);
    // b's code changes but not what it computes: end is cached again.
    scratch.write(
        "edit/flow.py",
        &EDITED.replace("* 10\n", "* 100  # in percent\n"),
    );
    run("(cached 3, ran 1)");
    // Code every step shares (the module's imports and globals) reruns all.
    scratch.write(
        "edit/flow.py",
        &EDITED
            .replace("* 10\n", "* 100  # in percent\n")
            .replace("\n\nclass", "\nSCALE = 1\n\nclass"),
    );
    run("succeeded: 4 tasks in");
}

const PARAMETERS: &str = "\
from mfw import FlowSpec, Parameter, step


class ParamFlow(FlowSpec):
    alpha = Parameter('alpha', default=1)
    beta = Parameter('beta', default=2)

    @step
    def start(self):
        self.next(self.one)

    @step
    def one(self):
        self.x = self.alpha * 10
        self.next(self.two)

    @step
    def two(self):
        self.y = self.x + self.beta
        self.next(self.end)

    @step
    def end(self):
        print('y is', self.y)
";

#[test]
fn changing_a_parameter_reruns_the_tasks_that_read_it_and_what_they_reach() {
    let scratch = Scratch::new();
    let flow = scratch.write("params/flow.py", PARAMETERS);
    let run = |args: &[&str], expect: &str| {
        let mut all = vec!["run", flow.to_str().unwrap()];
        all.extend_from_slice(args);
        let ran = scratch.mfw(&all).ok();
        assert!(ran.stderr.contains(expect), "{expect}: {}", ran.stderr);
        ran
    };
    run(&[], "succeeded: 4 tasks in");
    // Only `two` reads beta; `end` reads what it computes.
    let beta = run(&["--beta", "3"], "(cached 2, ran 2)");
    assert!(beta.stdout.contains("y is 13"), "{}", beta.stdout);
    // The defaults given explicitly are the same values.
    run(&["--alpha", "1", "--beta", "2"], "(cached 4, ran 0)");
    // alpha reaches everything after `one`.
    let alpha = run(&["--alpha", "2"], "(cached 1, ran 3)");
    assert!(alpha.stdout.contains("y is 22"), "{}", alpha.stdout);
    // Back to beta 3: each earlier combination is still remembered.
    run(&["--beta", "3"], "(cached 4, ran 0)");
}
