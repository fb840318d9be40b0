//! Bad input gets a clear error naming the thing and the fix, the run is
//! recorded as failed, and what was already stored stays.

mod common;

use common::{Scratch, guest};

fn stderr_of_run(scratch: &Scratch, path: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec!["run".to_string(), path.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    scratch.mfw(&args).failed().stderr
}

#[test]
fn a_missing_file_is_named() {
    let scratch = Scratch::new();
    let stderr = stderr_of_run(&scratch, "no/such/flow".as_ref(), &[]);
    assert!(
        stderr.contains("mfw: error: flow not found: no/such/flow (No such file or directory"),
        "{stderr}"
    );
}

#[test]
fn a_core_module_is_not_a_component() {
    let scratch = Scratch::new();
    let path = scratch.path().join("core.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let stderr = stderr_of_run(&scratch, &path, &[]);
    assert!(
        stderr.contains(&format!(
            "{} is a core WebAssembly module, not a component: build flows with `mfw build` \
             (Rust target wasm32-wasip2) or wrap the module with `wasm-tools component new`",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_wasm_is_named() {
    let scratch = Scratch::new();
    let path = scratch.path().join("notes.wasm");
    std::fs::write(&path, b"hello").unwrap();
    let stderr = stderr_of_run(&scratch, &path, &[]);
    assert!(
        stderr.contains("is not a WebAssembly file (it does not start with `\\0asm`)"),
        "{stderr}"
    );
}

#[test]
fn a_component_that_is_not_a_flow_is_refused() {
    let scratch = Scratch::new();
    let path = guest("not-a-flow");
    let stderr = stderr_of_run(&scratch, &path, &[]);
    assert!(
        stderr.contains(&format!(
            "{} is not an mfw flow: it neither imports nor exports any mfw:flow interface \
             (it exports wasi:cli/run@",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_component_exporting_no_graph_is_refused() {
    let scratch = Scratch::new();
    let path = guest("no_graph");
    let stderr = stderr_of_run(&scratch, &path, &[]);
    assert!(
        stderr.contains(&format!(
            "{} exports no mfw graph: it imports mfw:flow@0.1.6 but does not export \
             `mfw:flow/flow@0.1.6` (graph and run-step)",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_component_built_against_another_contract_names_both_versions() {
    let scratch = Scratch::new();
    let path = guest("future_contract");
    let stderr = stderr_of_run(&scratch, &path, &[]);
    assert!(
        stderr.contains(&format!(
            "{} was built against mfw:flow@0.2.0, but this mfw runs components built against \
             mfw:flow@0.1.x",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_component_built_against_an_earlier_0_1_contract_still_runs() {
    // Built against mfw:flow@0.1.4, before `streams`: its imports link to
    // the host's semver-compatible ones.
    let scratch = Scratch::new();
    let path = guest("old_contract");
    let ran = scratch.mfw(["run".as_ref(), path.as_os_str()]).ok();
    let end = scratch.dump(&format!("OldFlow/{}/end/0", ran.run_id()));
    assert_eq!(end["artifacts"]["x"], 1);
    assert_eq!(end["artifacts"]["y"], 2);
}

#[test]
fn an_invalid_graph_is_listed_by_check_and_recorded_by_run() {
    let scratch = Scratch::new();
    let path = guest("bad_graph");
    let checked = scratch.mfw(["check".as_ref(), path.as_os_str()]).failed();
    assert_eq!(
        checked.stdout,
        "flow `UnjoinedFlow` has an invalid graph:\n  \
         - bad-graph/src/lib.rs:27: step `end` has several inputs (from `a`, `b`) but is not \
         declared as a join; give it an `inputs` parameter\n  \
         - bad-graph/src/lib.rs:12: the split at step `start` is never joined: add a join step \
         before `end`\n"
    );
    let stderr = stderr_of_run(&scratch, &path, &[]);
    assert!(
        stderr.contains("the split at step `start` is never joined"),
        "{stderr}"
    );
    let runs = scratch.mfw(["runs", "UnjoinedFlow"]).ok();
    assert!(runs.stdout.contains("failed"), "{}", runs.stdout);
    assert!(
        scratch.files("flows/UnjoinedFlow").len() == 1,
        "only the run record"
    );
}

/// Runs the faulty flow in `mode`; checks the run failed with `message` for
/// task fail/0, and that start's artifact survived.
fn faulty(mode: &str, message: &str) {
    let scratch = Scratch::new();
    let ran = scratch
        .mfw([
            "run".as_ref(),
            guest("faulty").as_os_str(),
            "--mode".as_ref(),
            mode.as_ref(),
        ])
        .failed();
    assert!(
        ran.stderr.contains(&format!("  fail/0: {message}")),
        "expected `{message}` in:\n{}",
        ran.stderr
    );
    let run = ran.run_id();
    let runs = scratch.mfw(["runs", "FaultyFlow"]).ok();
    let line = runs
        .stdout
        .lines()
        .find(|l| l.contains(&run))
        .expect("the run is listed");
    assert!(line.contains("failed"), "{line}");
    let start = scratch.dump(&format!("FaultyFlow/{run}/start/0"));
    assert_eq!(start["artifacts"]["before"], 1, "what start stored stays");
    let failed = scratch.dump(&format!("FaultyFlow/{run}/fail/0"));
    assert_eq!(failed["status"], "failed");
}

#[test]
fn a_step_error_names_the_step_and_kind() {
    faulty("error", "step `fail` failed: ValueError: the data is bad");
}

#[test]
fn a_panic_names_its_message_and_place() {
    faulty("panic", "step `fail` panicked: boom (at faulty/src/lib.rs:");
}

#[test]
fn a_trap_is_contained() {
    faulty(
        "trap",
        "step `fail` crashed: wasm trap: wasm `unreachable` instruction executed",
    );
}

#[test]
fn unbounded_recursion_is_contained() {
    faulty(
        "stack",
        "step `fail` crashed: stack overflow: the step recursed too deeply \
         (wasm trap: call stack exhausted)",
    );
}

#[test]
fn a_next_the_graph_does_not_declare_names_both() {
    faulty(
        "next-undeclared",
        "step `fail` called next(start) but its graph declares next(end)",
    );
}

#[test]
fn calling_next_twice_fails_the_task() {
    faulty(
        "next-twice",
        "step `fail` called next twice (first next(end), then next(end))",
    );
}

#[test]
fn returning_without_next_fails_the_task() {
    faulty(
        "no-next",
        "step `fail` returned without calling next; its graph declares next(end)",
    );
}

#[test]
fn an_invalid_artifact_name_is_refused() {
    faulty(
        "bad-name",
        "step `fail` failed: InvalidArtifactName: `not a name` is not a valid artifact name",
    );
}

#[test]
fn malformed_values_are_refused() {
    faulty(
        "bad-value",
        "step `fail` failed: InvalidArtifactValue: the value given for `x` is not in the mfw \
         encoding: unexpected break (0xff) at byte 0",
    );
}

#[test]
fn reading_a_missing_artifact_names_it() {
    faulty(
        "missing",
        "step `fail` failed: ArtifactNotFound: step `fail` has no artifact `nope`",
    );
}

#[test]
fn the_faulty_flow_succeeds_when_nothing_goes_wrong() {
    // The failures above come from the modes, not from the flow itself.
    let scratch = Scratch::new();
    let ran = scratch
        .mfw(["run".as_ref(), guest("faulty").as_os_str()])
        .ok();
    let run = ran.run_id();
    assert_eq!(
        scratch.dump(&format!("FaultyFlow/{run}/end/0"))["artifacts"]["after"],
        2
    );
}

#[test]
fn unknown_and_missing_parameters_are_named() {
    let scratch = Scratch::new();
    let stderr = stderr_of_run(&scratch, &guest("faulty"), &["--moed", "x"]);
    assert!(
        stderr.contains("flow `FaultyFlow` has no parameter --moed; its parameters: --mode"),
        "{stderr}"
    );
}
