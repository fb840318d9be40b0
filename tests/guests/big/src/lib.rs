//! One large artifact, written in `start` and read back in `end`, with the
//! fewest copies a guest can make, so what the host holds of it shows in
//! the process's peak memory: the fault tests measure it. Whole (the
//! encoded value built in place and read without decoding), or, with
//! `--streamed`, a piece at a time (the guest never holds it either).

use mfw::__bindings::mfw::flow::artifacts;
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
}

/// Byte `i` of the value: not one repeated byte, a value that compresses
/// or chunks to one chunk is no test.
fn byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// A checksum both steps compute: the bytes, weighted by position.
fn checksum(sum: u64, at: u64, bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(sum, |s, (i, &b)| {
        s.wrapping_mul(31)
            .wrapping_add(u64::from(b) ^ (at + i as u64))
    })
}

#[steps]
impl BigFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let len = self.mib << 20;
        if self.streamed {
            let mut out = cx.write_bytes("blob", len)?;
            let mut piece = vec![0u8; 1 << 20];
            let (mut at, mut sum) = (0u64, 0u64);
            while at < len {
                let n = piece.len().min((len - at) as usize);
                for (i, b) in piece[..n].iter_mut().enumerate() {
                    *b = byte(at + i as u64);
                }
                sum = checksum(sum, at, &piece[..n]);
                std::io::Write::write_all(&mut out, &piece[..n])
                    .map_err(|e| Error::with_kind("WriteFailed", e))?;
                at += n as u64;
            }
            out.finish()?;
            cx.set("sum", &sum)?;
            return cx.next("end");
        }
        let len =
            u32::try_from(len).map_err(|_| Error::with_kind("TooLarge", "at most 4095 MiB"))?;
        // The encoding of a byte string (CBOR major type 2, 4-byte length),
        // then the bytes.
        let mut encoded = Vec::with_capacity(len as usize + 5);
        encoded.push(0x5a);
        encoded.extend_from_slice(&len.to_be_bytes());
        encoded.extend((0..u64::from(len)).map(byte));
        cx.set("sum", &checksum(0, 0, &encoded[5..]))?;
        artifacts::set("blob", &encoded)
            .map_err(|e| Error::with_kind("SetFailed", format!("{e:?}")))?;
        cx.next("end")
    }

    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        if self.streamed {
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
