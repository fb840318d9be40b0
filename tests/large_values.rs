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
    // Or a chunk at a time, as a file.
    let streamed = "import hashlib\n\
                    from mfw import Flow\n\
                    h, n = hashlib.sha256(), 0\n\
                    with Flow('BigFlow').latest_run['start'].task['blob'].open() as f:\n    \
                        while piece := f.read(3 << 20):\n        \
                            h.update(piece)\n        \
                            n += len(piece)\n\
                    print(n, h.hexdigest())";
    assert_eq!(scratch.client(streamed), expected);

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

/// Large values of every shape the Python SDK streams: a byte string (read
/// straight into `bytes`), a dict holding one, a bytearray; read and left
/// alone, read and changed in place, replaced, and read through a join.
const SHAPES: &str = r#"import hashlib
import random

from mfw import FlowSpec, step


def digest(b):
    return hashlib.sha256(bytes(b)).hexdigest()[:16]


class ShapesFlow(FlowSpec):
    @step
    def start(self):
        rnd = random.Random(3)
        self.blob = rnd.randbytes(6 << 20)
        self.mixed = {"data": rnd.randbytes(5 << 20), "n": 7}
        self.buf = bytearray(rnd.randbytes(5 << 20))
        self.next(self.a, self.b)

    @step
    def a(self):
        print("a", len(self.blob), digest(self.blob))
        self.mixed["n"] = 8
        self.next(self.join)

    @step
    def b(self):
        self.blob = self.blob[::-1]
        self.buf[0] ^= 1
        self.next(self.join)

    @step
    def join(self, inputs):
        a, b = inputs.a, inputs.b
        print("join", digest(a.blob), digest(b.blob), a.mixed["n"], b.mixed["n"],
              digest(a.mixed["data"]), type(a.buf).__name__, digest(a.buf), digest(b.buf))
        self.next(self.end)

    @step
    def end(self):
        pass
"#;

/// What SHAPES prints, computed by native CPython from the same seeds.
fn native_shapes() -> (String, String) {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib, random\n\
             d = lambda b: hashlib.sha256(bytes(b)).hexdigest()[:16]\n\
             r = random.Random(3)\n\
             blob, data, buf = r.randbytes(6 << 20), r.randbytes(5 << 20), bytearray(r.randbytes(5 << 20))\n\
             changed = bytearray(buf); changed[0] ^= 1\n\
             print('a', len(blob), d(blob))\n\
             print('join', d(blob), d(blob[::-1]), 8, 7, d(data), 'bytearray', d(buf), d(changed))",
        ])
        .output()
        .expect("python3 runs");
    assert!(output.status.success());
    let out = String::from_utf8(output.stdout).unwrap();
    let mut lines = out.lines().map(str::to_string);
    (lines.next().unwrap(), lines.next().unwrap())
}

/// The artifact hashes of a run's one task of `step`.
fn artifacts_of(scratch: &Scratch, run: &str, step: &str) -> serde_json::Value {
    let dir = scratch
        .path()
        .join(format!(".mfw/flows/ShapesFlow/runs/{run}/tasks/{step}"));
    let records = common::step_records(&dir);
    assert_eq!(records.len(), 1, "{dir:?}");
    records[0]["artifacts"].clone()
}

#[test]
fn large_values_of_every_shape_stream_and_one_read_and_left_alone_keeps_its_hash() {
    let scratch = Scratch::new();
    let flow = scratch.write("shapes/flow.py", SHAPES);
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    let (a, join) = native_shapes();
    assert!(
        ran.stdout.contains(&format!("a/0: {a}")),
        "{}\nexpected {a}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("join/0: {join}")),
        "{}\nexpected {join}",
        ran.stdout
    );
    let run = ran.run_id();
    let (start, a, b) = (
        artifacts_of(&scratch, &run, "start"),
        artifacts_of(&scratch, &run, "a"),
        artifacts_of(&scratch, &run, "b"),
    );
    // Read and left alone: the same value, not a new one.
    assert_eq!(a["blob"], start["blob"]);
    assert_eq!(b["mixed"], start["mixed"]);
    // Changed in place or replaced: a new value.
    assert_ne!(a["mixed"], start["mixed"]);
    assert_ne!(b["blob"], start["blob"]);
    assert_ne!(b["buf"], start["buf"]);
    // Every large value was chunked: blob (twice), mixed (twice), buf (twice).
    assert_eq!(scratch.files("chunked").len(), 6);
    // `b` changed one byte of the `buf` it received: the chunk holding it
    // is stored as its difference from the value before, the others as
    // that value stores them.
    let hash = b["buf"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            scratch
                .path()
                .join(format!(".mfw/chunked/{}/{hash}.json", &hash[..2])),
        )
        .unwrap(),
    )
    .unwrap();
    let chunks = manifest["chunks"].as_array().unwrap();
    let differences: Vec<_> = chunks.iter().filter(|c| c.get("delta").is_some()).collect();
    assert_eq!(differences.len(), 1, "{manifest}");
    assert_eq!(differences[0]["delta"]["base"], start["buf"]);
    assert!(
        differences[0]["delta"]["size"].as_u64().unwrap() < 4096,
        "{manifest}"
    );
}

