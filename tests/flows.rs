//! Flows that read other flows: Metaflow's client inside a step, answered
//! by the host and recorded with the task, so the cache and replay stay
//! sound while the other flow's runs change.

mod common;

use common::{Scratch, guest, repo};
use serde_json::Value;

const TRAIN: &str = "\
from mfw import FlowSpec, Parameter, step


class UpFlow(FlowSpec):
    w = Parameter('w', default=1)

    @step
    def start(self):
        self.model = {'w': self.w}
        self.next(self.end)

    @step
    def end(self):
        pass
";

const PREDICT: &str = "\
from mfw import Flow, FlowSpec, MfwError, step


class PredictFlow(FlowSpec):
    @step
    def start(self):
        run = Flow('UpFlow').latest_successful_run
        self.model_run = run.id
        self.prediction = run.data.model['w'] * 10
        self.steps = [s.id for s in run.steps()]
        try:
            Flow('NoSuchFlow')
        except MfwError as e:
            self.missing = str(e)
        self.next(self.end)

    @step
    def end(self):
        print('prediction', self.prediction, 'from run', self.model_run)
";

fn start_record(scratch: &Scratch, run: &str) -> Value {
    scratch.task_record("PredictFlow", run, "start", "0")
}

#[test]
fn a_step_reads_the_latest_run_of_another_flow_and_is_recorded_with_it() {
    let scratch = Scratch::new();
    let train = scratch.write("train/flow.py", TRAIN);
    let predict = scratch.write("predict/flow.py", PREDICT);
    let up1 = scratch
        .mfw(["run".as_ref(), train.as_os_str()])
        .ok()
        .run_id();

    let first = scratch.mfw(["run".as_ref(), predict.as_os_str()]).ok();
    assert!(
        first
            .stdout
            .contains(&format!("prediction 10 from run {up1}")),
        "{}",
        first.stdout
    );
    let p1 = first.run_id();
    let start = start_record(&scratch, &p1);
    let reads = start["runs_read"].as_object().expect("the reads recorded");
    for question in [
        "default-namespace".to_string(),
        "run-ids UpFlow".to_string(),
        format!("run UpFlow/{up1}"),
        format!("tasks UpFlow/{up1}/end"),
        "run-ids NoSuchFlow".to_string(),
    ] {
        assert!(reads.contains_key(&question), "{question}: {reads:?}");
    }
    // Each answer is stored with the task's values.
    for hash in reads.values().filter_map(Value::as_str) {
        let blob = scratch
            .path()
            .join(format!(".mfw/blobs/{}/{hash}", &hash[..2]));
        assert!(blob.exists(), "answer {hash} is stored");
    }
    let dump = scratch.dump(&format!("PredictFlow/{p1}/start/0"));
    let text = dump.to_string();
    assert!(text.contains("NoSuchFlow has no runs"), "{text}");

    // Nothing upstream changed: the whole run comes from the cache.
    let again = scratch.mfw(["run".as_ref(), predict.as_os_str()]).ok();
    assert!(
        again.stderr.contains("(cached 2, ran 0)"),
        "{}",
        again.stderr
    );

    // A newer successful upstream run: the reading step runs again, and
    // uses it.
    let up2 = scratch
        .mfw([
            "run".as_ref(),
            train.as_os_str(),
            "--w".as_ref(),
            "2".as_ref(),
        ])
        .ok()
        .run_id();
    let third = scratch.mfw(["run".as_ref(), predict.as_os_str()]).ok();
    assert!(
        third
            .stdout
            .contains(&format!("prediction 20 from run {up2}")),
        "{}",
        third.stdout
    );
    assert!(!third.stderr.contains("cached 2"), "{}", third.stderr);
    // What the step was shown is in its task key: the same for the cached
    // run, another once it read the newer upstream run.
    let key = |run: &str| start_record(&scratch, run)["task_key"].clone();
    assert!(key(&p1).is_string());
    assert_eq!(key(&again.run_id()), key(&p1));
    assert_ne!(key(&third.run_id()), key(&p1));

    // Replaying the first run's task gives it what it read then, although
    // a newer upstream run exists now.
    let replayed = scratch.mfw(["replay", "--json", &format!("PredictFlow/{p1}")]);
    assert_eq!(replayed.code, 0, "{}\n{}", replayed.stdout, replayed.stderr);
    let verdicts: Vec<Value> = serde_json::from_str(&replayed.stdout).unwrap();
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    for task in &verdicts {
        assert_eq!(task["verdict"], "identical", "{task}");
    }
}

