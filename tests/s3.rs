//! The datastore on a real S3 server (MinIO): the examples with the same
//! assertions as on the local store, and the faults an ops engineer meets.

mod common;

use common::minio::Minio;
use common::{Scratch, example, guest};

/// Runs `mfw args` against `s3://bucket/prefix` on `minio`.
fn mfw(scratch: &Scratch, minio: &Minio, store: &str, args: &[&str]) -> common::Ran {
    let mut all = vec!["--datastore".to_string(), store.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    scratch.mfw_env(&all, &minio.env())
}

fn dump(scratch: &Scratch, minio: &Minio, store: &str, pathspec: &str) -> serde_json::Value {
    let ran = mfw(scratch, minio, store, &["dump", "--json", pathspec]).ok();
    serde_json::from_str(&ran.stdout).expect("JSON")
}

#[test]
fn the_examples_run_on_s3_with_the_same_results() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("runs");
    let scratch = Scratch::new();
    let store = "s3://runs/team-a";
    let hello = mfw(
        &scratch,
        &minio,
        store,
        &["run", example("hello").to_str().unwrap()],
    )
    .ok();
    assert!(
        hello
            .stdout
            .contains("end/0: Hello world! The value of x is 2"),
        "{}",
        hello.stdout
    );
    let run = hello.run_id();
    assert_eq!(
        dump(&scratch, &minio, store, &format!("HelloFlow/{run}/end/0"))["artifacts"]["x"],
        2
    );
    let logs = mfw(
        &scratch,
        &minio,
        store,
        &["logs", &format!("HelloFlow/{run}/end/0")],
    )
    .ok();
    assert_eq!(logs.stdout, "Hello world! The value of x is 2\n");

    let wide = mfw(
        &scratch,
        &minio,
        store,
        &["run", example("wide").to_str().unwrap()],
    )
    .ok();
    let end = dump(
        &scratch,
        &minio,
        store,
        &format!("WideFlow/{}/end/0", wide.run_id()),
    );
    assert_eq!(end["artifacts"]["total"], 9900);

    let branch = mfw(
        &scratch,
        &minio,
        store,
        &["run", example("branch").to_str().unwrap()],
    )
    .ok();
    let end = dump(
        &scratch,
        &minio,
        store,
        &format!("BranchFlow/{}/end/0", branch.run_id()),
    );
    assert_eq!(end["artifacts"]["total"], 3);
    assert_eq!(end["artifacts"]["from_a"], "set in a");

    let nested = mfw(
        &scratch,
        &minio,
        store,
        &["run", example("nested").to_str().unwrap()],
    )
    .ok();
    let end = dump(
        &scratch,
        &minio,
        store,
        &format!("NestedFlow/{}/end/0", nested.run_id()),
    );
    assert_eq!(
        end["artifacts"]["all"],
        serde_json::json!(["a1", "a2", "b1", "b2", "c1", "c2"])
    );

    let train = mfw(
        &scratch,
        &minio,
        store,
        &["run", example("train").to_str().unwrap()],
    )
    .ok();
    let all = dump(
        &scratch,
        &minio,
        store,
        &format!("TrainFlow/{}", train.run_id()),
    );
    let rmses: Vec<f64> = all["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["step"] == "train")
        .map(|t| t["artifacts"]["rmse"].as_f64().unwrap())
        .collect();
    let best = rmses.iter().copied().fold(f64::INFINITY, f64::min);
    let end = dump(
        &scratch,
        &minio,
        store,
        &format!("TrainFlow/{}/end/0", train.run_id()),
    );
    assert_eq!(end["artifacts"]["best_rmse"].as_f64(), Some(best));

    // Nothing was written locally.
    assert!(!scratch.path().join(".mfw").exists());
    let runs = mfw(&scratch, &minio, store, &["runs"]).ok();
    assert_eq!(
        runs.stdout
            .lines()
            .filter(|l| l.contains("succeeded"))
            .count(),
        5,
        "{}",
        runs.stdout
    );
}

#[test]
fn identical_values_are_uploaded_once() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("dedup");
    let scratch = Scratch::new();
    let store = "s3://dedup";
    mfw(
        &scratch,
        &minio,
        store,
        &["run", example("hello").to_str().unwrap()],
    )
    .ok();
    let count = || {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let s3 = minio.client("dedup");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime
            .block_on(
                s3.list(Some(&object_store::path::Path::from("blobs")))
                    .try_collect::<Vec<_>>(),
            )
            .unwrap()
            .len()
    };
    let blobs = count();
    assert!(blobs > 0);
    mfw(
        &scratch,
        &minio,
        store,
        &["run", example("hello").to_str().unwrap()],
    )
    .ok();
    assert_eq!(count(), blobs);
}

