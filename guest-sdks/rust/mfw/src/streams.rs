//! Large byte artifacts a piece at a time, so that neither the step nor the
//! host holds the whole value twice: [`Context::write_bytes`] and
//! [`Context::read_bytes`]. Values set whole with [`Context::set`] go the
//! same way once they are large.

use std::io;

use crate::__bindings::mfw::flow::streams;
use crate::context::artifact_error;
use crate::{Context, Error};

/// Encoded values this large or larger are handed to the host in pieces.
const STREAM_FROM: usize = 4 << 20;

/// The size of the pieces handed to the host.
const PIECE: usize = 1 << 20;

/// Writes a byte-string artifact of a length given up front, a piece at a
/// time ([`std::io::Write`]); [`BytesWriter::finish`] sets it. Nothing is
/// set if the writer is dropped before.
///
/// ```ignore
/// let data: Vec<u8> = make_100_mib();
/// let mut out = cx.write_bytes("data", data.len() as u64)?;
/// std::io::Write::write_all(&mut out, &data)?;
/// out.finish()?;
/// ```
pub struct BytesWriter {
    writer: streams::ValueWriter,
    name: String,
    /// Bytes still owed.
    left: u64,
}

/// Reads a byte-string artifact a piece at a time ([`std::io::Read`]),
/// checked against its hash by the time the end is reached.
///
/// ```ignore
/// let mut data = cx.read_bytes("data")?;
/// let mut sum = 0u64;
/// let mut buf = vec![0; 1 << 20];
/// loop {
///     let n = std::io::Read::read(&mut data, &mut buf)?;
///     if n == 0 { break; }
///     sum += buf[..n].iter().map(|&b| b as u64).sum::<u64>();
/// }
/// ```
pub struct BytesReader {
    reader: streams::ValueReader,
    /// The byte string's length, and how much of it is left.
    len: u64,
    left: u64,
}

/// The CBOR head of a byte string of `len` bytes, in its shortest form.
fn bytes_head(len: u64) -> Vec<u8> {
    let mut head = match len {
        0..=23 => vec![0x40 | len as u8],
        24..=0xff => vec![0x58],
        0x100..=0xffff => vec![0x59],
        0x1_0000..=0xffff_ffff => vec![0x5a],
        _ => vec![0x5b],
    };
    let width = match head[0] {
        0x58 => 1,
        0x59 => 2,
        0x5a => 4,
        0x5b => 8,
        _ => 0,
    };
    head.extend_from_slice(&len.to_be_bytes()[8 - width..]);
    head
}

impl Context {
    /// Starts writing artifact `name`, a byte string of `len` bytes (a
    /// Python step reads it as `bytes`), a piece at a time: the way to set
    /// a value too large to hold twice.
    pub fn write_bytes(&mut self, name: &str, len: u64) -> Result<BytesWriter, Error> {
        let writer = streams::start_set(name).map_err(artifact_error)?;
        writer.write(&bytes_head(len)).map_err(artifact_error)?;
        Ok(BytesWriter {
            writer,
            name: name.to_string(),
            left: len,
        })
    }

    /// Opens artifact `name`, a byte string, to read a piece at a time.
    pub fn read_bytes(&self, name: &str) -> Result<BytesReader, Error> {
        let reader = streams::open_get(name).map_err(artifact_error)?;
        let not_bytes = || {
            Error::with_kind(
                "ArtifactTypeError",
                format!("artifact `{name}` is not a byte string"),
            )
        };
        let first = reader.read(1).map_err(artifact_error)?;
        let initial = *first.first().ok_or_else(not_bytes)?;
        if initial >> 5 != 2 {
            return Err(not_bytes());
        }
        let len = match initial & 0x1f {
            n @ 0..=23 => u64::from(n),
            n @ 24..=27 => {
                let width = 1usize << (n - 24);
                let mut arg = Vec::with_capacity(width);
                while arg.len() < width {
                    let more = reader
                        .read((width - arg.len()) as u32)
                        .map_err(artifact_error)?;
                    if more.is_empty() {
                        return Err(not_bytes());
                    }
                    arg.extend_from_slice(&more);
                }
                arg.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
            }
            _ => return Err(not_bytes()),
        };
        Ok(BytesReader {
            reader,
            len,
            left: len,
        })
    }

    /// Hands the host an encoded value: in pieces once it is large, so the
    /// host stores it as it comes rather than holding a copy.
    pub(crate) fn set_encoded(name: &str, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() < STREAM_FROM {
            return crate::__bindings::mfw::flow::artifacts::set(name, bytes)
                .map_err(artifact_error);
        }
        let writer = streams::start_set(name).map_err(artifact_error)?;
        for piece in bytes.chunks(PIECE) {
            writer.write(piece).map_err(artifact_error)?;
        }
        streams::finish_set(writer).map_err(artifact_error)
    }
}

impl BytesWriter {
    /// Sets the artifact, once all of its bytes are written.
    pub fn finish(self) -> Result<(), Error> {
        if self.left != 0 {
            return Err(Error::with_kind(
                "ArtifactLengthError",
                format!(
                    "artifact `{}` is {} bytes short of the length it was started with",
                    self.name, self.left
                ),
            ));
        }
        streams::finish_set(self.writer).map_err(artifact_error)
    }
}

impl io::Write for BytesWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "artifact `{}` would be longer than the length it was started with",
                    self.name
                ),
            ));
        }
        let n = buf.len().min(PIECE);
        self.writer
            .write(&buf[..n])
            .map_err(|e| io::Error::other(artifact_error(e).to_string()))?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BytesReader {
    /// The byte string's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the byte string is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl io::Read for BytesReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // At the end, one more read lets the host check the whole value.
        let want = (buf.len() as u64).min(self.left).min(PIECE as u64 * 16) as u32;
        let piece = self
            .reader
            .read(want.max(1))
            .map_err(|e| io::Error::other(artifact_error(e).to_string()))?;
        if piece.len() as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the value holds more than its byte string",
            ));
        }
        buf[..piece.len()].copy_from_slice(&piece);
        self.left -= piece.len() as u64;
        if piece.is_empty() && self.left > 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(piece.len())
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_head;
    use mfw_encoding::{Value, encode};

    #[test]
    fn byte_string_heads_are_the_encodings_heads() {
        for len in [0usize, 23, 24, 255, 256, 65_535, 65_536] {
            let encoded = encode(&Value::Bytes(vec![9; len]));
            assert_eq!(bytes_head(len as u64), encoded[..encoded.len() - len]);
        }
        assert_eq!(bytes_head(1 << 32), [0x5b, 0, 0, 0, 1, 0, 0, 0, 0]);
    }
}
