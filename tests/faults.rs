//! Damaged and interrupted stores: what `mfw runs`, `dump`, `resume` and
//! `doctor` do when records are truncated, blobs corrupt or missing, or
//! writers left staging files behind. Nothing damaged may block what it
//! does not feed.

mod common;

use std::path::{Path, PathBuf};

use common::minio::Minio;
use common::{Scratch, guest};

fn scene() -> Scratch {
    let scratch = Scratch::new();
    std::fs::copy(guest("resilient"), scratch.path().join("resilient.wasm")).unwrap();
    scratch
}

/// Runs the resilient flow over `n` items; returns the run id.
fn run(scratch: &Scratch, n: &str) -> String {
    scratch
        .mfw(["run", "resilient.wasm", "--n", n])
        .ok()
        .run_id()
}

fn run_dir(scratch: &Scratch, run: &str) -> PathBuf {
    scratch
        .path()
        .join(".mfw/flows/ResilientFlow/runs")
        .join(run)
}

/// Cuts a file to half its length, as a crash mid-write on a store without
/// atomic renames would.
fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

/// Writes `bytes` to `path`, last modified `seconds` ago: what a writer
/// killed that long ago left.
fn write_aged(path: &Path, bytes: &[u8], seconds: u64) {
    std::fs::write(path, bytes).unwrap();
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(seconds);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(then)
        .unwrap();
}

fn blob_file(scratch: &Scratch, hash: &str) -> PathBuf {
    scratch
        .path()
        .join(".mfw/blobs")
        .join(&hash[..2])
        .join(hash)
}

#[test]
fn a_truncated_run_record_leaves_the_other_runs_listed_and_is_named() {
    let scratch = scene();
    let first = run(&scratch, "2");
    let second = run(&scratch, "2");
    truncate(&run_dir(&scratch, &first).join("run.json"));
    let runs = scratch.mfw(["runs"]).ok();
    assert!(runs.stdout.contains(&second), "{}", runs.stdout);
    assert!(!runs.stdout.contains(&first), "{}", runs.stdout);
    assert!(
        runs.stderr.contains(&format!(
            "left out flows/ResilientFlow/runs/{first}/run.json, which is damaged"
        )),
        "{}",
        runs.stderr
    );
    // Reading the damaged run names the object and where to look further.
    let dump = scratch
        .mfw(["dump", &format!("ResilientFlow/{first}")])
        .failed();
    assert!(
        dump.stderr.contains("is not a valid mfw record")
            && dump
                .stderr
                .contains("`mfw doctor` lists every damaged object"),
        "{}",
        dump.stderr
    );
}

#[test]
fn a_truncated_task_record_is_reported_by_dump_and_rerun_by_resume() {
    let scratch = scene();
    let first = run(&scratch, "3");
    truncate(&run_dir(&scratch, &first).join("tasks/work/1.json"));
    // The run's other tasks are still shown; the damaged one is named.
    let dump = scratch
        .mfw(["dump", &format!("ResilientFlow/{first}")])
        .ok();
    assert!(dump.stdout.contains("ResilientFlow"), "{}", dump.stdout);
    assert!(
        dump.stderr
            .contains(&format!("runs/{first}/tasks/work/1.json, which is damaged")),
        "{}",
        dump.stderr
    );
    // Resume from the step runs the damaged task again and reuses the rest.
    let resumed = scratch
        .mfw(["resume", "resilient.wasm", &first, "--from-step", "work"])
        .ok();
    let end = scratch.dump(&format!("ResilientFlow/{}/end/0", resumed.run_id()));
    let original = scratch.dump(&format!("ResilientFlow/{first}/end/0"));
    assert_eq!(end["artifacts"], original["artifacts"]);
}

