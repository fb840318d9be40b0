//! Checking a value that arrives a piece at a time, without holding it.

use crate::{Error, TAG_NEG_BIGNUM, TAG_POS_BIGNUM, validate};

/// Byte strings at least this long are skipped, not kept: what makes a
/// value large (an array's data, a data frame's Arrow bytes, a pickle) is
/// its byte strings, and [`validate`] never reads their content.
const SKIP_FROM: u64 = 4096;

/// Checks a value in the mfw encoding as its bytes arrive, holding only its
/// structure: every item but the content of long byte strings, which
/// [`validate`] would skip anyway. [`StreamValidator::finish`] runs every
/// check of [`validate`] on that structure.
///
/// Two limits of the structure-only check: map keys and set elements that
/// are long byte strings cannot be told apart (such a value is refused as
/// unsorted, though valid), and error offsets count the structure's bytes,
/// not the value's.
///
/// ```
/// use mfw_encoding::{StreamValidator, encode, Value};
///
/// let value = encode(&Value::Array(vec![Value::Bytes(vec![7; 100_000]), Value::Integer(1)]));
/// let mut check = StreamValidator::new();
/// for piece in value.chunks(1000) {
///     check.feed(piece)?;
/// }
/// assert!(check.structure_len() < 100);
/// check.finish()?;
///
/// let mut cut = StreamValidator::new();
/// cut.feed(&value[..50_000])?;
/// assert!(cut.finish().is_err());
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct StreamValidator {
    /// The value less the content of its long byte strings (each such
    /// string kept as an empty one).
    structure: Vec<u8>,
    /// The head being read, when not inside a string's content.
    head: Vec<u8>,
    /// Content bytes left in the current string, and whether they are kept.
    body: Option<(u64, bool)>,
    /// The head before this one was tag 2 or 3: its bytes are a bignum's
    /// magnitude, which the checks read, so they are kept.
    after_bignum_tag: bool,
    /// The value's bytes seen so far.
    seen: u64,
}

impl StreamValidator {
    /// A check of one value, nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next bytes of the value. Errors only on what is wrong whatever
    /// follows (a long byte string with a non-shortest length).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        while !bytes.is_empty() {
            if let Some((left, keep)) = self.body {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                if keep {
                    self.structure.extend_from_slice(&bytes[..n]);
                }
                self.seen += n as u64;
                bytes = &bytes[n..];
                let left = left - n as u64;
                self.body = (left > 0).then_some((left, keep));
                continue;
            }
            self.head.push(bytes[0]);
            self.seen += 1;
            bytes = &bytes[1..];
            if self.head.len() == head_len(self.head[0]) {
                self.end_head()?;
            }
        }
        Ok(())
    }

    fn end_head(&mut self) -> Result<(), Error> {
        let head = std::mem::take(&mut self.head);
        let (major, info) = (head[0] >> 5, head[0] & 0x1f);
        let argument = head[1..]
            .iter()
            .fold(if info < 24 { u64::from(info) } else { 0 }, |a, &b| {
                (a << 8) | u64::from(b)
            });
        let after_bignum_tag = std::mem::replace(
            &mut self.after_bignum_tag,
            major == 6 && matches!(argument, TAG_POS_BIGNUM | TAG_NEG_BIGNUM) && info < 28,
        );
        let string = matches!(major, 2 | 3) && info < 28;
        if major == 2 && string && argument >= SKIP_FROM && !after_bignum_tag {
            if head.len() != head_len_for(argument) {
                return Err(Error::NonShortest {
                    offset: self.structure.len(),
                    what: "length",
                });
            }
            self.structure.push(0x40);
            self.body = Some((argument, false));
            return Ok(());
        }
        self.structure.extend_from_slice(&head);
        if string && argument > 0 {
            self.body = Some((argument, true));
        }
        Ok(())
    }

    /// How many bytes of the value's structure are held.
    pub fn structure_len(&self) -> usize {
        self.structure.len()
    }

    /// How many bytes of the value were fed.
    pub fn len(&self) -> u64 {
        self.seen
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// Every check of [`validate`], now that the value has ended.
    pub fn finish(self) -> Result<(), Error> {
        if self.body.is_some() || !self.head.is_empty() {
            return Err(Error::Truncated {
                offset: self.structure.len(),
            });
        }
        validate(&self.structure)
    }
}

