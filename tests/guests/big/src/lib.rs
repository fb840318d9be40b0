//! One large artifact, written in `start` and read back in `end`, with the
//! fewest copies a guest can make, so what the host holds of it shows in
//! the process's peak memory: the fault tests measure it. Whole (the
//! encoded value built in place and read without decoding), or, with
//! `--streamed`, a piece at a time (the guest never holds it either).
//! `--through stdout` writes it through the task's stdout (contract 0.1.6),
//! with output around it; `stdout-invalid` writes a value the host refuses
//! there, `stdout-dropped` drops the writer midway, and `stdout-blocking`
//! writes with WASI's `blocking-write-and-flush`.

use std::io::Write as _;

use mfw::__bindings::mfw::flow::{artifacts, streams};
use mfw::prelude::*;

/// start (writes `blob`, `mib` MiB of bytes) -> end (reads it back).
#[derive(FlowSpec)]
pub struct BigFlow {
    /// The artifact's size in MiB.
    #[parameter(default = 64)]
    mib: u64,
    /// Write and read it a piece at a time.
    #[parameter(default = false)]
    streamed: bool,
    /// With `streamed`: fail the step after writing this many MiB (0:
    /// never), as a step that dies midway does.
    #[parameter(default = 0)]
    fail_after_mib: u64,
    /// `stdout`, `stdout-invalid` or `stdout-dropped`: write the value
    /// through stdout (see the module's doc).
    #[parameter(default = "")]
    through: String,
}

/// The value's bytes from offset `at` (a multiple of 8), into `piece` (a
/// multiple of 8 long): word `w` is splitmix64 of `w`, so the value is
/// incompressible, never one repeated chunk, and cheap to make: what is
/// measured is mfw moving it.
fn fill(piece: &mut [u8], at: u64) {
    for (k, word) in piece.chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&splitmix64(at / 8 + k as u64).to_le_bytes());
    }
}

fn splitmix64(w: u64) -> u64 {
    let mut z = w.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A checksum both steps compute over the words from offset `at`: each
/// word, rotated by its position.
fn checksum(sum: u64, at: u64, bytes: &[u8]) -> u64 {
    bytes.chunks_exact(8).enumerate().fold(sum, |s, (k, word)| {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        s.wrapping_add(word.rotate_left(((at / 8 + k as u64) % 64) as u32))
    })
}

#[steps]
impl BigFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let len = self.mib << 20;
        if !self.through.is_empty() {
            let sum = self.through_stdout(len)?;
            cx.set("sum", &sum)?;
            return cx.next("end");
        }
        if self.streamed {
            let mut out = cx.write_bytes("blob", len)?;
            let mut piece = vec![0u8; 1 << 20];
            let (mut at, mut sum) = (0u64, 0u64);
            while at < len {
                let n = piece.len().min((len - at) as usize);
                fill(&mut piece[..n], at);
                sum = checksum(sum, at, &piece[..n]);
                std::io::Write::write_all(&mut out, &piece[..n])
                    .map_err(|e| Error::with_kind("WriteFailed", e))?;
                at += n as u64;
                if self.fail_after_mib > 0 && at >= self.fail_after_mib << 20 {
                    return Err(Error::with_kind(
                        "Interrupted",
                        format!("stopped after {at} bytes"),
                    ));
                }
            }
            out.finish()?;
            cx.set("sum", &sum)?;
            return cx.next("end");
        }
        let len =
            u32::try_from(len).map_err(|_| Error::with_kind("TooLarge", "at most 4095 MiB"))?;
        // The encoding of a byte string (CBOR major type 2, 4-byte length),
        // then the bytes.
        let mut encoded = vec![0; len as usize + 5];
        encoded[0] = 0x5a;
        encoded[1..5].copy_from_slice(&len.to_be_bytes());
        fill(&mut encoded[5..], 0);
        cx.set("sum", &checksum(0, 0, &encoded[5..]))?;
        artifacts::set("blob", &encoded)
            .map_err(|e| Error::with_kind("SetFailed", format!("{e:?}")))?;
        cx.next("end")
    }

    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        if self.streamed || !self.through.is_empty() {
            let mut data = cx.read_bytes("blob")?;
            let mut piece = vec![0u8; 1 << 20];
            let (mut at, mut sum) = (0u64, 0u64);
            loop {
                let n = std::io::Read::read(&mut data, &mut piece)
                    .map_err(|e| Error::with_kind("ReadFailed", e))?;
                if n == 0 {
                    break;
                }
                sum = checksum(sum, at, &piece[..n]);
                at += n as u64;
            }
            cx.set("len", &at)?;
            cx.set("sum_read", &sum)?;
            return Ok(());
        }
        let encoded =
            artifacts::get("blob").map_err(|e| Error::with_kind("GetFailed", format!("{e:?}")))?;
        cx.set("len", &(encoded.len() as u64 - 5))?;
        cx.set("sum_read", &checksum(0, 0, &encoded[5..]))?;
        Ok(())
    }
}

