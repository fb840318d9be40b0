//! Metaflow's forms in flows as Metaflow users write them, asserting what
//! Metaflow gives (tests/metaflow/; compat-flow.py and Metaflow's tutorials
//! import from `metaflow`, the others from `mfw`), and the same forms from
//! a Rust step where mfw's SDKs have them.

mod common;

use common::Scratch;

fn flow(name: &str) -> std::path::PathBuf {
    common::repo().join("tests/metaflow").join(name)
}

#[test]
fn metaflow_forms_give_metaflow_results() {
    let scratch = Scratch::new();
    // A flow file named with a '-', like Metaflow's hello-cloud.py.
    let path = flow("compat-flow.py");
    let path = path.to_str().unwrap();
    let ran = scratch
        .mfw_env(
            ["run", path, "--typed-int", "4", "--tag", "nightly"],
            &[("MFW_USER", "carol".to_string())],
        )
        .ok();
    let run = ran.run_id();
    let end = scratch.dump(&format!("CompatFlow/{run}/end/0"));
    let artifacts = &end["artifacts"];

    // A JSONType default given as text is parsed; a hyphenated parameter,
    // set as --typed-int, is read as self.typed_int.
    assert_eq!(artifacts["config_depth"], 3, "{artifacts}");
    assert_eq!(artifacts["doubled"], 8, "{artifacts}");

    // Deploy-time defaults (functions of Metaflow's ParameterContext) are
    // computed when the run starts, with who starts it.
    assert_eq!(
        artifacts["computed"],
        serde_json::json!(["carol@CompatFlow/owner/local", 50]),
        "{artifacts}"
    );

    // frozenset and bytearray come back as themselves.
    assert_eq!(
        artifacts["types"],
        serde_json::json!(["frozenset", "bytearray"])
    );

    // foreach_stack(): (index, num_splits, value) per level, outermost first.
    assert_eq!(
        artifacts["stacks"],
        serde_json::json!([
            [[0, 2, "a"], [0, 3, 10]],
            [[0, 2, "a"], [2, 3, 30]],
            [[1, 2, "b"], [0, 3, 10]],
            [[1, 2, "b"], [2, 3, 30]],
        ])
    );

    // @catch's variable reads like Metaflow's wrapper: the exception's type
    // and text, and its traceback.
    assert_eq!(
        artifacts["failures"],
        serde_json::json!([
            ["builtins.KeyError", "'missing_key'", true],
            ["builtins.KeyError", "'missing_key'", true],
        ])
    );

    // Cards and triggers build; the components a step added are stored
    // with its card (a blank one: only what it added).
    let card = scratch.card(&format!("CompatFlow/{run}/start/0"), None);
    assert!(card.contains("<h1>Compat</h1>"), "{card}");
    assert!(card.contains("<th>n</th><th>s</th>"), "{card}");
    assert!(card.contains("<progress max=\"3\" value=\"1\">"), "{card}");
    assert!(!card.contains("<h2>Artifacts</h2>"), "{card}");

    // @environment's variables reach the step; files say why a sandboxed
    // step cannot reach them, and what to do; other flows are read
    // through the host (this store has no OtherFlow).
    assert_eq!(artifacts["mode"], "fast", "{artifacts}");
    let open_error = artifacts["open_failure"]["message"].as_str().unwrap();
    assert!(
        open_error.contains("table.csv") && open_error.contains("IncludeFile"),
        "{open_error}"
    );
    let client_error = artifacts["client_error"].as_str().unwrap();
    assert!(
        client_error.contains("flow OtherFlow has no runs"),
        "{client_error}"
    );

    // @retry: the second attempt ran (locally at once, as in Metaflow).
    assert_eq!(artifacts["attempt"], 1, "{artifacts}");

    // current: who started the run, its tags, its project.
    assert_eq!(artifacts["who"][0], "carol", "{artifacts}");
    assert_eq!(artifacts["who"][1], "user:carol", "{artifacts}");
    let tags = artifacts["who"][2].as_array().unwrap();
    for tag in ["nightly", "user:carol", "runtime:mfw"] {
        assert!(tags.iter().any(|t| t == tag), "{tag}: {artifacts}");
    }
    assert_eq!(artifacts["origin"], serde_json::Value::Null);
    assert_eq!(
        artifacts["parameter_names"],
        serde_json::json!(["batch_size", "config", "owner", "typed_int"])
    );
    assert_eq!(
        artifacts["project"],
        serde_json::json!([
            "compat",
            "test.nightly_eval",
            "compat.test.nightly_eval.CompatFlow"
        ])
    );
    assert_eq!(artifacts["production"], false);

    // A Config is read from its file when the flow is built: its values
    // set @environment and @retry above (the attempt and mode asserted),
    // and a step reads it.
    assert_eq!(artifacts["settings_read"], serde_json::json!(["fast", 4]));

    // Metaflow's helpers for a step's code: parallel_map (one item after
    // another in a component) and profile.
    assert_eq!(artifacts["squares"], serde_json::json!([1, 4, 9]));
    assert_eq!(artifacts["profiled"], serde_json::json!(["squares"]));

    // A @batch step is a @kubernetes one with its resources; AWS's options
    // (queue, iam_role) are of no effect.
    let graph = scratch.mfw(["show", path]).ok().stdout;
    assert!(graph.contains("@kubernetes(cpu=1, memory=2048)"), "{graph}");
    assert!(!graph.contains("ml-queue"), "{graph}");

    // Parameters are artifacts of every task, as in Metaflow.
    let read = client(
        &scratch,
        "from mfw import Flow\n\
         run = Flow('CompatFlow').latest_run\n\
         print(run.data.typed_int, run['start'].task.data.config['tags'], 'typed_int' in run['end'].task)",
        &[("MFW_USER", "carol")],
    );
    assert_eq!(read, "4 ['a'] True");

    // An object of the flow's own class loads in a notebook that can import
    // the flow's code, and says how to when it cannot.
    let point = r#"from mfw import Flow
try:
    Flow('CompatFlow').latest_run['start'].task.data.point
except Exception as e:
    print('sys.path.insert' in str(e), "'compat-flow'" in str(e))
import sys
sys.path.insert(0, sys.argv[1])
p = Flow('CompatFlow').latest_run['start'].task.data.point
print(type(p).__name__, p.x, p.y)"#;
    let output = std::process::Command::new("python3")
        .args(["-c", point, flow("").to_str().unwrap()])
        .current_dir(scratch.path())
        .env("PYTHONPATH", common::repo().join("guest-sdks/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("MFW_USER", "carol")
        .env_remove("MFW_DATASTORE")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "True True\nPoint 1 2\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        ran.stdout
            .contains("end/0: types ['frozenset', 'bytearray'] depth 3 doubled 8"),
        "{}",
        ran.stdout
    );
}

/// Runs Python with the SDK on the path, in the scratch directory (its
/// `.mfw` datastore); returns its stdout.
fn client(scratch: &Scratch, code: &str, env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(code)
        .current_dir(scratch.path())
        .env("PYTHONPATH", common::repo().join("guest-sdks/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("MFW_CACHE_DIR", common::cache_dir())
        .env("MFW_WHEEL_CACHE", common::wheel_cache())
        .env_remove("MFW_DATASTORE")
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn runs_have_tags_and_users_namespaces() {
    let scratch = Scratch::new();
    let hello = common::python_example("hello").join("hello.py");
    let hello = hello.to_str().unwrap();
    let alice = [("MFW_USER", "alice".to_string())];
    let bob = [("MFW_USER", "bob".to_string())];
    let first = scratch
        .mfw_env(["run", hello, "--tag", "baseline"], &alice)
        .ok()
        .run_id();
    let second = scratch.mfw_env(["run", hello], &bob).ok().run_id();

    // Tags after the run, as `metaflow tag add`.
    scratch
        .mfw(["tag", "add", &format!("HelloFlow/{first}"), "reviewed"])
        .ok();
    let listed = scratch
        .mfw(["tag", "list", &format!("HelloFlow/{first}")])
        .ok();
    assert!(
        listed.stdout.contains("baseline, reviewed"),
        "{}",
        listed.stdout
    );
    assert!(listed.stdout.contains("user:alice"), "{}", listed.stdout);
    let bad = scratch.mfw(["tag", "add", &format!("HelloFlow/{first}"), " "]);
    assert!(bad.stderr.contains("is not a tag"), "{}", bad.stderr);

    // The client: each user's runs by default, every run with
    // namespace(None), runs by tag, and another user's run refused by name.
    let code = format!(
        "from mfw import Flow, Run, namespace, get_namespace, default_namespace\n\
         print(get_namespace(), [r.id for r in Flow('HelloFlow').runs()])\n\
         print(sorted(Flow('HelloFlow').latest_run.tags - {{t for t in Flow('HelloFlow').latest_run.tags if t.startswith(('date:', 'mfw_version:'))}}))\n\
         try:\n    Run('HelloFlow/{second}')\nexcept Exception as e:\n    print('refused:', 'namespace(None)' in str(e))\n\
         namespace(None)\n\
         print(len(Flow('HelloFlow').runs()), [r.id for r in Flow('HelloFlow').runs('reviewed')])\n\
         run = Run('HelloFlow/{second}')\n\
         run.add_tag('from-notebook')\n\
         print(sorted(run.user_tags))\n\
         namespace('user:bob')\n\
         print([r.id for r in Flow('HelloFlow').runs()], default_namespace())"
    );
    let out = client(&scratch, &code, &[("MFW_USER", "alice")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("user:alice ['{first}']"), "{out}");
    assert_eq!(
        lines[1], "['baseline', 'reviewed', 'runtime:mfw', 'user:alice']",
        "{out}"
    );
    assert_eq!(lines[2], "refused: True", "{out}");
    assert_eq!(lines[3], format!("2 ['{first}']"), "{out}");
    assert_eq!(lines[4], "['from-notebook']", "{out}");
    assert_eq!(lines[5], format!("['{second}'] user:alice"), "{out}");
    // What the client tagged, mfw sees.
    let runs = scratch.mfw(["runs", "HelloFlow"]).ok();
    assert!(runs.stdout.contains("from-notebook"), "{}", runs.stdout);
}

#[test]
fn deploy_time_defaults_are_computed_at_run_start_unless_given() {
    let scratch = Scratch::new();
    let file = scratch.write(
        "stamped/flow.py",
        "\
from mfw import FlowSpec, Parameter, step


def fail(ctx):
    return {}['no ' + ctx.parameter_name]


class StampedFlow(FlowSpec):
    owner = Parameter('owner', default=lambda ctx: ctx.user_name.upper())
    size = Parameter('size', default=lambda ctx: str(len(ctx.flow_name)), type=int)
    broken = Parameter('broken', default=fail, help='Fails unless given.')

    @step
    def start(self):
        self.seen = [self.owner, self.size, self.broken]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == '__main__':
    StampedFlow()
",
    );
    let env = [("MFW_USER", "dora".to_string())];
    // `run --help` says which defaults are computed.
    let help = python_flow(&scratch, &file, &["run", "--help"]);
    assert!(
        help.stdout
            .contains("--broken STR  Fails unless given.  [default: computed when the run starts]"),
        "{}",
        help.stdout
    );
    // A default whose code fails stops the run before any task, with its
    // traceback.
    let failed = scratch
        .mfw_env(["run".as_ref(), file.as_os_str()], &env)
        .failed();
    assert!(
        failed.stderr.contains(
            "the run of StampedFlow did not start: the default of parameter 'broken' failed: \
             'no broken'"
        ),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains("in fail"), "{}", failed.stderr);
    assert!(!failed.stderr.contains("start/0"), "{}", failed.stderr);
    // Given on the command line, it is not computed; the others are, and a
    // text result is read as the parameter's type.
    let ran = scratch
        .mfw_env(
            [
                "run".as_ref(),
                file.as_os_str(),
                "--broken".as_ref(),
                "fixed".as_ref(),
            ],
            &env,
        )
        .ok();
    let start = scratch.dump(&format!("StampedFlow/{}/start/0", ran.run_id()));
    assert_eq!(
        start["artifacts"]["seen"],
        serde_json::json!(["DORA", 11, "fixed"])
    );
}

/// `python <flow file> args...` in the scratch directory, with the mfw
/// binary the tests built.
fn python_flow(scratch: &Scratch, file: &std::path::Path, args: &[&str]) -> common::Ran {
    let output = std::process::Command::new("python3")
        .arg(file)
        .args(args)
        .current_dir(scratch.path())
        .env("PYTHONPATH", common::repo().join("guest-sdks/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("MFW_BIN", env!("CARGO_BIN_EXE_mfw"))
        .env("MFW_CACHE_DIR", common::cache_dir())
        .env("MFW_WHEEL_CACHE", common::wheel_cache())
        .env_remove("MFW_DATASTORE")
        .output()
        .expect("python3 runs");
    common::Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_failing_step_shows_its_traceback_and_metaflow_command_lines_work() {
    let scratch = Scratch::new();
    let file = flow("failing_flow.py");
    // `run --help` lists the flow's parameters.
    let help = python_flow(&scratch, &file, &["run", "--help"]);
    assert!(
        help.stdout.contains("--rounds INT  How many rounds."),
        "{}",
        help.stdout
    );
    assert!(
        help.stdout
            .contains("--fail BOOL  Fail in the middle step."),
        "{}",
        help.stdout
    );

    // Metaflow's globals before the command are accepted; the failure's
    // traceback, with its file, line and source, is on the console.
    let ran = python_flow(&scratch, &file, &["--no-pylint", "run", "--tag", "first"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("--no-pylint has no effect"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("middle/1:   File \"/0/failing_flow.py\", line 19, in middle"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("self.value = settings[\"missing_key\"]"),
        "{}",
        ran.stderr
    );
    let run = ran.run_id();

    // `python flow.py logs RUN/STEP`: every task's logs, with the traceback.
    let logs = python_flow(&scratch, &file, &["logs", &format!("{run}/middle")]);
    assert!(logs.stdout.contains("==> FailingFlow/"), "{}", logs.stdout);
    assert!(
        logs.stderr.contains("line 19, in middle"),
        "{}",
        logs.stderr
    );
    // `python flow.py dump RUN/STEP` too.
    let dump = python_flow(&scratch, &file, &["dump", &format!("{run}/middle")]);
    assert!(
        dump.stdout.contains("KeyError: 'missing_key'"),
        "{}",
        dump.stdout
    );
    assert!(
        dump.stdout.contains("line 19, in middle"),
        "{}",
        dump.stdout
    );

    // `python flow.py resume STEP`, with a retry on every step (`--with`):
    // the fixed parameter is the origin's, so the step fails again, twice.
    let resumed = python_flow(
        &scratch,
        &file,
        &["resume", "middle", "--with", "retry:times=1"],
    );
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("middle/1: attempt 0 failed"),
        "{}",
        resumed.stderr
    );
    assert!(
        resumed.stderr.contains("resuming FailingFlow/"),
        "{}",
        resumed.stderr
    );
}

#[test]
fn the_runner_runs_a_flow_from_python_and_gives_its_run() {
    let scratch = Scratch::new();
    let file = flow("failing_flow.py");
    let code = format!(
        "from mfw import Runner\n\
         with Runner({file:?}, show_output=False).run(fail=False, rounds=4, tags=['nb']) as running:\n\
         \x20   print(running.status, running.run.data.total, sorted(running.run.user_tags))\n\
         failed = Runner({file:?}, show_output=False).run()\n\
         print(failed.status, failed.returncode, failed.run.successful)",
        file = file.to_str().unwrap()
    );
    let out = client(&scratch, &code, &[("MFW_BIN", env!("CARGO_BIN_EXE_mfw"))]);
    assert_eq!(out, "successful 6 ['nb']\nfailed 1 False", "{out}");
}

#[test]
fn async_runs_go_on_side_by_side_and_stream_their_output() {
    let scratch = Scratch::new();
    let file = flow("failing_flow.py");
    // Each `async_run` returns once its run started (the second finds the
    // first's build); both then run at once, one followed line by line.
    let code = format!(
        r#"import asyncio
from mfw import Runner

async def sweep():
    runs = [await Runner({file:?}, show_output=False).async_run(fail=False, rounds=r) for r in (2, 5)]
    started = [r.status for r in runs]
    lines = [line async for _, line in runs[0].stream_log("stdout")]
    for running in runs:
        await running.wait()
    return started, runs, lines

started, runs, lines = asyncio.run(sweep())
print(set(started) <= {{"running", "successful"}}, [r.status for r in runs])
print([r.run.data.total for r in runs], [l.split(": ", 1)[1] for l in lines if "total" in l])"#,
        file = file.to_str().unwrap()
    );
    let out = client(&scratch, &code, &[("MFW_BIN", env!("CARGO_BIN_EXE_mfw"))]);
    assert_eq!(
        out, "True ['successful', 'successful']\n[1, 10] ['total 1']",
        "{out}"
    );
}

#[test]
fn nbrunner_runs_the_flow_a_notebook_cell_defines() {
    let scratch = Scratch::new();
    // A notebook's cell, run by IPython's shell as Jupyter runs it: the
    // flow's class, then NBRunner on it.
    let code = r#"import os
from IPython.core.interactiveshell import InteractiveShell

cell = '''from mfw import FlowSpec, NBRunner, Parameter, step

def twice(x):
    return 2 * x

class NotebookFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)

    @step
    def start(self):
        self.doubled = twice(self.alpha)
        self.next(self.end)

    @step
    def end(self):
        pass

run = NBRunner(NotebookFlow, show_output=False).nbrun(alpha=21)
'''
shell = InteractiveShell.instance()
shell.run_cell(cell, store_history=True).raise_error()
run = shell.user_ns["run"]
print(run.pathspec.split("/")[0], run.successful, run.data.doubled)
print([f for f in os.listdir(".") if f.endswith(".py")])"#;
    let ipython_dir = scratch.path().join(".ipython");
    let out = client(
        &scratch,
        code,
        &[
            ("MFW_BIN", env!("CARGO_BIN_EXE_mfw")),
            // IPython keeps its history database here, not in $HOME.
            ("IPYTHONDIR", ipython_dir.to_str().unwrap()),
        ],
    );
    // The flow file written beside the notebook went with the run.
    assert_eq!(out, "NotebookFlow True 42\n[]", "{out}");
}

#[test]
fn s3_run_objects_pass_to_later_steps_and_to_the_client() {
    let scratch = Scratch::new();
    let path = flow("s3_flow.py");
    let ran = scratch.mfw(["run", path.to_str().unwrap()]).ok();
    let run = ran.run_id();
    assert!(
        ran.stdout.contains(&format!(
            "Message saved at mfw://S3DemoFlow/{run}/example_object"
        )),
        "{}",
        ran.stdout
    );
    let join = scratch.dump(&format!("S3DemoFlow/{run}/join/0"));
    let artifacts = &join["artifacts"];
    // Each foreach task's objects reach the join, with start's.
    assert_eq!(
        artifacts["parts"],
        serde_json::json!(["A", "B"]),
        "{artifacts}"
    );
    assert_eq!(artifacts["message"], "hello world!", "{artifacts}");
    assert_eq!(
        artifacts["listing"],
        serde_json::json!(["clash", "example_object", "parts/"]),
        "{artifacts}"
    );
    // Two inputs that put different objects under one key: reading it
    // names them, and the join's own put settles it.
    let clash = artifacts["clash"].as_str().unwrap_or_default();
    assert!(
        clash.contains("put different objects under `clash` (fan/0, fan/1)"),
        "{clash}"
    );
    assert_eq!(artifacts["settled"], "settled");
    assert_eq!(artifacts["missing"], false);
    assert_eq!(artifacts["not_found"], "MetaflowS3NotFound");
    assert!(
        artifacts["no_path"]
            .as_str()
            .is_some_and(|m| m.contains("no file system; read .blob or .text")),
        "{artifacts}"
    );
    let end = scratch.dump(&format!("S3DemoFlow/{run}/end/0"));
    assert_eq!(
        end["artifacts"]["urls"],
        serde_json::json!([
            format!("mfw://S3DemoFlow/{run}/example_object"),
            format!("mfw://S3DemoFlow/{run}/clash"),
        ])
    );
    assert!(
        end["objects"]["parts/b.bin"].is_string(),
        "the record keeps the objects: {end}"
    );
    // Another run's objects are not read from a step (yet), and it says so.
    assert!(
        end["artifacts"]["other_run"]
            .as_str()
            .is_some_and(|m| m.contains("takes the running flow (S3(run=self))")),
        "{end}"
    );

    // Resuming from the join: the cloned fan tasks hand it their objects.
    let resumed = scratch
        .mfw([
            "resume",
            path.to_str().unwrap(),
            &run,
            "--from-step",
            "join",
        ])
        .ok();
    let again = scratch.dump(&format!("S3DemoFlow/{}/join/0", resumed.run_id()));
    assert_eq!(again["artifacts"]["parts"], artifacts["parts"]);
    assert_eq!(again["objects"], join["objects"]);

    // A notebook reads the run's objects, as bytes, text and a local file.
    let read = client(
        &scratch,
        &format!(
            "from mfw import S3, Run, namespace\n\
             namespace(None)\n\
             with S3(run=Run('S3DemoFlow/{run}')) as s3:\n\
             \x20   obj = s3.get('example_object')\n\
             \x20   print(obj.text)\n\
             \x20   print(open(obj.path).read() == obj.text, s3.get('parts/a.bin').blob)\n\
             \x20   print(s3.get('clash').text, [o.key for o in s3.list_recursive(['parts'])])\n\
             \x20   try:\n\
             \x20       s3.put('x', 'y')\n\
             \x20   except Exception as e:\n\
             \x20       print('put:', e)\n"
        ),
        &[],
    );
    let lines: Vec<&str> = read.lines().collect();
    assert_eq!(lines[0], r#"{"message": "hello world!"}"#, "{read}");
    assert_eq!(lines[1], "True b'aa'", "{read}");
    assert_eq!(
        lines[2], "settled ['parts/a.bin', 'parts/a.txt', 'parts/b.bin', 'parts/b.txt']",
        "{read}"
    );
    assert!(lines[3].starts_with("put: S3(run='S3DemoFlow/"), "{read}");
    assert!(
        lines[3].contains("is read-only outside the run's steps"),
        "{read}"
    );

    // Buckets of one's own are refused with what to do instead.
    let refused = client(
        &scratch,
        "from mfw import S3\n\
         try:\n\
         \x20   S3(s3root='s3://bucket/data')\n\
         except Exception as e:\n\
         \x20   print(e)\n",
        &[],
    );
    assert!(refused.contains("use S3(run=self) in a step"), "{refused}");
    assert!(refused.contains("@grant(network="), "{refused}");
}

/// Metaflow's tutorials as its PyPI release ships them (the wheel
/// `scripts/setup` keeps), extracted into `scratch` unchanged: in a
/// component, `from metaflow import` gives mfw's objects.
fn metaflow_tutorials(scratch: &Scratch) -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))?;
    let wheel = cache.join("mfw/pypi/metaflow-2.19.39-py2.py3-none-any.whl");
    if !wheel.exists() {
        let why = "Metaflow's wheel is not downloaded: run scripts/setup to run its tutorials";
        assert!(
            std::env::var_os("MFW_REQUIRE_METAFLOW_WHEEL").is_none(),
            "{why}"
        );
        eprintln!("skipping: {why}");
        return None;
    }
    let out = scratch.path().join("wheel");
    let status = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&out)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "cannot extract {}", wheel.display());
    let tutorials = out.join("metaflow/tutorials");
    let stats = std::fs::read_to_string(tutorials.join("02-statistics/stats.py")).unwrap();
    assert!(stats.contains("from metaflow import"), "{stats}");
    Some(tutorials)
}

#[test]
fn metaflows_tutorials_that_chain_flows_run_unchanged() {
    let scratch = Scratch::new();
    let Some(tutorials) = metaflow_tutorials(&scratch) else {
        return;
    };
    let path = |p: &str| tutorials.join(p).display().to_string();
    // 02: statistics per genre, with a foreach.
    let stats = scratch.mfw(["run", &path("02-statistics/stats.py")]).ok();
    let stats_run = stats.run_id();
    // 03: reads 02's latest successful run from inside its start step.
    let playlist = scratch
        .mfw(["run", &path("03-playlist-redux/playlist.py")])
        .ok();
    assert!(
        playlist.stdout.contains(&format!(
            "Using analysis from 'Run('MovieStatsFlow/{stats_run}')'"
        )),
        "{}",
        playlist.stdout
    );
    assert!(
        playlist.stdout.contains("Using metadata provider: "),
        "{}",
        playlist.stdout
    );
    assert!(
        playlist
            .stdout
            .contains("Playlist for movies in genre 'Sci-Fi'")
            && playlist.stdout.contains("Pick 5: '")
            && playlist.stdout.contains("Bonus Pick: '"),
        "{}",
        playlist.stdout
    );
    // 05: get_metadata inside a step; its @kubernetes step runs here
    // unless the run asks for a cluster.
    let cloud = scratch
        .mfw(["run", &path("05-hello-cloud/hello-cloud.py")])
        .ok();
    assert!(
        cloud.stdout.contains("Using metadata provider: ")
            && cloud.stdout.contains("Metaflow says: Hi from the cloud!"),
        "{}",
        cloud.stdout
    );
}

const CONFIGURED: &str = "\
from metaflow import Config, FlowSpec, retry, step


class ConfiguredFlow(FlowSpec):
    settings = Config('settings', default='settings.json')

    @retry(times=settings.retries)
    @step
    def start(self):
        self.model = self.settings.model
        self.next(self.end)

    @step
    def end(self):
        print('model', self.model)
";

#[test]
fn a_config_given_to_the_run_replaces_its_default() {
    let scratch = Scratch::new();
    let flow = scratch.write("configured/flow.py", CONFIGURED);
    scratch.write(
        "configured/settings.json",
        r#"{"model": "small", "retries": 1}"#,
    );
    let flow = flow.to_str().unwrap();
    let model = |ran: common::Ran| {
        let run = ran.run_id();
        scratch.dump(&format!("ConfiguredFlow/{run}/end/0"))["artifacts"]["model"].clone()
    };
    assert_eq!(model(scratch.mfw(["run", flow]).ok()), "small");
    // Metaflow's --config NAME FILE and --config-value NAME TEXT: the flow
    // is built with them, and no task of a run with other configs is
    // reused for it.
    let prod = scratch.write("prod.json", r#"{"model": "large", "retries": 3}"#);
    let prod = prod.to_str().unwrap();
    let given = scratch
        .mfw(["run", "--config", "settings", prod, flow])
        .ok();
    assert_eq!(model(given), "large");
    let value = r#"{"model": "tiny", "retries": 0}"#;
    let given = scratch
        .mfw(["run", "--config-value", "settings", value, flow])
        .ok();
    assert_eq!(model(given), "tiny");
    assert_eq!(model(scratch.mfw(["run", flow]).ok()), "small");

    // A config the flow does not declare, a file that is not there, and a
    // flow that has no Configs are errors that say so.
    let unknown = scratch
        .mfw(["run", "--config", "setings", prod, flow])
        .failed();
    assert!(
        unknown.stderr.contains(
            "--config setings: the flow has no Config named 'setings' (its configs: settings)"
        ),
        "{}",
        unknown.stderr
    );
    let missing = scratch
        .mfw(["run", "--config", "settings", "absent.json", flow])
        .failed();
    assert!(
        missing
            .stderr
            .contains("--config settings absent.json: cannot read the file"),
        "{}",
        missing.stderr
    );
    let hello = common::example("hello");
    let rust = scratch
        .mfw([
            "run",
            "--config-value",
            "settings",
            "{}",
            hello.to_str().unwrap(),
        ])
        .failed();
    assert!(
        rust.stderr.contains("--config settings:")
            && rust.stderr.contains("only those have Configs"),
        "{}",
        rust.stderr
    );
}

#[test]
fn a_switch_runs_only_the_case_its_condition_names() {
    let scratch = Scratch::new();
    let path = flow("switch-flow.py");
    let path = path.to_str().unwrap();
    let ids = |run: &str, step: &str| scratch.task_ids("SwitchFlow", run, step);

    let fast = scratch.mfw(["run", path]).ok();
    let run = fast.run_id();
    let end = &scratch.dump(&format!("SwitchFlow/{run}/end/0"))["artifacts"];
    // start's case "fast" ran `quick` and not `careful`; in the foreach,
    // even items were doubled and odd ones squared, in the items' order;
    // in the split, `left` took its "big" case and the join got one input
    // per branch.
    assert_eq!(end["path"], serde_json::json!(["quick"]), "{end}");
    // Even items double, one task per round, until they reach 10.
    assert_eq!(end["outs"], serde_json::json!([1, 16, 9, 16]), "{end}");
    // The recursive `tick` ran once per count, each round on the last.
    assert_eq!(end["ticks"], serde_json::json!([2, 1, 0]), "{end}");
    assert_eq!(
        end["sides"],
        serde_json::json!([["left", "big"], ["right", "none"]]),
        "{end}"
    );
    assert_eq!(ids(&run, "quick"), ["0"]);
    assert!(ids(&run, "careful").is_empty());
    assert!(ids(&run, "left_small").is_empty());
    // Four tasks of `each`; `double` ran three rounds for 2 (4, 8, 16) and
    // two for 4 (8, 16); `square` once for each odd item.
    assert_eq!(ids(&run, "each").len(), 4);
    assert_eq!(ids(&run, "double"), ["1", "1_1", "1_2", "3", "3_1"]);
    assert_eq!(ids(&run, "square"), ["0", "2"]);
    assert_eq!(ids(&run, "tick"), ["0", "0_1", "0_2"]);
    let round = scratch.dump(&format!("SwitchFlow/{run}/tick/0_1"));
    assert_eq!(
        round["artifacts"]["ticks"],
        serde_json::json!([2, 1]),
        "{round}"
    );

    let slow = scratch.mfw(["run", path, "--mode", "slow"]).ok();
    let run = slow.run_id();
    let end = &scratch.dump(&format!("SwitchFlow/{run}/end/0"))["artifacts"];
    assert_eq!(end["path"], serde_json::json!(["careful"]), "{end}");
    assert_eq!(ids(&run, "careful"), ["0"]);
    assert!(ids(&run, "quick").is_empty());

    // A value that is none of the cases fails the step, naming them.
    let other = scratch.mfw(["run", path, "--mode", "medium"]).failed();
    assert!(
        other
            .stderr
            .contains("the switch's condition self.route is 'medium', which is none of its cases ['fast', 'slow']"),
        "{}",
        other.stderr
    );

    // `mfw show` lists each case.
    let shown = scratch.mfw(["show", path]).ok().stdout;
    assert!(
        shown.contains(r#"switch on route: "fast" -> quick, "slow" -> careful"#)
            && shown.contains("switch on even: true -> double, false -> square")
            && shown.contains("switch on small: true -> double, false -> doubled"),
        "{shown}"
    );
}

#[test]
fn a_rust_step_switches_and_loops_as_a_python_one_does() {
    let scratch = Scratch::new();
    let flow = common::guest("switcher");
    let flow = flow.to_str().unwrap();
    let end = |ran: common::Ran| {
        let run = ran.run_id();
        (
            run.clone(),
            scratch.dump(&format!("SwitchFlow/{run}/end/0"))["artifacts"].clone(),
        )
    };
    let (run, fast) = end(scratch.mfw(["run", flow]).ok());
    assert_eq!(fast["path"], "quick", "{fast}");
    assert_eq!(fast["ticks"], serde_json::json!([2, 1, 0]), "{fast}");
    let ids = |step: &str| scratch.task_ids("SwitchFlow", &run, step);
    assert!(ids("careful").is_empty());
    assert_eq!(ids("tick"), ["0", "0_1", "0_2"]);
    let (_, slow) = end(scratch.mfw(["run", flow, "--mode", "slow"]).ok());
    assert_eq!(slow["path"], "careful", "{slow}");
    let other = scratch.mfw(["run", flow, "--mode", "medium"]).failed();
    assert!(
        other.stderr.contains(
            "the switch's condition `mode` is 'medium', which is none of its cases \
             ['fast', 'slow']"
        ),
        "{}",
        other.stderr
    );
}
