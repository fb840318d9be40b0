//! Python flows through the CLI: the examples, asserted through the Python
//! client API, and every build error the Python issue names.

mod common;

use common::{Scratch, python_example};

fn run(scratch: &Scratch, args: &[&str]) -> common::Ran {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    scratch.mfw(&all)
}

#[test]
fn hello_py_runs_and_the_client_reads_x() {
    let scratch = Scratch::new();
    let flow = python_example("hello").join("hello.py");
    let ran = run(&scratch, &[flow.to_str().unwrap()]).ok();
    assert!(
        ran.stdout
            .contains("end/0: Hello world! The value of x is 2"),
        "{}",
        ran.stdout
    );
    let got = scratch.client(
        "from mfw import Flow\n\
         run = Flow('HelloFlow').latest_run\n\
         print(run.successful, run['start'].task.data.x, run['end'].task.data.x)",
    );
    assert_eq!(got, "True 1 2");
    // A second run finds the component built and compiled.
    let again = run(&scratch, &[flow.to_str().unwrap()]).ok();
    assert!(!again.stderr.contains("building"), "{}", again.stderr);
}

#[test]
fn the_kubernetes_decorator_is_recorded_and_ignored_locally() {
    let scratch = Scratch::new();
    let shown = scratch
        .mfw(["show".as_ref(), python_example("hello").as_os_str()])
        .ok();
    assert!(
        shown.stdout.contains("@kubernetes(memory=64000)"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("mfw-python/"), "{}", shown.stdout);
}

#[test]
fn branch_py_joins_with_inputs_and_merge_artifacts() {
    let scratch = Scratch::new();
    let ran = run(&scratch, &[python_example("branch").to_str().unwrap()]).ok();
    assert!(
        ran.stdout.contains("end/0: hello: total = 3"),
        "{}",
        ran.stdout
    );
    let got = scratch.client(
        "from mfw import Flow\n\
         end = Flow('BranchFlow').latest_run['end'].task\n\
         print(end.data.total, end.data.from_a, end.data.from_b, end.data.greeting, 'x' in end)",
    );
    assert_eq!(got, "3 set in a set in b hello False");
}

#[test]
fn wide_py_sums_to_9900() {
    let scratch = Scratch::new();
    run(&scratch, &[python_example("wide").to_str().unwrap()]).ok();
    let got = scratch.client(
        "from mfw import Flow\n\
         run = Flow('WideFlow').latest_run\n\
         print(run.data.total, len(run['double'].tasks()), run['double']['7'].data.y, run.parameters)",
    );
    assert_eq!(got, "9900 100 14 {'n': 100}");
}

#[test]
fn parameters_and_include_file_reach_every_step() {
    let scratch = Scratch::new();
    let flow = python_example("params");
    let ran = run(&scratch, &[flow.to_str().unwrap(), "--label", "demo"]).ok();
    assert!(ran.stdout.contains("end/0: demo: 13.0"), "{}", ran.stdout);
    let other = scratch.write("other.csv", "name,value\nz,10\n");
    run(
        &scratch,
        &[
            flow.to_str().unwrap(),
            "--label",
            "x",
            "--scale",
            "3",
            "--data",
            other.to_str().unwrap(),
        ],
    )
    .ok();
    let got = scratch.client(
        "from mfw import Flow\n\
         runs = Flow('ParamsFlow').runs()\n\
         print(runs[1].data.values, runs[0].data.values, runs[0].data.summary)",
    );
    assert_eq!(got, "[2.0, 4.0, 7.0] [30.0] x: 30.0");
    let missing = run(&scratch, &[flow.to_str().unwrap()]).failed();
    assert!(
        missing
            .stderr
            .contains("flow `ParamsFlow` needs --label (A name for the result.)"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_copied_flow_reads_the_include_file_beside_it() {
    // Two copies of the same flow source: the default path is computed from
    // `__file__` at build time, so each copy needs its own component.
    let scratch = Scratch::new();
    let source = std::fs::read_to_string(python_example("params").join("params.py")).unwrap();
    let first = scratch.write("first/params.py", &source);
    scratch.write("first/data.csv", "name,value\na,1\n");
    let second = scratch.write("second/params.py", &source);
    scratch.write("second/data.csv", "name,value\nb,5\n");
    let ran = run(&scratch, &[first.to_str().unwrap(), "--label", "one"]).ok();
    assert!(ran.stdout.contains("end/0: one: 2.0"), "{}", ran.stdout);
    let ran = run(&scratch, &[second.to_str().unwrap(), "--label", "two"]).ok();
    assert!(ran.stdout.contains("end/0: two: 10.0"), "{}", ran.stdout);
}

const USES_A_SUBPACKAGE: &str = "\
from mfw import FlowSpec, step


class PackageFlow(FlowSpec):
    @step
    def start(self):
        from helpers.arith import double
        self.y = double(21)
        self.next(self.end)

    @step
    def end(self):
        print('y is', self.y)
";

#[test]
fn subpackages_beside_the_flow_are_its_code_package() {
    let scratch = Scratch::new();
    let flow = scratch.write("pkg/flow.py", USES_A_SUBPACKAGE);
    scratch.write("pkg/helpers/__init__.py", "");
    scratch.write("pkg/helpers/arith.py", "def double(x):\n    return 2 * x\n");
    // A virtualenv beside the flow is not code: editing it rebuilds nothing.
    scratch.write("pkg/env/pyvenv.cfg", "home = /usr/bin\n");
    scratch.write("pkg/env/lib/tool.py", "X = 1\n");
    let ran = run(&scratch, &[flow.to_str().unwrap()]).ok();
    assert!(ran.stdout.contains("end/0: y is 42"), "{}", ran.stdout);
    scratch.write("pkg/env/lib/tool.py", "X = 2\n");
    let again = run(&scratch, &[flow.to_str().unwrap()]).ok();
    assert!(!again.stderr.contains("building"), "{}", again.stderr);
    // A subpackage is: editing it rebuilds the component.
    scratch.write("pkg/helpers/arith.py", "def double(x):\n    return 3 * x\n");
    let edited = run(&scratch, &[flow.to_str().unwrap()]).ok();
    assert!(edited.stderr.contains("building"), "{}", edited.stderr);
    assert!(
        edited.stdout.contains("end/0: y is 63"),
        "{}",
        edited.stdout
    );
}

#[test]
fn a_flow_in_a_huge_directory_says_to_give_it_its_own() {
    let scratch = Scratch::new();
    let flow = scratch.write("huge/flow.py", USES_A_SUBPACKAGE);
    let data = scratch.path().join("huge/data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..20_001 {
        std::fs::write(data.join(format!("{i}.txt")), "").unwrap();
    }
    let ran = scratch.mfw(["build".as_ref(), flow.as_os_str()]).failed();
    assert!(
        ran.stderr
            .contains("holds more than 20000 files and directories")
            && ran.stderr.contains("give the flow a directory of its own"),
        "{}",
        ran.stderr
    );
}

const IMPORTS_LAZILY: &str = "\
from mfw import FlowSpec, step

import helpers


class LazyFlow(FlowSpec):
    @step
    def start(self):
        import datetime
        day = datetime.datetime.strptime('2024-03-05', '%Y-%m-%d').day
        text = b'caf\\xe9'.decode('cp1252')
        print('lazy', day, text, helpers.encode(b'hi'))
        self.next(self.end)

    @step
    def end(self):
        import importlib
        importlib.import_module('zip' + 'app')
";

#[test]
fn what_steps_load_lazily_is_in_the_component() {
    // A component has no file system: strptime's helper module, a codec
    // named in the code and a subpackage's relative import inside a
    // function must all be loaded when it is built.
    let scratch = Scratch::new();
    let flow = scratch.write("lazy/flow.py", IMPORTS_LAZILY);
    scratch.write(
        "lazy/helpers/__init__.py",
        "def encode(data):\n    from .codec import b64\n    return b64(data)\n",
    );
    scratch.write(
        "lazy/helpers/codec.py",
        "import base64\n\n\ndef b64(data):\n    return base64.b64encode(data).decode()\n",
    );
    let ran = run(&scratch, &[flow.to_str().unwrap()]).failed();
    assert!(
        ran.stdout.contains("start/0: lazy 5 caf\u{e9} aGk="),
        "{}",
        ran.stdout
    );
    // A standard module named only at run time cannot be; the error says
    // how to fix it.
    assert!(
        ran.stderr.contains("zipapp is in the standard library")
            && ran.stderr.contains("write `import zipapp`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn python_flow_py_run_hands_off_to_mfw() {
    let scratch = Scratch::new();
    let flow = python_example("hello").join("hello.py");
    let output = std::process::Command::new("python3")
        .arg(&flow)
        .arg("run")
        .current_dir(scratch.path())
        .env("PYTHONPATH", common::repo().join("guest-sdks/python/src"))
        .env("MFW_BIN", env!("CARGO_BIN_EXE_mfw"))
        .env("MFW_CACHE_DIR", common::cache_dir())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Hello world! The value of x is 2"),
        "{stdout}"
    );
}

/// Builds a flow written into a scratch directory and returns mfw's stderr.
fn build_error(source: &str) -> String {
    let scratch = Scratch::new();
    let path = scratch.write("bad/flow.py", source);
    let ran = scratch.mfw(["build".as_ref(), path.as_os_str()]).failed();
    ran.stderr
}

const MISSING_START: &str = "\
from mfw import FlowSpec, step


class F(FlowSpec):
    @step
    def begin(self):
        self.next(self.end)

    @step
    def end(self):
        pass
";

#[test]
fn a_missing_start_is_a_build_error_at_the_class() {
    let stderr = build_error(MISSING_START);
    assert!(
        stderr.contains("flow.py:4: F has no start step"),
        "{stderr}"
    );
}

#[test]
fn a_next_to_an_unknown_step_is_a_build_error_at_its_line() {
    let stderr = build_error(
        &MISSING_START
            .replace("def begin", "def start")
            .replace("self.end)", "self.ned)"),
    );
    assert!(
        stderr
            .contains("flow.py:7: step 'start' calls self.next(self.ned), but F has no step 'ned'"),
        "{stderr}"
    );
}

#[test]
fn a_join_without_inputs_is_a_build_error_at_the_join() {
    let stderr = build_error(
        "\
from mfw import FlowSpec, step


class F(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self):
        self.next(self.end)

    @step
    def end(self):
        pass
",
    );
    assert!(
        stderr.contains(
            "flow.py:18: step `join` has several inputs (from `a`, `b`) but is not declared as a \
             join; give it an `inputs` parameter"
        ),
        "{stderr}"
    );
}

#[test]
fn an_unknown_decorator_option_is_a_build_error() {
    let stderr = build_error(
        &MISSING_START
            .replace("def begin", "def start")
            .replace(
                "    @step\n    def start",
                "    @retry(tims=3)\n    @step\n    def start",
            )
            .replace("import FlowSpec, step", "import FlowSpec, retry, step"),
    );
    assert!(
        stderr.contains("flow.py:5: @retry has no option 'tims'; its options are: times, minutes_between_retries"),
        "{stderr}"
    );
}

#[test]
fn pins_mfw_cannot_read_without_running_the_flow_are_refused() {
    // Computed by a call: the source does not say what it pins.
    let stderr = build_error(
        &MISSING_START
            .replace("def begin", "def start")
            .replace("import FlowSpec, step", "import FlowSpec, pypi_base, step")
            .replace(
                "class F(FlowSpec):",
                "@pypi_base(packages=dict(six='1.16.0'))\nclass F(FlowSpec):",
            ),
    );
    assert!(
        stderr.contains(
            "flow.py:4: @pypi_base(packages=...) is not a literal: write it as one (a dict of \
             package names and versions) or as a module-level constant"
        ),
        "{stderr}"
    );
    // Applied by code after the class: caught when the flow is loaded.
    let stderr = build_error(&format!(
        "{}\nF = pypi_base(packages={{'six': '1.16.0'}})(F)\n",
        MISSING_START
            .replace("def begin", "def start")
            .replace("import FlowSpec, step", "import FlowSpec, pypi_base, step")
    ));
    assert!(
        stderr.contains(
            "flow.py: the flow's decorators pin six==1.16.0 when the flow is loaded, but its \
             source reads as pinning nothing"
        ),
        "{stderr}"
    );
}

#[test]
fn a_module_constant_pins_like_a_literal() {
    let scratch = Scratch::new();
    let path = scratch.write(
        "pinned/flow.py",
        &PINNED
            .replace(
                "@pypi_base(packages={'six': '1.16.0'})",
                "@pypi_base(packages=PACKAGES)",
            )
            .replace(
                "\n\n@pypi_base",
                "\nPACKAGES = {'six': '1.16.0'}\n\n\n@pypi_base",
            ),
    );
    let ran = run(&scratch, &[path.to_str().unwrap()]).ok();
    assert!(ran.stdout.contains("six 1.16.0"), "{}", ran.stdout);
}

#[test]
fn a_flow_reading_a_file_when_loaded_is_told_it_runs_sandboxed() {
    let scratch = Scratch::new();
    scratch.write("reads/config.txt", "x");
    let path = scratch.write(
        "reads/flow.py",
        &MISSING_START.replace("def begin", "def start").replace(
            "\n\nclass F",
            "import os\nCONFIG = open(os.path.join(os.path.dirname(__file__), 'config.txt')).read()\n\n\nclass F",
        ),
    );
    let stderr = scratch
        .mfw(["build".as_ref(), path.as_os_str()])
        .failed()
        .stderr;
    assert!(
        stderr.contains("flow.py:3: loading the flow failed: FileNotFoundError")
            && stderr.contains("module-level code runs sandboxed when the flow is built"),
        "{stderr}"
    );
}

const PINNED: &str = "\
from mfw import FlowSpec, pypi_base, step


@pypi_base(packages={'six': '1.16.0'})
class PinnedFlow(FlowSpec):
    @step
    def start(self):
        import six
        self.six_version = six.__version__
        self.next(self.end)

    @step
    def end(self):
        import sys
        print('six', self.six_version, 'python %d.%d' % sys.version_info[:2])
";

#[test]
fn a_pinned_pure_package_is_bundled_and_locked() {
    let scratch = Scratch::new();
    let flow = scratch.write("pinned/flow.py", PINNED);
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    assert!(ran.stdout.contains("end/0: six 1.16.0"), "{}", ran.stdout);
    // Wheels are resolved for the interpreter the component really runs.
    let build = std::fs::read_to_string(common::repo().join("guest-sdks/python/src/mfw/_build.py"))
        .unwrap();
    let target = build
        .lines()
        .find_map(|l| l.strip_prefix("TARGET_PYTHON = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("TARGET_PYTHON in _build.py");
    assert!(
        ran.stdout.contains(&format!("python {target}")),
        "wheels resolved for {target}: {}",
        ran.stdout
    );
    let env = scratch
        .mfw(["show".as_ref(), "--env".as_ref(), flow.as_os_str()])
        .ok();
    assert!(env.stdout.contains("six 1.16.0"), "{}", env.stdout);
    assert!(env.stdout.contains("sha256:"), "{}", env.stdout);
    // The same source and lock give the same component, rebuilt from
    // scratch rather than served from the build cache.
    let first = scratch.mfw(["build".as_ref(), flow.as_os_str()]).ok();
    let second = scratch
        .mfw(["build".as_ref(), "--force".as_ref(), flow.as_os_str()])
        .ok();
    assert!(second.stderr.contains("mfw: building"), "{}", second.stderr);
    let hash = |s: &str| s.split("blake3 ").nth(1).map(|h| h.trim().to_string());
    assert_eq!(hash(&first.stderr), hash(&second.stderr));
    assert!(hash(&first.stderr).is_some());
}

#[test]
fn rebuilding_a_flow_gives_the_same_bytes() {
    // Two caches, so nothing is shared between the builds but the sources:
    // componentize-py's start-up would otherwise put the moment's clocks,
    // random seed and file times into the interpreter snapshot.
    let scratch = Scratch::new();
    let flow = python_example("hello");
    let mut built = Vec::new();
    for name in ["first", "second"] {
        let cache = scratch.path().join(format!("cache-{name}"));
        let out = scratch.path().join(format!("{name}.wasm"));
        scratch
            .mfw_env(
                [
                    "build".as_ref(),
                    flow.as_os_str(),
                    "-o".as_ref(),
                    out.as_os_str(),
                ],
                &[("MFW_CACHE_DIR", cache.display().to_string())],
            )
            .ok();
        built.push(std::fs::read(&out).unwrap());
    }
    assert!(built[0] == built[1], "two builds of hello.py differ");
}

const IMPORTS_A_HOST_PACKAGE: &str = "\
from mfw import FlowSpec, step


class HostFlow(FlowSpec):
    @step
    def start(self):
        import mfw_host_only_probe
        self.value = mfw_host_only_probe.VALUE
        self.next(self.end)

    @step
    def end(self):
        pass
";

#[test]
fn packages_installed_on_the_build_machine_are_not_bundled() {
    let scratch = Scratch::new();
    // A virtualenv's site-packages holding a module the flow imports but
    // does not pin: componentize-py's command line would have put it on
    // the component's path.
    let site = scratch.write(
        "hostenv/lib/python3.11/site-packages/mfw_host_only_probe.py",
        "VALUE = 1\n",
    );
    let venv = site.ancestors().nth(4).unwrap().to_path_buf();
    let flow = scratch.write("host/flow.py", IMPORTS_A_HOST_PACKAGE);
    let ran = scratch
        .mfw_env(
            ["run".as_ref(), flow.as_os_str()],
            &[("VIRTUAL_ENV", venv.display().to_string())],
        )
        .failed();
    assert!(
        ran.stderr.contains("No module named 'mfw_host_only_probe'"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("pin it with @pypi"), "{}", ran.stderr);
}

/// A scratch flow of two components: the Rust vectors guest and
/// tests/polyglot/check.py with the vectors beside it as a module.
fn vectors_flow(scratch: &Scratch) -> std::path::PathBuf {
    let repo = common::repo();
    let vectors = std::fs::read_to_string(repo.join("tests/vectors/encoding.json")).unwrap();
    scratch.write(
        "polyglot/vectors.py",
        &format!("import json\n\nVECTORS = json.loads({:?})\n", vectors),
    );
    let check = std::fs::read_to_string(repo.join("tests/polyglot/check.py")).unwrap();
    scratch.write("polyglot/check.py", &check);
    scratch.write(
        "polyglot/mfw.toml",
        &format!(
            "name = \"VectorsFlow\"\n\n[[component]]\npath = {:?}\n\n[[component]]\npath = \"check.py\"\n",
            common::guest("vectors_rust").display().to_string()
        ),
    )
}

#[test]
fn artifacts_cross_between_rust_and_python_steps_byte_for_byte() {
    let scratch = Scratch::new();
    let manifest = vectors_flow(&scratch);
    let ran = scratch.mfw(["run".as_ref(), manifest.as_os_str()]).ok();
    let run = ran.run_id();
    let py = scratch.dump(&format!("VectorsFlow/{run}/check_py/0"));
    let rust = scratch.dump(&format!("VectorsFlow/{run}/check_rust/0"));
    assert_eq!(py["artifacts"]["py_mismatches"], serde_json::json!([]));
    assert_eq!(rust["artifacts"]["rust_mismatches"], serde_json::json!([]));
    let sent = rust["artifacts"]["indices"].as_array().map_or(0, Vec::len);
    assert!(sent > 80, "most vectors cross ({sent})");
    assert_eq!(py["artifacts"]["py_checked"], sent);
    assert_eq!(rust["artifacts"]["rust_checked"], sent);
}

#[test]
fn a_manifest_naming_a_missing_file_says_which() {
    let scratch = Scratch::new();
    let manifest = scratch.write("flow/mfw.toml", "[[component]]\npath = \"nowhere.py\"\n");
    let ran = scratch.mfw(["run".as_ref(), manifest.as_os_str()]).failed();
    assert!(
        ran.stderr.contains(&format!(
            "{} names nowhere.py, which does not exist",
            manifest.display()
        )),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_step_defined_twice_across_components_names_both() {
    let scratch = Scratch::new();
    let hello = python_example("hello").join("hello.py");
    let manifest = scratch.write(
        "twice/mfw.toml",
        &format!(
            "[[component]]\npath = {:?}\n\n[[component]]\npath = {:?}\n",
            hello.display().to_string(),
            common::example("hello").display().to_string()
        ),
    );
    let ran = scratch
        .mfw(["check".as_ref(), manifest.as_os_str()])
        .failed();
    assert!(
        ran.stderr.contains("step `start` is defined twice: in")
            && ran.stderr.contains("define each step in one component"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_step_referenced_but_defined_nowhere_is_located() {
    let scratch = Scratch::new();
    // The Python half alone: check_py goes to check_rust, which nothing defines.
    vectors_flow(&scratch);
    let manifest = scratch.write("polyglot/mfw.toml", "[[component]]\npath = \"check.py\"\n");
    let ran = scratch
        .mfw(["check".as_ref(), manifest.as_os_str()])
        .failed();
    assert!(
        ran.stdout
            .contains("step `check_py` goes to `check_rust`, which is not a step of this flow"),
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    assert!(
        ran.stdout.contains("check.py:"),
        "located at the Python source: {}",
        ran.stdout
    );
}

#[test]
fn python_steps_get_limits_retries_and_catch_too() {
    let scratch = Scratch::new();
    let flow = scratch.write(
        "limits/flow.py",
        "\
from mfw import FlowSpec, catch, current, resources, retry, step, timeout


class LimitsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.flaky)

    @retry(times=1, minutes_between_retries=0)
    @step
    def flaky(self):
        if current.retry_count == 0:
            raise RuntimeError('first attempt fails')
        self.retried = current.retry_count
        self.next(self.spin)

    @catch(var='spun')
    @timeout(seconds=1)
    @step
    def spin(self):
        while True:
            pass
        self.next(self.nap)

    # A sleep waits in the host, not in wasm: the deadline must still stop it.
    @catch(var='slept')
    @timeout(seconds=1)
    @step
    def nap(self):
        import time
        time.sleep(3600)
        self.next(self.hog)

    @catch(var='hogged')
    @resources(memory=64)
    @step
    def hog(self):
        self.big = bytearray(200 * 1024 * 1024)
        self.next(self.end)

    @step
    def end(self):
        pass
",
    );
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    let run = ran.run_id();
    let end = scratch.dump(&format!("LimitsFlow/{run}/end/0"));
    assert_eq!(end["artifacts"]["retried"], 1);
    assert_eq!(
        end["artifacts"]["spun"]["message"],
        "step `spin` timed out after 1 s"
    );
    assert_eq!(
        end["artifacts"]["slept"]["message"],
        "step `nap` timed out after 1 s"
    );
    assert_eq!(
        end["artifacts"]["hogged"]["message"],
        "step `hog` exceeded its memory limit of 64 MB"
    );
}

#[test]
fn a_module_that_failed_to_import_at_build_says_why_in_the_step() {
    let scratch = Scratch::new();
    scratch.write(
        "broken/helper.py",
        "raise RuntimeError('needs a GPU at import')\n",
    );
    let flow = scratch.write(
        "broken/flow.py",
        "\
from mfw import FlowSpec, step


class BrokenFlow(FlowSpec):
    @step
    def start(self):
        import helper  # noqa: F401
        self.next(self.end)

    @step
    def end(self):
        pass
",
    );
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).failed();
    assert!(
        ran.stderr.contains(
            "No module named 'helper': importing it failed when the component was built: \
             RuntimeError: needs a GPU at import"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_flow_whose_imported_memory_outgrows_the_snapshot_says_what_to_do() {
    // 1.2 GB allocated when the flow's module is imported: more than the
    // build's snapshot may copy out of the component.
    let stderr = build_error(
        "from mfw import FlowSpec, step\n\
         \n\
         TABLE = bytearray(1200 * 1024 * 1024)\n\
         \n\
         \n\
         class BigFlow(FlowSpec):\n\
         \x20   @step\n\
         \x20   def start(self):\n\
         \x20       self.next(self.end)\n\
         \n\
         \x20   @step\n\
         \x20   def end(self):\n\
         \x20       pass\n",
    );
    assert!(
        stderr.contains(
            "the flow's memory after importing its code and packages is larger than the 1 GiB"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("pin fewer native packages"), "{stderr}");
}
