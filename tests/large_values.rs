//! Large artifact values: stored as content-defined chunks, read back whole
//! by the next step and by the client, a damaged chunk named on read and
//! healed by the next run.

mod common;

use common::Scratch;

/// 20 MiB of seeded random bytes: more than one blob holds, so chunked
/// (from 4 MiB in a local store, 16 MiB in an object store).
const BIG: &str = r#"import random

from mfw import FlowSpec, step


class BigFlow(FlowSpec):
    @step
    def start(self):
        self.blob = random.Random(7).randbytes(20 << 20)
        self.next(self.end)

    @step
    def end(self):
        import hashlib

        print("end", len(self.blob), hashlib.sha256(self.blob).hexdigest())
"#;

/// The same bytes' size and sha256, computed by native CPython.
fn native_digest() -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib, random\n\
             b = random.Random(7).randbytes(20 << 20)\n\
             print(len(b), hashlib.sha256(b).hexdigest())",
        ])
        .output()
        .expect("python3 runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The chunks the manifest of the one chunked value lists, in order.
fn chunk_files(scratch: &Scratch) -> Vec<std::path::PathBuf> {
    let manifests = scratch.files("chunked");
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifests[0]).unwrap()).unwrap();
    manifest["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|chunk| {
            let hex = chunk["hash"].as_str().unwrap();
            scratch.path().join(".mfw/blobs").join(&hex[..2]).join(hex)
        })
        .collect()
}

#[test]
fn a_large_value_is_chunked_read_whole_named_when_damaged_and_healed_by_a_rerun() {
    let scratch = Scratch::new();
    let flow = scratch.write("big/flow.py", BIG);
    let expected = native_digest();
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    assert!(
        ran.stdout.contains(&format!("end/0: end {expected}")),
        "{}\nexpected {expected}",
        ran.stdout
    );
    let chunks = chunk_files(&scratch);
    assert!(chunks.len() > 4, "{} chunks", chunks.len());
    let read = "import hashlib\n\
                from mfw import Flow\n\
                b = Flow('BigFlow').latest_run['start'].task.data.blob\n\
                print(len(b), hashlib.sha256(b).hexdigest())";
    assert_eq!(scratch.client(read), expected);

    // One flipped bit in one chunk: a step reading the value fails naming
    // the artifact and the chunk.
    let run = ran.run_id();
    let mut bytes = std::fs::read(&chunks[1]).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&chunks[1], bytes).unwrap();
    let replayed = scratch
        .mfw(["replay", &format!("BigFlow/{run}/end/0")])
        .failed();
    let said = format!("{}{}", replayed.stdout, replayed.stderr);
    assert!(said.contains("cannot read artifact `blob`"), "{said}");
    assert!(
        said.contains(&format!("its chunk 1 of {}", chunks.len())),
        "{said}"
    );
    assert!(said.contains("is corrupt"), "{said}");
    let doctor = scratch.mfw(["doctor"]).failed();
    assert!(doctor.stdout.contains("chunked/"), "{}", doctor.stdout);

    // The next run does not take `start` from the cache (its value is
    // damaged): it runs it again, which writes the chunk again.
    let again = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    assert!(
        again.stdout.contains(&format!("end/0: end {expected}")),
        "{}",
        again.stdout
    );
    assert_eq!(scratch.client(read), expected);
    scratch.mfw(["doctor"]).ok();
}

#[test]
fn a_large_value_crosses_steps_and_reaches_the_client_through_s3() {
    let Some(minio) = common::minio::Minio::start() else {
        return;
    };
    minio.create_bucket("large");
    let scratch = Scratch::new();
    let flow = scratch.write("big/flow.py", BIG);
    let store = "s3://large/team";
    let ran = scratch
        .mfw_env(
            ["--datastore", store, "run", flow.to_str().unwrap()],
            &minio.env(),
        )
        .ok();
    let expected = native_digest();
    assert!(
        ran.stdout.contains(&format!("end/0: end {expected}")),
        "{}",
        ran.stdout
    );
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import hashlib\n\
             from mfw import Flow\n\
             b = Flow('BigFlow').latest_run['start'].task.data.blob\n\
             print(len(b), hashlib.sha256(b).hexdigest())",
        )
        .env("PYTHONPATH", common::repo().join("guest-sdks/python/src"))
        .env("MFW_DATASTORE", store)
        .envs(minio.env())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), expected);
}
