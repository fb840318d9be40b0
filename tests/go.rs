//! Go flows and flows that mix Rust, Python and Go, through the CLI.

mod common;

use common::{Scratch, repo};

fn go_example(name: &str) -> std::path::PathBuf {
    repo().join("examples").join(name).join("go")
}

/// Runs `path` with `args` and returns the end task's artifacts.
fn end_artifacts(
    scratch: &Scratch,
    flow: &str,
    path: &std::path::Path,
    args: &[&str],
) -> serde_json::Value {
    let mut all = vec!["run".to_string(), path.display().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    let ran = scratch.mfw(&all).ok();
    let run = ran.run_id();
    scratch.dump(&format!("{flow}/{run}/end/0"))["artifacts"].clone()
}

#[test]
fn hello_go_prints_and_stores_x_equal_2() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), go_example("hello").as_os_str()])
        .ok();
    assert!(
        ran.stdout
            .contains("end/0: Hello world! The value of x is 2"),
        "{}",
        ran.stdout
    );
    let run = ran.run_id();
    assert_eq!(
        scratch.dump(&format!("HelloFlow/{run}/end/0"))["artifacts"]["x"],
        2
    );
    let shown = scratch
        .mfw(["show".as_ref(), go_example("hello").as_os_str()])
        .ok();
    assert!(shown.stdout.contains("mfw-go/"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("main.go:"),
        "steps are located in the source: {}",
        shown.stdout
    );
}

#[test]
fn wide_go_sums_to_9900_and_takes_n() {
    let scratch = Scratch::new();
    assert_eq!(
        end_artifacts(&scratch, "WideFlow", &go_example("wide"), &[])["total"],
        9900
    );
    assert_eq!(
        end_artifacts(&scratch, "WideFlow", &go_example("wide"), &["--n", "7"])["total"],
        42
    );
}

#[test]
fn branch_go_joins_and_merges() {
    let scratch = Scratch::new();
    let end = end_artifacts(&scratch, "BranchFlow", &go_example("branch"), &[]);
    assert_eq!(end["total"], 3);
    assert_eq!(end["from_a"], "set in a");
    assert_eq!(end["from_b"], "set in b");
    assert_eq!(end["greeting"], "hello");
    assert!(end.get("x").is_none());
}

#[test]
fn train_go_matches_the_python_and_rust_trainers_data() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), go_example("train").as_os_str()])
        .ok();
    let run = ran.run_id();
    let dump = scratch.dump(&format!("TrainFlow/{run}"));
    let rmses: Vec<f64> = dump["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == "train")
        .map(|t| t["artifacts"]["rmse"].as_f64().unwrap())
        .collect();
    assert_eq!(rmses.len(), 3);
    let best = rmses.iter().copied().fold(f64::INFINITY, f64::min);
    let end = scratch.dump(&format!("TrainFlow/{run}/end/0"));
    assert_eq!(end["artifacts"]["best_rmse"].as_f64(), Some(best));
}

