//! What a step gets by default: nothing from the outside world, and a
//! virtual clock and seeded randomness so its output is reproducible.

mod common;

use std::path::Path;

use common::{Scratch, example, guest};

/// Runs the probe (its task runs each time: a cached one would prove
/// nothing) and returns the run and what its task saw.
fn probe(scratch: &Scratch) -> (String, serde_json::Value) {
    let ran = scratch
        .mfw([
            "run".as_ref(),
            "--no-cache".as_ref(),
            guest("probe").as_os_str(),
        ])
        .ok();
    let run = ran.run_id();
    let dump = scratch.dump(&format!("ProbeFlow/{run}/start/0"));
    (run, dump["artifacts"].clone())
}

#[test]
fn a_step_sees_no_files_and_no_environment() {
    let scratch = Scratch::new();
    let (_, seen) = probe(&scratch);
    assert_eq!(seen["root_readable"], false);
    assert_eq!(seen["passwd_readable"], false);
    assert_eq!(seen["env_count"], 0);
}

#[test]
fn a_rust_steps_environment_decorator_sets_exactly_its_variables() {
    let scratch = Scratch::new();
    let (run, _) = probe(&scratch);
    let end = scratch.dump(&format!("ProbeFlow/{run}/end/0"));
    assert_eq!(end["artifacts"]["greeting"], "hello from the graph");
    assert_eq!(end["artifacts"]["env_count"], 1);
}

#[test]
fn the_clock_is_virtual_and_still_moves() {
    let scratch = Scratch::new();
    let (_, seen) = probe(&scratch);
    assert_eq!(seen["now_secs"], 1_704_067_200, "2024-01-01T00:00:00Z");
    assert_eq!(seen["elapsed_positive"], true);
}

#[test]
fn a_nan_has_one_bit_pattern_whatever_the_cpu() {
    let scratch = Scratch::new();
    let (_, seen) = probe(&scratch);
    // x86's own NaN for 0/0 is 0xfff8...; the canonical one is positive.
    assert_eq!(seen["nan_bits"], 0x7ff8_0000_0000_0000u64);
    assert_eq!(seen["nan32_bits"], 0x7fc0_0000u32);
}

#[test]
fn a_task_gives_the_same_bytes_in_every_run() {
    let scratch = Scratch::new();
    let (first, a) = probe(&scratch);
    let (second, b) = probe(&scratch);
    assert_ne!(first, second);
    assert_eq!(
        a, b,
        "clock, randomness and everything else are reproducible"
    );
    let record = |run: &str| -> serde_json::Value {
        let path = scratch.path().join(format!(
            ".mfw/flows/ProbeFlow/runs/{run}/tasks/start/0.json"
        ));
        serde_json::from_str(&std::fs::read_to_string(path).expect("the record")).expect("JSON")
    };
    assert_eq!(
        record(&first)["artifacts"],
        record(&second)["artifacts"],
        "same hashes"
    );
}

#[test]
fn max_num_splits_guards_the_fan_out() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw([
            "run".as_ref(),
            example("wide").as_os_str(),
            "--n".as_ref(),
            "20".as_ref(),
            "--max-num-splits".as_ref(),
            "10".as_ref(),
        ])
        .failed();
    assert!(
        ran.stderr.contains(
            "step `start` fans out over `items` into 20 tasks, more than the limit of 10 \
             (raise it with --max-num-splits)"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn compiled_components_are_cached_by_hash() {
    let scratch = Scratch::new();
    scratch
        .mfw(["run".as_ref(), guest("probe").as_os_str()])
        .ok();
    let bytes = std::fs::read(guest("probe")).expect("the probe component");
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let compiled = common::cache_dir().join("compiled");
    let cached = std::fs::read_dir(&compiled)
        .expect("the compile cache exists")
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{hash}-"))
        });
    assert!(cached, "no {hash}-*.cwasm in {}", compiled.display());
}