#[test]
fn a_value_written_through_stdout_is_the_value_and_output_around_it_stays_output() {
    let scratch = Scratch::new();
    std::fs::copy(common::guest("big"), scratch.path().join("big.wasm")).unwrap();
    let through = |how: &str| scratch.mfw(["run", "big.wasm", "--mib", "8", "--through", how]);
    // `end` read back all of what `start` wrote, byte for byte.
    let read_back = |ran: &common::Ran| {
        let end = scratch.dump(&format!("BigFlow/{}/end/0", ran.run_id()));
        assert_eq!(end["artifacts"]["len"], 8 << 20, "{end}");
        assert_eq!(
            end["artifacts"]["sum"], end["artifacts"]["sum_read"],
            "{end}"
        );
    };
    let ran = through("stdout").ok();
    // The unfinished line before the value and the line after it are
    // output; none of the value's 8 MiB is.
    assert!(
        ran.stdout
            .contains("start/0: before the valueafter the value"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.len() < 4096,
        "{} bytes of output",
        ran.stdout.len()
    );
    read_back(&ran);

    // The same written with WASI's `blocking-write-and-flush`, which the
    // host runs inside its async runtime (storing there panicked once).
    read_back(&through("stdout-blocking").ok());

    // Bytes the value refuses fail the guest's write; finish-set says why,
    // and stdout is output again.
    let refused = through("stdout-invalid").failed();
    assert!(
        refused
            .stderr
            .contains("the value written for `blob` is not in the mfw encoding")
            && refused.stderr.contains("non-shortest"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stdout.contains("the value was refused"),
        "{}",
        refused.stdout
    );

    // A writer dropped midway sets nothing and gives stdout back.
    let dropped = through("stdout-dropped").failed();
    assert!(
        dropped.stdout.contains("after the dropped value"),
        "{}",
        dropped.stdout
    );
    let run = scratch.latest_run("BigFlow");
    let start = scratch.dump(&format!("BigFlow/{run}/start/0"));
    assert!(start["artifacts"].get("blob").is_none(), "{start}");
}

/// A step that sets a large value and prints around it.
const PRINTS: &str = r#"import hashlib
import io
import random

from mfw import FlowSpec, Parameter, step


def incompressible(size):
    # Made a MiB at a time into one buffer: randbytes(size) would hold the
    # bytes twice for a moment, hiding what setting them costs.
    rnd, out = random.Random(3), io.BytesIO()
    out.seek(size - 1)
    out.write(b"\0")
    out.seek(0)
    for _ in range(size >> 20):
        out.write(rnd.randbytes(1 << 20))
    return out.getvalue()


class PrintsFlow(FlowSpec):
    set_it = Parameter("set_it", default=True)

    @step
    def start(self):
        data = incompressible(48 << 20)
        print("digest", hashlib.sha256(data).hexdigest())
        print("unfinished line", end="")
        if self.set_it:
            self.blob = data
        self.next(self.end)

    @step
    def end(self):
        if self.set_it:
            print("end", len(self.blob), hashlib.sha256(self.blob).hexdigest())
        print("last line")
"#;

#[test]
fn a_python_step_sets_a_large_value_keeping_no_copy_and_its_output_intact() {
    let scratch = Scratch::new();
    let flow = scratch.write("prints/flow.py", PRINTS);
    // The linear memory the step's instance grew by, as its record says.
    let grown = |ran: &common::Ran, step: &str| -> u64 {
        let record = scratch.task_record("PrintsFlow", &ran.run_id(), step, "0");
        record["attempts"][0]["memory_bytes"]
            .as_u64()
            .unwrap_or_else(|| panic!("{record}"))
    };
    let ran = scratch.mfw(["run".as_ref(), flow.as_os_str()]).ok();
    let digest = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("start/0: digest "))
        .unwrap_or_else(|| panic!("{}", ran.stdout))
        .to_string();
    // The line the step left unfinished is output, before the value went.
    assert!(
        ran.stdout.contains("start/0: unfinished line"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(&format!("end/0: end {} {digest}", 48 << 20)),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("end/0: last line"), "{}", ran.stdout);
    assert!(
        ran.stdout.len() < 4096,
        "{} bytes of output",
        ran.stdout.len()
    );
    let (set_start, set_end) = (grown(&ran, "start"), grown(&ran, "end"));
    let only_made = scratch
        .mfw([
            "run".as_ref(),
            flow.as_os_str(),
            "--set_it".as_ref(),
            "False".as_ref(),
        ])
        .ok();
    let made = grown(&only_made, "start");
    // Setting the value costs the step a few MiB beyond making it: not a
    // copy of it (componentize-py keeps one of every `bytes` passed to the
    // host), and reading it costs `end` about one copy.
    let value: u64 = 48 << 20;
    assert!(
        set_start <= made + value / 4,
        "start grew {set_start} bytes setting a {value}-byte value it made in {made}"
    );
    assert!(
        set_end <= made + value / 4,
        "end grew {set_end} bytes reading a {value}-byte value (making it took {made})"
    );
}