/// The length of the head that starts with `initial`, its argument's bytes
/// included (a float's too). Reserved and indefinite forms are one byte:
/// [`validate`] refuses them.
fn head_len(initial: u8) -> usize {
    match initial & 0x1f {
        24 => 2,
        25 => 3,
        26 => 5,
        27 => 9,
        _ => 1,
    }
}

/// The length of the shortest head holding `argument` (at least 24).
fn head_len_for(argument: u64) -> usize {
    match argument {
        0..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Value, encode};

    fn fed_in(bytes: &[u8], piece: usize) -> Result<(), Error> {
        let mut check = StreamValidator::new();
        for p in bytes.chunks(piece) {
            check.feed(p)?;
        }
        check.finish()
    }

    fn values() -> Vec<Value> {
        vec![
            Value::Bytes(vec![1; 5000]),
            Value::Bytes(vec![2; 70_000]),
            Value::Text("é".repeat(3000)),
            Value::Map(vec![
                (Value::Text("data".into()), Value::Bytes(vec![3; 9000])),
                (
                    Value::Text("shape".into()),
                    Value::Array(vec![Value::Integer(9000)]),
                ),
            ]),
            Value::Float(1.5),
            Value::Integer(-1 << 40),
            Value::Tagged(crate::TAG_PICKLE, Box::new(Value::Bytes(vec![4; 4096]))),
            Value::from_bignum(false, &[0x42; 5000]),
        ]
    }

    #[test]
    fn valid_values_pass_whatever_the_pieces_and_long_bytes_are_not_held() {
        for value in values() {
            let bytes = encode(&value);
            for piece in [1, 2, 7, 4096, bytes.len()] {
                assert_eq!(
                    fed_in(&bytes, piece),
                    Ok(()),
                    "{value:?} in pieces of {piece}"
                );
            }
        }
        let big = encode(&Value::Bytes(vec![0; 1 << 20]));
        let mut check = StreamValidator::new();
        check.feed(&big).unwrap();
        assert!(check.structure_len() < 10);
        assert_eq!(check.len(), big.len() as u64);
    }

    #[test]
    fn what_validate_refuses_a_stream_refuses() {
        let good = encode(&Value::Array(vec![
            Value::Bytes(vec![5; 10_000]),
            Value::Text("x".into()),
        ]));
        // Cut anywhere: truncated.
        for end in [1, 3, 5000, good.len() - 1] {
            assert!(fed_in(&good[..end], 3).is_err(), "cut at {end}");
        }
        // A byte after the item.
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            fed_in(&trailing, 100),
            Err(Error::TrailingBytes { .. })
        ));
        // A long byte string with a longer head than it needs.
        let mut long_head = vec![0x5b, 0, 0, 0, 0, 0, 0, 0x10, 0];
        long_head.resize(9 + 0x1000, 0);
        assert!(matches!(
            fed_in(&long_head, 64),
            Err(Error::NonShortest { .. })
        ));
        // Bad UTF-8 in text and a short float, inside.
        let bad_text = [0x82, 0x61, 0xff, 0x01];
        assert!(matches!(
            fed_in(&bad_text, 1),
            Err(Error::InvalidUtf8 { .. })
        ));
        let short_float = [0x81, 0xf9, 0x3c, 0x00];
        assert!(matches!(
            fed_in(&short_float, 2),
            Err(Error::ShortFloat { .. })
        ));
        assert!(matches!(fed_in(&[], 1), Err(Error::Truncated { .. })));
    }
}