#[test]
fn a_flow_named_to_climb_out_of_the_store_is_refused() {
    let scratch = Scratch::new();
    let evil = guest("evil_name");
    // Where `.mfw/flows/../../victim` would land, with a staging-like file
    // that a resume of such a run would have deleted.
    let victim = scratch.write("victim/runs/1/keep#me", "mine");
    for command in ["run", "resume"] {
        let ran = scratch.mfw([command.as_ref(), evil.as_os_str()]).failed();
        assert!(
            ran.stderr
                .contains("`../../victim` is not a valid flow name: use letters, digits and `_`"),
            "{command}: {}",
            ran.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "mine");
    let entries: Vec<_> = std::fs::read_dir(scratch.path().join("victim"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        entries,
        ["runs"],
        "nothing written beside the victim's files"
    );
    let flows = std::fs::read_dir(scratch.path().join(".mfw/flows"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(flows, 0, "no flow directory was made");
}

/// Runs `mfw run` on `flow` with `args` and returns its exit code and its
/// peak resident memory in MB (the kernel's high-water mark, read until the
/// process exits).
fn peak_mb_of_run(scratch: &Scratch, flow: &Path, args: &[&str]) -> (i32, u64) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mfw"))
        .arg("run")
        .arg(flow)
        .args(args)
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", common::cache_dir())
        .env_remove("MFW_DATASTORE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mfw starts");
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kb: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak_kb = peak_kb.max(kb);
        }
        if let Some(code) = child.try_wait().expect("mfw runs") {
            return (code.code().unwrap_or(-1), peak_kb >> 10);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_wide_fan_out_of_a_step_with_many_artifacts_shares_their_map() {
    // 1,000 artifacts, then a foreach: a copy of the map per task and per
    // join input would grow the host by about 200 MB more per 1,000 tasks.
    let scratch = Scratch::new();
    let flow = scratch.write(
        "wide/flow.py",
        "from mfw import FlowSpec, Parameter, step\n\
         \n\
         \n\
         class ManyFlow(FlowSpec):\n\
         \x20   n = Parameter('n', default=10)\n\
         \n\
         \x20   @step\n\
         \x20   def start(self):\n\
         \x20       for i in range(1000):\n\
         \x20           setattr(self, f'a{i}', i)\n\
         \x20       self.items = list(range(self.n))\n\
         \x20       self.next(self.each, foreach='items')\n\
         \n\
         \x20   @step\n\
         \x20   def each(self):\n\
         \x20       self.next(self.join)\n\
         \n\
         \x20   @step\n\
         \x20   def join(self, inputs):\n\
         \x20       self.next(self.end)\n\
         \n\
         \x20   @step\n\
         \x20   def end(self):\n\
         \x20       pass\n",
    );
    // Compiled first, so neither measured run includes Cranelift.
    let (code, _) = peak_mb_of_run(&scratch, &flow, &["--n", "1"]);
    assert_eq!(code, 0);
    let (code, few) = peak_mb_of_run(&scratch, &flow, &["--n", "100"]);
    assert_eq!(code, 0);
    let (code, many) = peak_mb_of_run(&scratch, &flow, &["--n", "2000"]);
    assert_eq!(code, 0);
    assert!(
        many < few + 80,
        "1,900 more tasks took the host from {few} MB to {many} MB"
    );
}

/// The (start, end) of every `nap` task of NapFlow's run `run`, in ms.
fn nap_spans(scratch: &Scratch, run: &str) -> Vec<(u64, u64)> {
    let dir = scratch
        .path()
        .join(format!(".mfw/flows/NapFlow/runs/{run}/tasks/nap"));
    let mut spans: Vec<(u64, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            let attempt = &record["attempts"][0];
            (
                attempt["started_at"].as_u64().unwrap(),
                attempt["finished_at"].as_u64().unwrap(),
            )
        })
        .collect();
    spans.sort();
    spans
}

#[test]
fn tasks_wait_when_their_memory_limits_would_pass_the_runs_budget() {
    // Four workers, 64 MB per task: with 100 MB in flight the tasks run one
    // at a time; with 300 MB they overlap.
    let scratch = Scratch::new();
    let flow = scratch.write(
        "nap/flow.py",
        "from mfw import FlowSpec, step\n\
         \n\
         \n\
         class NapFlow(FlowSpec):\n\
         \x20   @step\n\
         \x20   def start(self):\n\
         \x20       self.items = list(range(4))\n\
         \x20       self.next(self.nap, foreach='items')\n\
         \n\
         \x20   @step\n\
         \x20   def nap(self):\n\
         \x20       import time\n\
         \x20       time.sleep(0.3)\n\
         \x20       self.next(self.join)\n\
         \n\
         \x20   @step\n\
         \x20   def join(self, inputs):\n\
         \x20       self.next(self.end)\n\
         \n\
         \x20   @step\n\
         \x20   def end(self):\n\
         \x20       pass\n",
    );
    let overlapping = |budget_mb: u32| {
        let config = scratch.write(
            &format!("config-{budget_mb}.toml"),
            &format!("[defaults]\nin_flight_mb = {budget_mb}\n"),
        );
        let ran = scratch
            .mfw_env(
                [
                    "run".as_ref(),
                    flow.as_os_str(),
                    "--max-workers".as_ref(),
                    "4".as_ref(),
                    "--memory".as_ref(),
                    "64".as_ref(),
                    // Each run must run its tasks, not take them from the last.
                    "--no-cache".as_ref(),
                ],
                &[("MFW_CONFIG", config.display().to_string())],
            )
            .ok();
        let spans = nap_spans(&scratch, &ran.run_id());
        spans.windows(2).any(|w| w[1].0 < w[0].1)
    };
    assert!(
        !overlapping(100),
        "a task started while another held the budget"
    );
    assert!(
        overlapping(300),
        "with room for all four, they ran together"
    );
}

#[test]
fn a_prebuilt_components_grants_need_consent() {
    // The attacker component grants itself the directories beside it, an
    // environment variable and a socket: named as a .wasm (not built here),
    // it does not run until the user accepts them.
    let scratch = attack_scene();
    let refused = scratch
        .mfw_env(
            ["run", "attacker.wasm"],
            &[("MFW_ALLOW_GRANTS", "false".to_string())],
        )
        .failed();
    for expected in [
        "this component was not built here, and asks for:",
        "step `attack` of attacker.wasm: read",
        "write",
        "env [\"MFW_TEST_VISIBLE\"]",
        "network [\"localhost:47123\"]",
        "run it with --allow-grants",
    ] {
        assert!(
            refused.stderr.contains(expected),
            "{expected}: {}",
            refused.stderr
        );
    }
    assert!(!scratch.path().join(".mfw/flows/AttackFlow/runs").exists());
    // Accepted after the flow's path too, like other run options.
    let accepted = scratch.mfw_env(
        ["run", "attacker.wasm", "--allow-grants"],
        &[("MFW_ALLOW_GRANTS", "false".to_string())],
    );
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
}

#[test]
fn a_step_never_gets_the_datastores_credentials() {
    let scratch = Scratch::new();
    let flow = scratch.write(
        "creds/flow.py",
        "from mfw import FlowSpec, grant, step\n\
         \n\
         \n\
         class LootFlow(FlowSpec):\n\
         \x20   @grant(env=['AWS_SECRET_ACCESS_KEY'])\n\
         \x20   @step\n\
         \x20   def start(self):\n\
         \x20       import os\n\
         \x20       self.loot = os.environ.get('AWS_SECRET_ACCESS_KEY')\n\
         \x20       self.next(self.end)\n\
         \n\
         \x20   @step\n\
         \x20   def end(self):\n\
         \x20       pass\n",
    );
    let ran = scratch.mfw_env(
        ["run".as_ref(), flow.as_os_str()],
        &[("AWS_SECRET_ACCESS_KEY", "the-datastore-secret".to_string())],
    );
    assert_ne!(ran.code, 0);
    assert!(
        ran.stderr.contains(
            "step `start` is granted the environment variable AWS_SECRET_ACCESS_KEY, which may \
             hold mfw's own datastore credentials"
        ),
        "{}",
        ran.stderr
    );
    assert!(!ran.stdout.contains("the-datastore-secret"));
    assert!(!scratch.path().join(".mfw/flows/LootFlow/runs").exists());
}

/// A flow whose module-level code, run when the flow is built, tries to
/// read a file beside the store, read a variable, write a file and open a
/// socket on the machine that builds it.
const BUILD_TIME_ATTACK: &str = "\
import os
import socket

from mfw import FlowSpec, step

FOUND = {}
try:
    with open('SECRET') as f:
        FOUND['file'] = f.read()
except Exception as e:
    FOUND['file'] = 'denied: ' + type(e).__name__
FOUND['env'] = os.environ.get('MFW_BUILD_SECRET', 'absent')
try:
    with open('PLANTED', 'w') as f:
        f.write('planted')
    FOUND['write'] = 'written'
except Exception as e:
    FOUND['write'] = 'denied: ' + type(e).__name__
try:
    socket.create_connection(('127.0.0.1', PORT), timeout=1)
    FOUND['socket'] = 'connected'
except Exception as e:
    FOUND['socket'] = 'denied: ' + type(e).__name__


class BuildTimeFlow(FlowSpec):
    @step
    def start(self):
        self.found = FOUND
        self.next(self.end)

    @step
    def end(self):
        print('found', sorted(self.found.items()))
";

#[test]
fn building_a_python_flow_runs_its_module_code_in_the_sandbox() {
    let scratch = Scratch::new();
    let secret = scratch.write("outside/secret.txt", "the-build-machines-secret");
    let planted = scratch.path().join("outside/planted.txt");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let port = listener.local_addr().expect("its address").port();
    let flow = scratch.write(
        "flow/attack.py",
        &BUILD_TIME_ATTACK
            .replace("SECRET", &secret.to_string_lossy())
            .replace("PLANTED", &planted.to_string_lossy())
            .replace("PORT", &port.to_string()),
    );
    let ran = scratch
        .mfw_env(
            ["run".as_ref(), flow.as_os_str()],
            &[("MFW_BUILD_SECRET", "the-variables-secret".to_string())],
        )
        .ok();
    let found = ran
        .stdout
        .lines()
        .find(|l| l.contains("found ["))
        .unwrap_or_else(|| panic!("no findings printed: {}", ran.stdout));
    assert!(
        found.contains("('file', 'denied: FileNotFoundError')"),
        "{found}"
    );
    assert!(found.contains("('env', 'absent')"), "{found}");
    assert!(
        found.contains("('write', 'denied: FileNotFoundError')"),
        "{found}"
    );
    assert!(found.contains("('socket', 'denied: "), "{found}");
    assert!(!ran.stdout.contains("secret"), "{}", ran.stdout);
    assert!(!planted.exists(), "the build wrote outside the sandbox");
    assert!(
        listener.accept().is_err(),
        "the build connected to a local port"
    );
}

#[test]
fn a_tampered_compiled_component_is_compiled_again_not_run() {
    let scratch = Scratch::new();
    let cache = scratch.path().join("cache");
    let env = [("MFW_CACHE_DIR", cache.display().to_string())];
    let probe = guest("probe");
    let first = scratch
        .mfw_env(["run".as_ref(), probe.as_os_str()], &env)
        .ok();
    // A compile says so: for a large component it takes up to a minute.
    assert!(
        first.stderr.contains("mfw: compiling ") && first.stderr.contains("probe.wasm"),
        "{}",
        first.stderr
    );
    let compiled: Vec<_> = std::fs::read_dir(cache.join("compiled"))
        .expect("the compile cache exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(compiled.len(), 1, "{compiled:?}");
    let cwasm = &compiled[0];
    let original = std::fs::read(cwasm).unwrap();
    // The attack: overwrite a stretch in the middle of the native code (a
    // trap instruction pattern, as a planted file would carry).
    let mut planted = original.clone();
    let middle = planted.len() / 2;
    planted[middle..middle + 4096].fill(0xcc);
    std::fs::write(cwasm, &planted).unwrap();

    // Contained: the run (its task runs, not taken from the cache) succeeds
    // on freshly compiled code, and the cache holds a valid file again.
    let ran = scratch.mfw_env(
        ["run".as_ref(), "--no-cache".as_ref(), probe.as_os_str()],
        &env,
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(std::fs::read(cwasm).unwrap(), original);
    // A MAC planted with the code does not help without the cache's key.
    let forged = blake3::hash(&planted).to_hex().to_string();
    std::fs::write(cwasm, &planted).unwrap();
    std::fs::write(cwasm.with_extension("cwasm.mac"), forged).unwrap();
    let ran = scratch.mfw_env(
        ["run".as_ref(), "--no-cache".as_ref(), probe.as_os_str()],
        &env,
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(std::fs::read(cwasm).unwrap(), original);

    // The functions a compile reuses: code changed in their packs (one per
    // compile that compiled anything) is compiled again, not run, and the
    // component's code is what compiling it from nothing gave.
    let packs: Vec<_> = std::fs::read_dir(cache.join("compiled/functions"))
        .expect("the compiled functions are kept")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "values"))
        .collect();
    assert!(!packs.is_empty());
    for pack in &packs {
        // One bit in each of 64 places: most land in a function's machine
        // code and leave the rest of it well-formed, as a planted
        // instruction would.
        let mut functions = std::fs::read(pack).unwrap();
        let len = functions.len();
        for place in 1..=64 {
            functions[len * place / 65] ^= 0x10;
        }
        std::fs::write(pack, &functions).unwrap();
    }
    std::fs::remove_file(cwasm).unwrap();
    let ran = scratch.mfw_env(
        ["run".as_ref(), "--no-cache".as_ref(), probe.as_os_str()],
        &env,
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(std::fs::read(cwasm).unwrap(), original);
}

/// The files of the compile cache in `cache` whose extension is `ext`.
fn compiled_files(cache: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache.join("compiled"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_run_whose_tasks_all_come_from_the_cache_compiles_nothing() {
    let scratch = Scratch::new();
    let cache = scratch.path().join("cache");
    let env = [("MFW_CACHE_DIR", cache.display().to_string())];
    let wide = example("wide");
    let run = |extra: &[&str]| {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend([wide.to_str().unwrap(), "--n", "3"]);
        scratch.mfw_env(args, &env).ok()
    };
    run(&[]);
    let graphs = compiled_files(&cache, "graph");
    assert_eq!(graphs.len(), 1, "the graph is kept beside the code");
    for cwasm in compiled_files(&cache, "cwasm") {
        std::fs::remove_file(cwasm).unwrap();
    }
    let cached = run(&[]);
    assert!(cached.stderr.contains("ran 0"), "{}", cached.stderr);
    assert!(
        compiled_files(&cache, "cwasm").is_empty(),
        "nothing ran, so nothing was compiled"
    );
    run(&["--no-cache"]);
    assert_eq!(
        compiled_files(&cache, "cwasm").len(),
        1,
        "a task that runs compiles the component"
    );

    // A graph edited in the cache (a step renamed, its MAC kept) is not
    // believed: the component is asked again and the file rewritten.
    let original = std::fs::read_to_string(&graphs[0]).unwrap();
    std::fs::write(&graphs[0], original.replace("\"double\"", "\"triple\"")).unwrap();
    let ran = run(&["--no-cache"]);
    assert!(ran.stderr.contains("succeeded"), "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string(&graphs[0]).unwrap(), original);
}

/// A scratch flow directory holding the attacker component, the
/// directories its attack step is granted, and things it must not reach.
fn attack_scene() -> Scratch {
    let scratch = Scratch::new();
    std::fs::copy(guest("attacker"), scratch.path().join("attacker.wasm")).unwrap();
    scratch.write("data/inside.txt", "inside");
    scratch.write("out/.keep", "");
    scratch.write("secret.txt", "secret");
    let outside = scratch.write("elsewhere/secret.txt", "secret");
    std::os::unix::fs::symlink(outside.parent().unwrap(), scratch.path().join("data/link"))
        .unwrap();
    scratch
}

/// Runs the attack `mode`; returns (what mfw printed, the attack's stored
/// outcome if it got that far). The bystander always finishes: the three
/// branches get a worker each, because after a failure nothing new starts
/// and a fast attack could otherwise end the run before the bystander ran.
fn attack(scratch: &Scratch, mode: &str) -> (common::Ran, Option<String>) {
    let ran = scratch.mfw([
        "run",
        "--allow-grants",
        "--max-workers",
        "3",
        "attacker.wasm",
        "--mode",
        mode,
    ]);
    let run = ran.run_id();
    let bystander = scratch.dump(&format!("AttackFlow/{run}/bystander/0"));
    assert_eq!(
        bystander["status"], "succeeded",
        "the bystander is unaffected"
    );
    assert_eq!(bystander["artifacts"]["ok"], true);
    let attack = scratch.dump(&format!("AttackFlow/{run}/attack/0"));
    let outcome = attack["artifacts"]["outcome"].as_str().map(str::to_string);
    (ran, outcome)
}

fn denied(mode: &str, expected: &str) {
    let scratch = attack_scene();
    let (ran, outcome) = attack(&scratch, mode);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(outcome.as_deref(), Some(expected), "{mode}");
}

#[test]
fn reading_etc_passwd_is_denied() {
    denied(
        "read-passwd",
        "denied: No such file or directory (os error 44)",
    );
}

#[test]
fn a_granted_directory_is_readable() {
    // The control for the denials around it.
    denied("read-granted", "allowed");
}

#[test]
fn dotdot_out_of_a_granted_directory_is_denied() {
    denied("dotdot", "denied: Operation not permitted (os error 63)");
}

#[test]
fn a_symlink_out_of_a_granted_directory_is_denied() {
    denied("symlink", "denied: Operation not permitted (os error 63)");
}

#[test]
fn writing_outside_grants_is_denied() {
    denied(
        "write-outside",
        "denied: No such file or directory (os error 44)",
    );
}

#[test]
fn writing_a_read_only_grant_is_denied_and_a_writable_one_works() {
    denied(
        "write-readonly",
        "denied: Operation not permitted (os error 63)",
    );
    let scratch = attack_scene();
    let (_, outcome) = attack(&scratch, "write-granted");
    assert_eq!(outcome.as_deref(), Some("allowed"));
    let written = std::fs::read_to_string(scratch.path().join("out/written.txt")).unwrap();
    assert_eq!(written, "written");
    assert!(!scratch.path().join("data/new.txt").exists());
}

#[test]
fn only_granted_environment_variables_are_visible() {
    let scratch = attack_scene();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mfw"))
        .args(["run", "--allow-grants", "attacker.wasm", "--mode", "env"])
        .current_dir(scratch.path())
        .env("MFW_CACHE_DIR", common::cache_dir())
        .env("MFW_TEST_VISIBLE", "yes")
        .env("MFW_TEST_HIDDEN", "no")
        .output()
        .unwrap();
    assert!(output.status.success());
    let runs = scratch.mfw(["runs", "AttackFlow"]).ok();
    let run = runs
        .stdout
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let attack = scratch.dump(&format!("AttackFlow/{run}/attack/0"));
    assert_eq!(attack["artifacts"]["outcome"], "visible: MFW_TEST_VISIBLE");
}

#[test]
fn sockets_reach_only_listed_addresses() {
    let listener = std::net::TcpListener::bind("127.0.0.1:47123").expect("port 47123 is free");
    let server = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            use std::io::Write;
            let _ = stream.write_all(b"hello from the allowed host");
        }
    });
    denied("socket-allowed", "allowed");
    let _ = server.join();
    denied("socket-denied", "denied: Permission denied (os error 2)");
}

#[test]
fn only_granted_names_resolve() {
    // The machine's own name resolves here, and would in the sandbox if
    // lookups were not limited to the granted names.
    let own = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    use std::net::ToSocketAddrs;
    let resolvable = !own.is_empty() && (own.as_str(), 80).to_socket_addrs().is_ok();
    denied("resolve:localhost", "allowed");
    let name = if resolvable {
        own
    } else {
        "example.com".to_string()
    };
    let scratch = attack_scene();
    let (ran, outcome) = attack(&scratch, &format!("resolve:{name}"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let outcome = outcome.unwrap_or_default();
    assert_eq!(outcome, "denied: Permission denied (os error 2)", "{name}");
    let logs = scratch
        .mfw([
            "logs",
            &format!("AttackFlow/{}/attack/0", ran.run_id()),
            "--stderr",
        ])
        .ok();
    assert!(
        logs.stderr.contains(&format!(
            "name resolution of `{name}` denied: the step's network grants do not name it"
        )),
        "{}",
        logs.stderr
    );
}

fn contained(mode: &str, step: &str, message: &str) {
    let scratch = attack_scene();
    let (ran, _) = attack(&scratch, mode);
    assert_ne!(ran.code, 0);
    assert!(
        ran.stderr.contains(&format!("  {step}/0: {message}")),
        "{}",
        ran.stderr
    );
}

#[test]
fn allocating_past_the_memory_limit_fails_the_task() {
    contained(
        "memory",
        "attack",
        "step `attack` exceeded its memory limit of 64 MB",
    );
}

#[test]
fn one_value_under_many_names_is_held_once() {
    // 50 names for one 2 MB value, in a step limited to 64 MB: the host
    // keeps one copy, so the task succeeds within its limit (a copy per
    // name would be 100 MB).
    let scratch = attack_scene();
    let (ran, outcome) = attack(&scratch, "one-value-many-names");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(outcome.as_deref(), Some("stored under 50 names"));
}

#[test]
fn distinct_values_past_the_memory_limit_fail_the_task() {
    contained(
        "many-values",
        "attack",
        "step `attack` handed the host more artifact and object data than its memory limit of \
         64 MB",
    );
}

#[test]
fn a_huge_panic_message_is_cut_on_the_console_and_in_the_run_record() {
    let scratch = attack_scene();
    let (ran, _) = attack(&scratch, "huge-panic");
    assert_ne!(ran.code, 0);
    assert!(
        ran.stderr.len() < 256 << 10,
        "{} bytes on the console",
        ran.stderr.len()
    );
    assert!(
        ran.stderr.contains("step `attack` panicked: xxx"),
        "cut: {}",
        &ran.stderr[..2000.min(ran.stderr.len())]
    );
    assert!(ran.stderr.contains("bytes more"));
    let run = ran.run_id();
    let record = scratch
        .path()
        .join(format!(".mfw/flows/AttackFlow/runs/{run}/run.json"));
    let size = std::fs::metadata(record).unwrap().len();
    assert!(size < 256 << 10, "run.json is {size} bytes");
    // The log keeps the whole message.
    let logs = scratch
        .mfw(["logs", &format!("AttackFlow/{run}/attack/0")])
        .ok();
    assert!(logs.stdout.len() + logs.stderr.len() > 8 << 20);
}

#[test]
fn an_endless_loop_times_out() {
    contained("loop", "attack", "step `attack` timed out after 2 s");
}

#[test]
fn unbounded_recursion_is_reported_as_a_stack_overflow() {
    contained(
        "recurse",
        "attack",
        "step `attack` crashed: stack overflow: the step recursed too deeply",
    );
}

#[test]
fn an_hour_long_sleep_times_out_at_the_deadline() {
    contained("sleep", "attack", "step `attack` timed out after 2 s");
}

#[test]
fn a_2_gb_artifact_is_refused() {
    contained(
        "huge-artifact",
        "hoard",
        "step `hoard` passed the host more data in one call than it accepts: artifacts are \
         limited to 1024 MB",
    );
}

#[test]
fn a_grant_outside_the_flow_directory_needs_allow_dir() {
    let scratch = Scratch::new();
    let flow_dir = scratch.path().join("flow");
    std::fs::create_dir_all(flow_dir.join("out")).unwrap();
    std::fs::copy(guest("attacker"), flow_dir.join("attacker.wasm")).unwrap();
    // `data` is missing from the flow's directory; a symlink to elsewhere
    // points outside it.
    let elsewhere = scratch.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, flow_dir.join("data")).unwrap();
    let ran = scratch
        .mfw(["run", "--allow-grants", "flow/attacker.wasm"])
        .failed();
    assert!(
        ran.stderr.contains("outside the flow's directory"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("--allow-dir"), "{}", ran.stderr);
    let allowed = scratch
        .mfw([
            "run".as_ref(),
            "flow/attacker.wasm".as_ref(),
            "--allow-grants".as_ref(),
            "--allow-dir".as_ref(),
            elsewhere.as_os_str(),
        ])
        .ok();
    assert!(allowed.stderr.contains("succeeded"), "{}", allowed.stderr);
}

#[test]
fn grants_are_recorded_in_the_task_metadata() {
    let scratch = attack_scene();
    let ran = scratch.mfw(["run", "--allow-grants", "attacker.wasm"]).ok();
    let run = ran.run_id();
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.path().join(format!(
            ".mfw/flows/AttackFlow/runs/{run}/tasks/attack/0.json"
        )))
        .unwrap(),
    )
    .unwrap();
    let grants: Vec<&str> = record["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(
        grants.iter().any(|g| g.starts_with("read /data=")),
        "{grants:?}"
    );
    assert!(
        grants.iter().any(|g| g.starts_with("write /out=")),
        "{grants:?}"
    );
    assert!(grants.contains(&"connect 127.0.0.1:47123"), "{grants:?}");
    let bystander = std::fs::read_to_string(scratch.path().join(format!(
        ".mfw/flows/AttackFlow/runs/{run}/tasks/bystander/0.json"
    )))
    .unwrap();
    assert!(
        !bystander.contains("\"grants\""),
        "nothing granted, nothing recorded"
    );
}

#[test]
fn grants_are_shown_per_step() {
    let scratch = attack_scene();
    let shown = scratch.mfw(["show", "attacker.wasm"]).ok();
    assert!(shown.stdout.contains("@grant("), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("network=[\"localhost:47123\"]"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("@resources(memory=64)"),
        "{}",
        shown.stdout
    );
}

#[test]
fn resources_cpu_takes_worker_slots() {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw([
            "run".as_ref(),
            guest("heavy").as_os_str(),
            "--max-workers".as_ref(),
            "2".as_ref(),
        ])
        .ok();
    let run = ran.run_id();
    let span = |step: &str| -> (u64, u64) {
        let text = std::fs::read_to_string(scratch.path().join(format!(
            ".mfw/flows/HeavyFlow/runs/{run}/tasks/{step}/0.json"
        )))
        .unwrap();
        let record: serde_json::Value = serde_json::from_str(&text).unwrap();
        let attempt = &record["attempts"][0];
        (
            attempt["started_at"].as_u64().unwrap(),
            attempt["finished_at"].as_u64().unwrap(),
        )
    };
    let (a, b) = (span("a"), span("b"));
    assert!(
        a.1 <= b.0 || b.1 <= a.0,
        "two tasks that each take both slots ran at once: a {a:?}, b {b:?}"
    );
}

#[test]
fn a_file_parameter_default_cannot_read_outside_the_flow_directory() {
    // The attack: a flow whose IncludeFile default names a file of the
    // user's, which the host would read at run start and hand to the steps.
    let scratch = Scratch::new();
    let secret = scratch.write("home/secret.txt", "api-key");
    let flow = scratch.write(
        "flow/flow.py",
        &format!(
            "\
from mfw import FlowSpec, IncludeFile, step


class GreedyFlow(FlowSpec):
    loot = IncludeFile('loot', default={secret:?})

    @step
    def start(self):
        print('got', self.loot)
        self.next(self.end)

    @step
    def end(self):
        pass
",
            secret = secret.display().to_string()
        ),
    );
    let refused = scratch.mfw(["run".as_ref(), flow.as_os_str()]).failed();
    assert!(
        refused.stderr.contains(&format!(
            "parameter --loot: its default {} is outside the flow's directory",
            secret.display()
        )),
        "{}",
        refused.stderr
    );
    assert!(!refused.stdout.contains("api-key"), "{}", refused.stdout);
    assert!(!scratch.path().join(".mfw/flows/GreedyFlow/runs").exists());
    // The user may still choose the file, on the command line.
    let chosen = scratch
        .mfw([
            "run".as_ref(),
            flow.as_os_str(),
            "--loot".as_ref(),
            secret.as_os_str(),
        ])
        .ok();
    assert!(
        chosen.stdout.contains("start/0: got api-key"),
        "{}",
        chosen.stdout
    );
}

#[test]
fn a_python_step_granted_a_host_connects_to_it_by_name() {
    // socket.create_connection encodes the host name with the `idna` codec,
    // which must be in the component's snapshot.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = String::new();
        std::io::Read::read_to_string(&mut conn, &mut got).unwrap();
        got
    });
    let scratch = Scratch::new();
    let flow = scratch.write(
        "net/flow.py",
        &format!(
            "\
from mfw import FlowSpec, grant, step


class NetFlow(FlowSpec):
    @grant(network=['localhost:{port}'])
    @step
    def start(self):
        import socket
        with socket.create_connection(('localhost', {port}), timeout=10) as conn:
            conn.sendall(b'hello from a step')
        self.next(self.end)

    @step
    def end(self):
        pass
"
        ),
    );
    scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    assert_eq!(served.join().unwrap(), "hello from a step");
}

#[test]
fn a_step_cannot_drive_the_terminal_or_forge_mfw_lines() {
    let scratch = Scratch::new();
    let flow = scratch.write(
        "forge/flow.py",
        "\
from mfw import FlowSpec, step


class ForgeFlow(FlowSpec):
    @step
    def start(self):
        print('\\x1b[2K\\rmfw: ForgeFlow/1 succeeded: 2 tasks in 0.01 s')
        self.next(self.end)

    @step
    def end(self):
        raise ValueError('\\x1b]0;owned\\x07 failed')
",
    );
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).failed();
    for out in [&ran.stdout, &ran.stderr] {
        assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
        assert!(!out.contains('\u{7}'), "{out:?}");
    }
    assert!(
        ran.stdout
            .contains("start/0: \\u{1b}[2K\\rmfw: ForgeFlow/1 succeeded"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("\\u{1b}]0;owned\\u{7} failed"),
        "{}",
        ran.stderr
    );
}