#[test]
fn the_polyglot_flow_runs_python_rust_and_go_steps_together() {
    let scratch = Scratch::new();
    let flow = repo().join("examples/polyglot");
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    let run = ran.run_id();
    let dump = scratch.dump(&format!("PolyglotFlow/{run}"));
    let tasks = dump["tasks"].as_array().unwrap();
    let trained: Vec<(u64, f64)> = tasks
        .iter()
        .filter(|t| t["step"] == "train")
        .map(|t| {
            (
                t["artifacts"]["trained_n_trees"].as_u64().unwrap(),
                t["artifacts"]["rmse"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(trained.iter().map(|t| t.0).collect::<Vec<_>>(), [4, 16, 64]);
    let best = trained
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let end = scratch.dump(&format!("PolyglotFlow/{run}/end/0"));
    assert_eq!(end["artifacts"]["best_rmse"].as_f64(), Some(best.1));
    assert_eq!(end["artifacts"]["best_n_trees"].as_u64(), Some(best.0));
    assert!(
        ran.stdout
            .contains(&format!("end/0: best: {} trees", best.0)),
        "{}",
        ran.stdout
    );
    // The run records all three components, each with its SDK and steps.
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            scratch
                .path()
                .join(format!(".mfw/flows/PolyglotFlow/runs/{run}/run.json")),
        )
        .unwrap(),
    )
    .unwrap();
    let sdks: Vec<&str> = record["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sdk"].as_str().unwrap())
        .collect();
    assert_eq!(sdks.len(), 3);
    assert!(sdks.iter().any(|s| s.starts_with("mfw-python/")));
    assert!(sdks.iter().any(|s| s.starts_with("mfw-rust/")));
    assert!(sdks.iter().any(|s| s.starts_with("mfw-go/")));
    // Rust and Go steps know who started the run (its `user:` tag).
    let user = record["system_tags"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t.as_str().unwrap().strip_prefix("user:"))
        .expect("a user: tag")
        .to_string();
    assert_eq!(end["artifacts"]["joined_by"], user.as_str());
    let train = scratch.dump(&format!("PolyglotFlow/{run}/train/0"));
    assert_eq!(train["artifacts"]["trained_by"], user.as_str());
}

#[test]
fn a_component_built_against_another_contract_is_named_in_a_manifest() {
    let scratch = Scratch::new();
    let manifest = scratch.write(
        "mixed/mfw.toml",
        &format!(
            "[[component]]\npath = {:?}\n\n[[component]]\npath = {:?}\n",
            go_example("hello").display().to_string(),
            common::guest("future_contract").display().to_string()
        ),
    );
    let ran = scratch.mfw(["run".as_ref(), manifest.as_os_str()]).failed();
    assert!(
        ran.stderr.contains("future_contract.wasm was built against mfw:flow@0.2.0, but this mfw runs components built against mfw:flow@0.1.x"),
        "{}",
        ran.stderr
    );
}

/// A Go flow in `scratch/name` whose `main.go` is `main_go`, using the SDK
/// in this checkout (the hello example's module, with its path made
/// absolute).
fn go_flow(scratch: &Scratch, name: &str, main_go: &str) -> std::path::PathBuf {
    let go_mod = std::fs::read_to_string(go_example("hello").join("go.mod"))
        .unwrap()
        .replace(
            "../../../guest-sdks/go",
            &repo().join("guest-sdks/go").display().to_string(),
        );
    scratch.write(&format!("{name}/go.mod"), &go_mod);
    let dir = scratch.path().join(name);
    std::fs::copy(go_example("hello").join("go.sum"), dir.join("go.sum")).unwrap();
    scratch.write(&format!("{name}/main.go"), main_go);
    dir
}

#[test]
fn a_go_compile_error_is_reported() {
    let scratch = Scratch::new();
    let dir = go_flow(
        &scratch,
        "broken",
        "package main\n\nfunc main() { undefined() }\n",
    );
    let ran = scratch.mfw(["build".as_ref(), dir.as_os_str()]).failed();
    assert!(
        ran.stderr.contains("undefined: undefined"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("go build failed"), "{}", ran.stderr);
}

#[test]
fn a_go_panic_shows_its_message_and_stack_with_file_and_line() {
    let scratch = Scratch::new();
    let dir = go_flow(
        &scratch,
        "panics",
        "package main\n\
         \n\
         import \"mfw.dev/sdk\"\n\
         \n\
         var flow = mfw.NewFlow(\"PanicFlow\").\n\
         \tStep(\"start\", start, mfw.Next(\"end\")).\n\
         \tStep(\"end\", end)\n\
         \n\
         func start(ctx *mfw.Context) error { return ctx.Next(\"end\") }\n\
         \n\
         func end(ctx *mfw.Context) error {\n\
         \tdivide(0)\n\
         \treturn nil\n\
         }\n\
         \n\
         func divide(by int) { panic(\"boom: cannot divide\") }\n\
         \n\
         func init() { mfw.Export(flow) }\n\
         \n\
         func main() {}\n",
    );
    let ran = scratch.mfw(["run".as_ref(), dir.as_os_str()]).failed();
    // The console names the panic and, from its stack, where it happened.
    assert!(
        ran.stderr
            .contains("end/0: step `end` panicked: boom: cannot divide"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("main.divide("), "{}", ran.stderr);
    assert!(ran.stderr.contains("main.go:16"), "{}", ran.stderr);
    let run = ran.run_id();
    let logs = scratch
        .mfw(["logs", &format!("PanicFlow/{run}/end/0")])
        .ok();
    assert!(logs.stderr.contains("main.go:16") || logs.stdout.contains("main.go:16"));
}

/// A Go flow writing a 6 MiB byte string a piece at a time, and reading it
/// back both ways: a piece at a time and whole.
const STREAMS_GO: &str = r#"package main

import (
	"bytes"
	"io"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("StreamsFlow").
	Step("start", start, mfw.Next("end")).
	Step("end", end)

const size = 6<<20 + 3

func pattern() []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte((i * 2654435761) >> 13)
	}
	return b
}

func start(ctx *mfw.Context) error {
	w, err := ctx.WriteBytes("blob", size)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(pattern())); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	// Set whole, but large: handed to the host in pieces too.
	if err := ctx.Set("copy", pattern()); err != nil {
		return err
	}
	return ctx.Next("end")
}

func end(ctx *mfw.Context) error {
	r, err := ctx.ReadBytes("copy")
	if err != nil {
		return err
	}
	streamed, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var whole []byte
	if err := ctx.Get("blob", &whole); err != nil {
		return err
	}
	if err := ctx.Set("length", r.Len()); err != nil {
		return err
	}
	return ctx.Set("same", bytes.Equal(streamed, pattern()) && bytes.Equal(whole, pattern()))
}

func init() { mfw.Export(flow) }

func main() {}
"#;

#[test]
fn a_go_step_writes_and_reads_a_large_byte_string_a_piece_at_a_time() {
    let scratch = Scratch::new();
    let dir = go_flow(&scratch, "streams", STREAMS_GO);
    let end = end_artifacts(&scratch, "StreamsFlow", &dir, &[]);
    assert_eq!(end["length"], (6 << 20) + 3);
    assert_eq!(end["same"], true);
    // Both values are large: stored as chunks under a manifest each (the
    // same bytes, so the same value and manifest).
    assert_eq!(scratch.files("chunked").len(), 1);
}

#[test]
fn a_go_step_switches_and_loops() {
    let scratch = Scratch::new();
    let dir = go_flow(
        &scratch,
        "switcher",
        r#"package main

import (
	"fmt"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("SwitchFlow").
	Parameter(mfw.Param{Name: "mode", Kind: mfw.Str, Default: "fast"}).
	Step("start", start, mfw.Switch("mode", mfw.Case("fast", "quick"), mfw.Case("slow", "careful"))).
	Step("quick", path("quick"), mfw.Next("count")).
	Step("careful", path("careful"), mfw.Next("count")).
	Step("count", count, mfw.Next("tick")).
	Step("tick", tick, mfw.Switch("left", mfw.Case(0, "end"), mfw.Case(1, "tick"), mfw.Case(2, "tick"))).
	Step("end", end)

func start(ctx *mfw.Context) error {
	var mode string
	if err := ctx.Parameter("mode", &mode); err != nil {
		return err
	}
	if err := ctx.Set("mode", mode); err != nil {
		return err
	}
	return ctx.NextSwitch()
}

func path(name string) mfw.StepFunc {
	return func(ctx *mfw.Context) error {
		if err := ctx.Set("path", name); err != nil {
			return err
		}
		return ctx.Next("count")
	}
}

func count(ctx *mfw.Context) error {
	if err := ctx.Set("left", 3); err != nil {
		return err
	}
	return ctx.Next("tick")
}

// One task per round, each counting down what the round before set.
func tick(ctx *mfw.Context) error {
	var left int64
	if err := ctx.Get("left", &left); err != nil {
		return err
	}
	if err := ctx.Set("left", left-1); err != nil {
		return err
	}
	return ctx.NextSwitch()
}

func end(ctx *mfw.Context) error {
	var path string
	if err := ctx.Get("path", &path); err != nil {
		return err
	}
	fmt.Println("took", path)
	return nil
}

func init() { mfw.Export(flow) }

func main() {}
"#,
    );
    let ran = scratch.mfw(["run".as_ref(), dir.as_os_str()]).ok();
    assert!(ran.stdout.contains("end/0: took quick"), "{}", ran.stdout);
    let run = ran.run_id();
    let ids = |step: &str| scratch.task_ids("SwitchFlow", &run, step);
    assert_eq!(ids("tick"), ["0", "0_1", "0_2"]);
    assert!(ids("careful").is_empty());
    let slow = scratch
        .mfw([
            "run".as_ref(),
            dir.as_os_str(),
            "--mode".as_ref(),
            "slow".as_ref(),
        ])
        .ok();
    assert!(
        slow.stdout.contains("end/0: took careful"),
        "{}",
        slow.stdout
    );
    let other = scratch
        .mfw([
            "run".as_ref(),
            dir.as_os_str(),
            "--mode".as_ref(),
            "medium".as_ref(),
        ])
        .failed();
    assert!(
        other.stderr.contains(
            r#"the switch's condition `mode` is "medium", which is none of its cases ["fast", "slow"]"#
        ),
        "{}",
        other.stderr
    );
    let shown = scratch.mfw(["show".as_ref(), dir.as_os_str()]).ok().stdout;
    assert!(
        shown.contains("switch on left: 0 -> end, 1 -> tick, 2 -> tick"),
        "{shown}"
    );
}