#[test]
fn doctor_lists_damage_with_what_it_affects_and_repair_sets_it_aside() {
    let scratch = scene();
    let first = run(&scratch, "3");
    let healthy = scratch.mfw(["doctor"]).ok();
    assert!(
        healthy.stdout.contains("nothing is damaged"),
        "{}",
        healthy.stdout
    );
    // A corrupt blob (start's items), a truncated task record and a
    // staging file a killed writer left.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run_dir(&scratch, &first).join("tasks/start/0.json")).unwrap(),
    )
    .unwrap();
    let items = record["artifacts"]["items"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(blob_file(&scratch, &items)).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(blob_file(&scratch, &items), &bytes).unwrap();
    truncate(&run_dir(&scratch, &first).join("tasks/work/2.json"));
    let staging = scratch.path().join(".mfw/blobs/ab/left#1");
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    write_aged(&staging, b"half", 3600);

    let found = scratch.mfw(["doctor"]).failed();
    let out = &found.stdout;
    assert!(
        out.contains(&format!("corrupt blob: blobs/{}/{items}", &items[..2])),
        "{out}"
    );
    assert!(
        out.contains(&format!("  affects ResilientFlow/{first}/start/0")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "damaged record: flows/ResilientFlow/runs/{first}/tasks/work/2.json"
        )),
        "{out}"
    );
    assert!(out.contains("staging file: blobs/ab/left#1"), "{out}");

    let repaired = scratch.mfw(["doctor", "--repair"]).ok();
    assert!(repaired.stdout.contains("repaired:"), "{}", repaired.stdout);
    assert!(!staging.exists());
    assert!(
        scratch
            .path()
            .join(".mfw/quarantine/blobs")
            .join(&items[..2])
            .join(&items)
            .exists()
    );
    let after = scratch.mfw(["doctor"]).ok();
    assert!(
        after.stdout.contains("nothing is damaged"),
        "{}",
        after.stdout
    );
    // The next resume runs what the damage fed and gets the clean result.
    let resumed = scratch
        .mfw(["resume", "resilient.wasm", &first, "--from-step", "start"])
        .ok();
    let reference = run(&scratch, "3");
    assert_eq!(
        scratch.dump(&format!("ResilientFlow/{}/end/0", resumed.run_id()))["artifacts"],
        scratch.dump(&format!("ResilientFlow/{reference}/end/0"))["artifacts"]
    );
}

#[test]
fn a_frozen_s3_endpoint_fails_the_run_within_the_bound_naming_it() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("frozen");
    let scratch = scene();
    let mut env = minio.env();
    env.push(("MFW_DATASTORE", "s3://frozen/store".to_string()));
    env.push(("MFW_STORE_TIMEOUT", "6".to_string()));
    // Reachable first: the run is recorded.
    scratch
        .mfw_env(["run", "resilient.wasm", "--n", "2"], &env)
        .ok();
    minio.freeze();
    let started = std::time::Instant::now();
    let frozen = scratch.mfw_env(["run", "resilient.wasm", "--n", "2"], &env);
    let elapsed = started.elapsed();
    minio.thaw();
    assert_ne!(frozen.code, 0, "{}", frozen.stdout);
    assert!(
        frozen.stderr.contains(&format!(
            "the store at {} did not answer within 6 s",
            minio.endpoint()
        )),
        "{}",
        frozen.stderr
    );
    // The bound holds with room for a busy machine; minutes would fail.
    assert!(
        elapsed < std::time::Duration::from_secs(20),
        "took {elapsed:?}"
    );
    // Thawed, the store works again.
    scratch.mfw_env(["runs"], &env).ok();
}

#[test]
fn a_run_whose_heartbeat_stopped_is_shown_stale_not_running() {
    let scratch = scene();
    let run_id = run(&scratch, "2");
    let dir = run_dir(&scratch, &run_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // As a killed process leaves it: running, last seen two minutes ago.
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    record["status"] = "running".into();
    record["started_at"] = (now - 180_000).into();
    record.as_object_mut().unwrap().remove("finished_at");
    std::fs::write(dir.join("run.json"), record.to_string()).unwrap();
    let beat = |at: u64| {
        std::fs::write(
            dir.join("heartbeat.json"),
            serde_json::json!({ "at": at }).to_string(),
        )
        .unwrap()
    };
    beat(now - 120_000);
    let runs = scratch.mfw(["runs"]).ok();
    let line = runs
        .stdout
        .lines()
        .find(|l| l.contains(&run_id))
        .unwrap()
        .to_string();
    assert!(line.contains(" stale "), "{line}");
    assert!(
        line.contains("1m0"),
        "the time it was last seen alive: {line}"
    );
    // Still beating: running.
    beat(now);
    let runs = scratch.mfw(["runs"]).ok();
    let line = runs.stdout.lines().find(|l| l.contains(&run_id)).unwrap();
    assert!(line.contains(" running "), "{line}");
}

#[test]
fn staging_files_killed_writers_left_are_swept_once_stale() {
    let scratch = scene();
    let first = run(&scratch, "2");
    let tasks = run_dir(&scratch, &first).join("tasks/start");
    let old = tasks.join("0.json#7");
    let fresh = tasks.join("0.json#8");
    write_aged(&old, b"half a record", 7200);
    std::fs::write(&fresh, b"a write in progress").unwrap();
    // Any later run sweeps the whole store.
    run(&scratch, "2");
    assert!(!old.exists(), "a stale staging file is removed");
    assert!(fresh.exists(), "a recent one may be a write in progress");
}