impl BigFlow {
    /// Writes `blob` through stdout as `through` says, with a line of
    /// output before and after; returns the checksum of what it wrote.
    fn through_stdout(&self, len: u64) -> Result<u64, Error> {
        let failed = |e: std::io::Error| Error::with_kind("WriteFailed", e);
        let refused = |e: ArtifactErrorText| Error::with_kind("SetFailed", e.0);
        let mut stdout = std::io::stdout().lock();
        // Unfinished: the host must keep it as output, not as the value.
        write!(stdout, "before the value").map_err(failed)?;
        stdout.flush().map_err(failed)?;
        let writer = streams::start_set_from_stdout("blob").map_err(|e| refused(e.into()))?;
        let len32 =
            u32::try_from(len).map_err(|_| Error::with_kind("TooLarge", "at most 4095 MiB"))?;
        let mut head = vec![0x5a];
        head.extend_from_slice(&len32.to_be_bytes());
        if self.through == "stdout-invalid" {
            // A length in 8 bytes where 4 do: the host refuses it as soon
            // as it sees it.
            head = vec![0x5b];
            head.extend_from_slice(&len.to_be_bytes());
        }
        let mut piece = vec![0u8; 1 << 20];
        let (mut at, mut sum) = (0u64, 0u64);
        let mut wrote = stdout.write_all(&head).and_then(|()| stdout.flush());
        while wrote.is_ok() && at < len {
            let n = piece.len().min((len - at) as usize);
            fill(&mut piece[..n], at);
            sum = checksum(sum, at, &piece[..n]);
            if self.through == "stdout-blocking" {
                blocking_write(&piece[..n])?;
            } else {
                wrote = stdout.write_all(&piece[..n]).and_then(|()| stdout.flush());
            }
            at += n as u64;
            if self.through == "stdout-dropped" && at >= len / 2 {
                stdout.flush().map_err(failed)?;
                drop(writer);
                writeln!(stdout, "after the dropped value").map_err(failed)?;
                return Err(Error::with_kind("Dropped", "dropped the writer midway"));
            }
        }
        if let Err(e) = wrote {
            if self.through != "stdout-invalid" {
                return Err(failed(e));
            }
            // The host refused the bytes: finish-set says why.
            let refusal = streams::finish_set(writer);
            writeln!(stdout, "the value was refused").map_err(failed)?;
            return match refusal {
                Ok(()) => Err(Error::with_kind("Accepted", "the invalid value was set")),
                Err(e) => Err(refused(e.into())),
            };
        }
        streams::finish_set(writer).map_err(|e| refused(e.into()))?;
        writeln!(stdout, "after the value").map_err(failed)?;
        Ok(sum)
    }
}

/// Writes `bytes` to stdout with WASI's `blocking-write-and-flush`, 4 KiB
/// at a time (its most), which the host runs inside its async runtime.
fn blocking_write(bytes: &[u8]) -> Result<(), Error> {
    let stdout = wasip2::cli::stdout::get_stdout();
    for piece in bytes.chunks(4096) {
        stdout
            .blocking_write_and_flush(piece)
            .map_err(|e| Error::with_kind("WriteFailed", format!("{e:?}")))?;
    }
    Ok(())
}

/// An artifact error as text, for the step's error.
struct ArtifactErrorText(String);

impl From<mfw::__bindings::mfw::flow::types::ArtifactError> for ArtifactErrorText {
    fn from(e: mfw::__bindings::mfw::flow::types::ArtifactError) -> Self {
        Self(format!("{e:?}"))
    }
}