#[test]
fn the_cache_is_shared_by_everyone_using_the_bucket() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("team");
    let store = "s3://team/cache";
    let train = example("train");
    // Two machines: nothing local in common but the bucket.
    let (alice, bob) = (Scratch::new(), Scratch::new());
    let first = mfw(&alice, &minio, store, &["run", train.to_str().unwrap()]).ok();
    let second = mfw(&bob, &minio, store, &["run", train.to_str().unwrap()]).ok();
    assert!(
        second.stderr.contains("(cached 6, ran 0)"),
        "{}",
        second.stderr
    );
    let end = dump(
        &bob,
        &minio,
        store,
        &format!("TrainFlow/{}/end/0", second.run_id()),
    );
    assert_eq!(end["cached"], true);
    assert_eq!(end["cloned_from"], first.run_id().as_str());
    let before = dump(
        &alice,
        &minio,
        store,
        &format!("TrainFlow/{}/end/0", first.run_id()),
    );
    assert_eq!(end["artifacts"], before["artifacts"]);
}

#[test]
fn concurrent_runs_into_one_bucket_stay_consistent() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("shared");
    let store = "s3://shared/concurrent";
    let flow = example("wide");
    let env = minio.env();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let flow = flow.clone();
            let env = env.clone();
            std::thread::spawn(move || {
                let scratch = Scratch::new();
                let n = (10 + i).to_string();
                let ran = scratch
                    .mfw_env(
                        [
                            "--datastore",
                            store,
                            "run",
                            flow.to_str().unwrap(),
                            "--n",
                            &n,
                        ],
                        &env,
                    )
                    .ok();
                (ran.run_id(), 10 + i)
            })
        })
        .collect();
    let mut ids = Vec::new();
    let scratch = Scratch::new();
    for handle in handles {
        let (run, n) = handle.join().expect("a run");
        let end = dump(&scratch, &minio, store, &format!("WideFlow/{run}/end/0"));
        assert_eq!(
            end["artifacts"]["total"],
            n * (n - 1),
            "run {run} with n = {n}"
        );
        ids.push(run);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "eight distinct run ids");
}

#[test]
fn wrong_credentials_and_a_missing_bucket_are_clear_errors() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("exists");
    let scratch = Scratch::new();
    let started = std::time::Instant::now();
    let missing = mfw(
        &scratch,
        &minio,
        "s3://no-such-bucket",
        &["run", example("hello").to_str().unwrap()],
    )
    .failed();
    assert!(
        missing.stderr.contains("the bucket does not exist"),
        "{}",
        missing.stderr
    );
    let mut env = minio.env();
    for (key, value) in env.iter_mut() {
        if *key == "AWS_SECRET_ACCESS_KEY" {
            *value = "wrong-secret".to_string();
        }
    }
    let denied = scratch
        .mfw_env(
            [
                "--datastore",
                "s3://exists",
                "run",
                example("hello").to_str().unwrap(),
            ],
            &env,
        )
        .failed();
    assert!(
        denied
            .stderr
            .contains("access denied: check the credentials"),
        "{}",
        denied.stderr
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "no hang"
    );
}

#[test]
fn a_run_interrupted_by_the_store_going_down_is_resumed_after_it_returns() {
    let Some(mut minio) = Minio::start() else {
        return;
    };
    minio.create_bucket("flaky");
    let scratch = Scratch::new();
    std::fs::copy(guest("resilient"), scratch.path().join("resilient.wasm")).unwrap();
    let store = "s3://flaky";
    let reference = mfw(
        &scratch,
        &minio,
        store,
        &["run", "resilient.wasm", "--n", "40"],
    )
    .ok();
    let expected = dump(
        &scratch,
        &minio,
        store,
        &format!("ResilientFlow/{}/end/0", reference.run_id()),
    )["artifacts"]
        .clone();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mfw"))
        .args([
            "--datastore",
            store,
            "run",
            "resilient.wasm",
            "--n",
            "400",
            "--max-workers",
            "2",
        ])
        .current_dir(scratch.path())
        .env("MFW_ALLOW_GRANTS", "true")
        .env("MFW_CACHE_DIR", common::cache_dir())
        .envs(minio.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    minio.stop();
    let started = std::time::Instant::now();
    let output = {
        use std::io::Read;
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        (status, stderr)
    };
    assert!(
        !output.0.success(),
        "the run cannot finish without its store: {}",
        output.1
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "it fails, not hangs"
    );
    assert!(
        output
            .1
            .contains("cannot reach the store at http://127.0.0.1"),
        "a clear error: {}",
        output.1
    );
    minio.restart();
    let runs = mfw(&scratch, &minio, store, &["runs", "ResilientFlow"]).ok();
    let killed = runs
        .stdout
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let resumed = mfw(
        &scratch,
        &minio,
        store,
        &["resume", "resilient.wasm", &killed],
    )
    .ok();
    assert!(resumed.stderr.contains("(reused "), "{}", resumed.stderr);
    let got = dump(
        &scratch,
        &minio,
        store,
        &format!("ResilientFlow/{}/end/0", resumed.run_id()),
    )["artifacts"]["total"]
        .clone();
    assert_eq!(got, 3 * (0..400u64).sum::<u64>());
    assert_eq!(expected["risky_ok"], true);
}

#[test]
fn the_python_client_reads_runs_from_s3() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("clients");
    let scratch = Scratch::new();
    let store = "s3://clients/team";
    let hello = common::repo().join("examples/hello/python/hello.py");
    mfw(&scratch, &minio, store, &["run", hello.to_str().unwrap()]).ok();
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "from mfw import Flow\n\
             run = Flow('HelloFlow').latest_run\n\
             print(run.successful, run['start'].task.data.x, run['end'].task.data.x, run['end'].task.stdout.strip())",
        )
        .env("PYTHONPATH", common::repo().join("guest-sdks/python/src"))
        .env("MFW_DATASTORE", store)
        .envs(minio.env())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "True 1 2 Hello world! The value of x is 2");
}

