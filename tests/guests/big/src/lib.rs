//! One large artifact, written in `start` and read back in `end`, with the
//! fewest copies a guest can make (the encoded value is built in place and
//! read without decoding), so what the host holds of it shows in the
//! process's peak memory: the fault tests measure it.

use mfw::__bindings::mfw::flow::artifacts;
use mfw::prelude::*;

/// start (writes `blob`, `mib` MiB of bytes) -> end (reads it back).
#[derive(FlowSpec)]
pub struct BigFlow {
    /// The artifact's size in MiB.
    #[parameter(default = 64)]
    mib: u64,
}

#[steps]
impl BigFlow {
    #[step]
    fn start(&self, cx: &mut Context) -> StepResult {
        let len = u32::try_from(self.mib << 20)
            .map_err(|_| Error::with_kind("TooLarge", "at most 4095 MiB"))?;
        // The encoding of a byte string (CBOR major type 2, 4-byte length),
        // then the bytes: not one repeated byte, a value that compresses is
        // no test.
        let mut encoded = Vec::with_capacity(len as usize + 5);
        encoded.push(0x5a);
        encoded.extend_from_slice(&len.to_be_bytes());
        encoded.extend((0..len as usize).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        artifacts::set("blob", &encoded)
            .map_err(|e| Error::with_kind("SetFailed", format!("{e:?}")))?;
        cx.next("end")
    }

    #[step]
    fn end(&self, cx: &mut Context) -> StepResult {
        let encoded =
            artifacts::get("blob").map_err(|e| Error::with_kind("GetFailed", format!("{e:?}")))?;
        cx.set("len", &(encoded.len() as u64 - 5))?;
        Ok(())
    }
}