#[test]
fn a_rust_step_reads_another_flows_run_and_nothing_it_was_not_shown() {
    let scratch = Scratch::new();
    let train = scratch.write("train/flow.py", TRAIN);
    let up = scratch
        .mfw([
            "run".as_ref(),
            train.as_os_str(),
            "--w".as_ref(),
            "3".as_ref(),
        ])
        .ok()
        .run_id();
    std::fs::copy(guest("reader"), scratch.path().join("reader.wasm")).unwrap();
    let ran = scratch.mfw(["run", "reader.wasm"]).ok();
    assert!(ran.stdout.contains("w is 3"), "{}", ran.stdout);
    let start = scratch.dump(&format!("ReaderFlow/{}/start/0", ran.run_id()));
    let text = start.to_string();
    for (name, value) in [
        ("model_run", up.as_str()),
        ("unshown", "not found"),
        ("escape", "invalid name"),
    ] {
        assert!(
            text.contains(&format!("\"{name}\"")) && text.contains(value),
            "{name} = {value}: {text}"
        );
    }
    assert_eq!(start["artifacts"]["triggered"], false, "{text}");
}

const GO_READER: &str = r#"package main

import (
	"fmt"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("GoReaderFlow").
	Step("start", start, mfw.Next("end")).
	Step("end", end)

func start(ctx *mfw.Context) error {
	up, err := mfw.ReadFlow("UpFlow")
	if err != nil {
		return err
	}
	run, err := up.LatestSuccessfulRun()
	if err != nil {
		return err
	}
	var model map[string]int64
	if err := run.Get("end", "model", &model); err != nil {
		return err
	}
	var w int64
	if err := run.Parameter("w", &w); err != nil {
		return err
	}
	if err := ctx.Set("model_run", run.ID); err != nil {
		return err
	}
	trigger, err := mfw.CurrentTrigger()
	if err != nil {
		return err
	}
	if err := ctx.Set("triggered", trigger != nil); err != nil {
		return err
	}
	if err := ctx.Set("w", model["w"]*100+w); err != nil {
		return err
	}
	return ctx.Next("end")
}

func end(ctx *mfw.Context) error {
	var w int64
	if err := ctx.Get("w", &w); err != nil {
		return err
	}
	fmt.Println("go read", w)
	return nil
}

func init() { mfw.Export(flow) }

func main() {}
"#;

#[test]
fn a_go_step_reads_another_flows_run() {
    let scratch = Scratch::new();
    let train = scratch.write("train/flow.py", TRAIN);
    let up = scratch
        .mfw([
            "run".as_ref(),
            train.as_os_str(),
            "--w".as_ref(),
            "4".as_ref(),
        ])
        .ok()
        .run_id();
    let sdk = repo().join("guest-sdks/go");
    let hello = repo().join("examples/hello/go");
    let module = std::fs::read_to_string(hello.join("go.mod"))
        .unwrap()
        .replace("example.com/hello", "example.com/reader")
        .replace("../../../guest-sdks/go", &sdk.display().to_string());
    scratch.write("reader/go.mod", &module);
    scratch.write(
        "reader/go.sum",
        &std::fs::read_to_string(hello.join("go.sum")).unwrap(),
    );
    let main = scratch.write("reader/main.go", GO_READER);
    let dir = main.parent().unwrap();
    let ran = scratch.mfw(["run".as_ref(), dir.as_os_str()]).ok();
    assert!(ran.stdout.contains("go read 404"), "{}", ran.stdout);
    let start = scratch.dump(&format!("GoReaderFlow/{}/start/0", ran.run_id()));
    assert_eq!(start["artifacts"]["model_run"], up.as_str(), "{start}");
    assert_eq!(start["artifacts"]["triggered"], false, "{start}");
}

const SERVE: &str = "\
from mfw import FlowSpec, current, step, trigger_on_finish


@trigger_on_finish(flow='UpFlow')
class ServeFlow(FlowSpec):
    @step
    def start(self):
        run = current.trigger.run
        self.model_run = run.id
        self.w = run.data.model['w']
        self.next(self.end)

    @step
    def end(self):
        print('serving the model of run', self.model_run, 'w', self.w)
";

const REFRESH: &str = "\
from mfw import Config, FlowSpec, Parameter, current, step, trigger


@trigger(event='data_updated')
class RefreshFlow(FlowSpec):
    alpha = Parameter('alpha', default=1)
    settings = Config('settings', default_value={'label': 'default'})

    @step
    def start(self):
        event = current.trigger.event
        self.seen = [event.name, event.payload.get('source'), self.alpha, self.settings.label]
        self.next(self.end)

    @step
    def end(self):
        print('refreshed', *self.seen)
";

/// The trigger recorded in the newest run of `flow`.
fn trigger_of(scratch: &Scratch, flow: &str) -> Value {
    let run = scratch.latest_run(flow);
    let path = scratch
        .path()
        .join(format!(".mfw/flows/{flow}/runs/{run}/run.json"));
    let record: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    record["trigger"].clone()
}

#[test]
fn deployed_flows_start_when_a_run_succeeds_or_an_event_is_sent() {
    let scratch = Scratch::new();
    let train = scratch.write("train/flow.py", TRAIN);
    let serve = scratch.write("serve/flow.py", SERVE);
    let refresh = scratch.write("refresh/flow.py", REFRESH);
    let deployed = scratch.mfw(["deploy".as_ref(), serve.as_os_str()]).ok();
    assert!(
        deployed.stderr.contains("deployed ServeFlow (package "),
        "{}",
        deployed.stderr
    );
    // Deployed with a Config given as Metaflow's `--config-value` gives
    // it: the package is built with it.
    scratch
        .mfw([
            "deploy".as_ref(),
            "--config-value".as_ref(),
            "settings".as_ref(),
            r#"{"label": "deployed"}"#.as_ref(),
            refresh.as_os_str(),
        ])
        .ok();
    let listed = scratch.mfw(["deployments"]).ok().stdout;
    assert!(
        listed.contains("ServeFlow") && listed.contains("when a run of UpFlow succeeds"),
        "{listed}"
    );
    assert!(listed.contains("on event data_updated"), "{listed}");

    // A successful UpFlow run starts ServeFlow, which reads that run.
    let up = scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    let up_id = up.run_id();
    assert!(
        up.stderr
            .contains(&format!("run UpFlow/{up_id} starts ServeFlow")),
        "{}",
        up.stderr
    );
    assert!(
        up.stdout
            .contains(&format!("serving the model of run {up_id} w 1")),
        "{}",
        up.stdout
    );
    assert_eq!(
        trigger_of(&scratch, "ServeFlow"),
        serde_json::json!({"type": "run", "flow": "UpFlow", "run_id": up_id})
    );

    // An event starts RefreshFlow; its payload sets the parameter it names.
    let sent = scratch
        .mfw([
            "event",
            "send",
            "data_updated",
            "--payload",
            r#"{"alpha": 7, "source": "s3"}"#,
        ])
        .ok();
    assert!(
        sent.stdout.contains("refreshed data_updated s3 7 deployed"),
        "{}\n{}",
        sent.stdout,
        sent.stderr
    );
    assert_eq!(trigger_of(&scratch, "RefreshFlow")["name"], "data_updated");

    // Undeployed, ServeFlow no longer starts; an event nobody listens for
    // says so.
    scratch.mfw(["undeploy", "ServeFlow"]).ok();
    let again = scratch.mfw(["run".as_ref(), train.as_os_str()]).ok();
    assert!(
        !again.stderr.contains("starts ServeFlow"),
        "{}",
        again.stderr
    );
    let nobody = scratch.mfw(["event", "send", "nobody_listens"]).ok();
    assert!(
        nobody
            .stderr
            .contains("no deployed flow listens for event nobody_listens"),
        "{}",
        nobody.stderr
    );
    scratch.mfw(["undeploy", "ServeFlow"]).failed();
}
