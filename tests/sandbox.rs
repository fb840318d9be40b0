//! What a step gets by default: nothing from the outside world, and a
//! virtual clock and seeded randomness so its output is reproducible.

mod common;

use common::{Scratch, example, guest};

fn probe(scratch: &Scratch) -> (String, serde_json::Value) {
    let ran = scratch
        .mfw(["run".as_ref(), guest("probe").as_os_str()])
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
fn the_clock_is_virtual_and_still_moves() {
    let scratch = Scratch::new();
    let (_, seen) = probe(&scratch);
    assert_eq!(seen["now_secs"], 1_704_067_200, "2024-01-01T00:00:00Z");
    assert_eq!(seen["elapsed_positive"], true);
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
    let compiled = common::repo().join("target/mfw-test-cache/compiled");
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