#[test]
fn a_native_wheel_built_once_is_fetched_from_the_datastore_by_the_next_machine() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("wheels");
    let scratch = Scratch::new();
    let store = "s3://wheels/team";
    // The first machine has the wheel (scripts/test builds it; built here
    // otherwise) and, asked for it by name, shares it.
    let first = mfw(
        &scratch,
        &minio,
        store,
        &["wheels", "build", "nanoarrow==0.9.0"],
    )
    .ok();
    assert!(
        first.stderr.contains("shared nanoarrow-0.9.0-"),
        "{}",
        first.stderr
    );
    let built = std::path::PathBuf::from(first.stdout.trim());
    // The next machine, with an empty cache, fetches it instead of
    // building it: no toolchain is set up, and the wheel is the same file.
    let empty = scratch.path().join("next-machine-wheels");
    let env = [
        minio.env(),
        vec![
            ("MFW_WHEEL_CACHE", empty.display().to_string()),
            (
                "MFW_CACHE_DIR",
                scratch
                    .path()
                    .join("next-machine-cache")
                    .display()
                    .to_string(),
            ),
        ],
    ]
    .concat();
    let mut args = vec!["--datastore", store, "wheels", "build", "nanoarrow==0.9.0"];
    let next = scratch.mfw_env(&args, &env).ok();
    assert!(
        next.stderr.contains("fetched nanoarrow-0.9.0-"),
        "{}",
        next.stderr
    );
    let fetched = std::path::PathBuf::from(next.stdout.trim());
    assert!(fetched.starts_with(&empty), "{}", fetched.display());
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&built).unwrap()
    );
    assert!(
        !empty.join("toolchain").exists(),
        "the next machine built a toolchain"
    );
    // And lists it as cached, from the same recipe.
    args.truncate(3);
    args.push("list");
    let listed = scratch.mfw_env(&args, &env).ok();
    assert!(
        listed.stdout.contains("nanoarrow 0.9.0"),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("older recipe"), "{}", listed.stdout);

    // A flow's build on a machine without the wheel takes it from the
    // datastore too.
    mfw(
        &scratch,
        &minio,
        store,
        &["wheels", "build", "numpy==2.3.5"],
    )
    .ok();
    let flow = common::repo().join("tests/native/numpy/flow.py");
    let run = scratch
        .mfw_env(["--datastore", store, "run", flow.to_str().unwrap()], &env)
        .ok();
    assert!(
        run.stderr.contains("fetched numpy-2.3.5-"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("end/0: numpy 2.3.5 sum"),
        "{}",
        run.stdout
    );
    assert!(
        !empty.join("toolchain").exists(),
        "the flow's build built a toolchain"
    );
}

#[test]
fn a_remote_stores_blobs_are_cached_in_the_cache_dir() {
    let Some(minio) = Minio::start() else { return };
    minio.create_bucket("cached");
    let scratch = Scratch::new();
    let cache = scratch.path().join("my-cache");
    // As a user runs: the blob cache on, in the cache directory given.
    let mfw_here = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mfw"))
            .args(["--datastore", "s3://cached/runs", "--cache-dir"])
            .arg(&cache)
            .args(args)
            .current_dir(scratch.path())
            .envs(minio.env())
            .env_remove("MFW_BLOB_CACHE")
            .env_remove("MFW_DATASTORE")
            .env_remove("MFW_CACHE_DIR")
            .output()
            .expect("mfw runs");
        common::Ran::of(output).ok()
    };
    let ran = mfw_here(&["run", example("hello").to_str().unwrap()]);
    let blobs = cache.join("blobs");
    let cached = std::fs::read_dir(&blobs)
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert!(
        cached > 0,
        "nothing was cached in {}: {}",
        blobs.display(),
        ran.stderr
    );
    let dumped = mfw_here(&[
        "dump",
        "--json",
        &format!("HelloFlow/{}/end/0", ran.run_id()),
    ]);
    let end: serde_json::Value = serde_json::from_str(&dumped.stdout).expect("JSON");
    assert_eq!(end["artifacts"]["x"], 2);
}
