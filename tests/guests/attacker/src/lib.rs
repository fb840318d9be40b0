//! A step that tries to get out of its sandbox, one way per `mode`, beside
//! a bystander step that must finish unharmed. What the attack saw is
//! stored as `outcome`, so tests can check the exact denial; attacks the
//! host must stop (memory, time, size) fail the task instead.

use std::io::{Read, Write};

use mfw::prelude::*;

/// start -> (attack, hoard, bystander) -> join -> end.
#[derive(FlowSpec)]
pub struct AttackFlow {
    /// Which attack `attack` tries.
    #[parameter(default = "none")]
    mode: String,
}

/// An encoded byte string of `len` bytes, built by hand: a head (0x5a and
/// a 4-byte length), then the bytes.
fn byte_string(len: u32) -> Vec<u8> {
    let mut blob = Vec::with_capacity(len as usize + 5);
    blob.push(0x5a);
    blob.extend_from_slice(&len.to_be_bytes());
    blob.resize(len as usize + 5, 7);
    blob
}

fn describe<T>(result: std::io::Result<T>) -> String {
    match result {
        Ok(_) => "allowed".to_string(),
        Err(e) => format!("denied: {e}"),
    }
}

#[steps]
impl AttackFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        cx.next(["attack", "hoard", "bystander"])
    }

    /// Granted: /data read-only and /out writable (the test's scratch
    /// directories), env var MFW_TEST_VISIBLE, and TCP to localhost:47123
    /// (the one name it may resolve).
    #[step(
        resources(memory = 64),
        timeout(seconds = 2),
        grant(
            read = ["data:/data"],
            write = ["out:/out"],
            env = ["MFW_TEST_VISIBLE"],
            network = ["localhost:47123"]
        )
    )]
    fn attack(&self, cx: &mut Context) -> StepResult {
        let outcome = match self.mode.as_str() {
            "read-passwd" => describe(std::fs::read("/etc/passwd")),
            "read-granted" => describe(std::fs::read("/data/inside.txt")),
            "dotdot" => describe(std::fs::read("/data/../secret.txt")),
            "symlink" => describe(std::fs::read("/data/link/secret.txt")),
            "write-outside" => describe(std::fs::write("/outside.txt", b"x")),
            "write-readonly" => describe(std::fs::write("/data/new.txt", b"x")),
            "write-granted" => describe(std::fs::write("/out/written.txt", b"written")),
            "env" => {
                let visible: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                format!("visible: {}", visible.join(","))
            }
            "socket-allowed" => describe(std::net::TcpStream::connect("127.0.0.1:47123").and_then(
                |mut s| {
                    let mut reply = String::new();
                    s.read_to_string(&mut reply).map(|_| reply)
                },
            )),
            "socket-denied" => describe(std::net::TcpStream::connect("127.0.0.1:47124")),
            // Resolving a name: `resolve:<name>`.
            mode if mode.starts_with("resolve:") => {
                use std::net::ToSocketAddrs;
                let name = &mode["resolve:".len()..];
                describe((name, 80).to_socket_addrs())
            }
            "memory" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                for _ in 0..16 {
                    hog.push(vec![1u8; 8 << 20]);
                }
                format!("allocated {} MB", hog.len() * 8)
            }
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            // Recursion with large frames: runs off the bottom of the stack
            // in linear memory.
            "recurse" => format!("depth {}", recurse(0)),
            // Waits in the host (wasi:io/poll), where no epoch tick reaches.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                "slept an hour".to_string()
            }
            // One 2 MB value under 50 names: 100 MB if the host kept a
            // copy per name, past the step's 64 MB. (Small enough to copy
            // 50 times well within the step's 2 s on a loaded machine.)
            "one-value-many-names" => {
                let blob = byte_string(2 << 20);
                let mut stored = 0;
                for i in 0..50 {
                    if mfw::__bindings::mfw::flow::artifacts::set(&format!("v{i}"), &blob).is_ok() {
                        stored += 1;
                    }
                }
                format!("stored under {stored} names")
            }
            // 400 distinct 1 MB values, made one after another in the same
            // buffer: the guest holds 1 MB, the host would hold 400.
            "many-values" => {
                let mut blob = byte_string(1 << 20);
                for i in 0..400u32 {
                    blob[5..9].copy_from_slice(&i.to_be_bytes());
                    if let Err(e) =
                        mfw::__bindings::mfw::flow::artifacts::set(&format!("v{i}"), &blob)
                    {
                        return Err(mfw::Error::msg(format!("refused at value {i}: {e:?}")));
                    }
                }
                "stored 400 values".to_string()
            }
            // An 8 MB panic message, on one line.
            "huge-panic" => panic!("{}", "x".repeat(8 << 20)),
            _ => "nothing tried".to_string(),
        };
        let _ = std::io::stdout().flush();
        cx.set("outcome", &outcome)?;
        cx.next("join")
    }

    /// Tries to store a 2 GB artifact (mode `huge-artifact`); it may use
    /// the memory that takes, but the host refuses the value.
    #[step(resources(memory = 2200), timeout(seconds = 120))]
    fn hoard(&self, cx: &mut Context) -> StepResult {
        if self.mode == "huge-artifact" {
            // 2 GB (decimal), encoded by hand in one buffer: a byte string
            // head (0x5a and a 4-byte length), then the bytes.
            let len: u32 = 2_000_000_000;
            let mut blob = Vec::with_capacity(len as usize + 5);
            blob.push(0x5a);
            blob.extend_from_slice(&len.to_be_bytes());
            blob.resize(len as usize + 5, 0);
            let outcome = match mfw::__bindings::mfw::flow::artifacts::set("huge", &blob) {
                Ok(()) => "allowed".to_string(),
                Err(e) => format!("denied: {e:?}"),
            };
            drop(blob);
            cx.set("hoard_outcome", &outcome)?;
        }
        cx.next("join")
    }

    /// Runs beside the attack and must not be affected by it.
    #[step]
    fn bystander(&self, cx: &mut Context) -> StepResult {
        cx.set("ok", &true)?;
        cx.next("join")
    }

    #[step]
    fn join(&self, cx: &mut Context, inputs: &mut Inputs) -> StepResult {
        cx.merge_artifacts(inputs, &[])?;
        cx.next("end")
    }

    #[step]
    fn end(&self, _cx: &mut Context) -> StepResult {
        Ok(())
    }
}

/// Recurses forever, each call keeping 4 KiB on the stack.
#[allow(unconditional_recursion)] // the attack: it never returns
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 4096]);
    recurse(depth + 1) + u64::from(frame[std::hint::black_box(7)])
}
