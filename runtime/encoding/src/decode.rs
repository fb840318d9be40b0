//! The strict decoder and validator.

use std::cmp::Ordering;

use crate::{
    CANONICAL_NAN, Error, MAX_DEPTH, TAG_NEG_BIGNUM, TAG_PICKLE, TAG_POS_BIGNUM, TAG_SET,
    TAG_TUPLE, Value,
};

/// Decodes one canonical item, rejecting anything that is not exactly what
/// [`encode`](crate::encode) would write for it.
///
/// The checks: shortest heads, definite lengths, no reserved additional
/// info, 64-bit floats only with the canonical NaN, only the simple values
/// false/true/null, valid UTF-8, map keys and set elements strictly sorted
/// by their encodings (so no duplicates), bignums (tag 2/3) only around
/// bytes without a leading zero and only beyond major type 0/1, set and
/// tuple tags around arrays, the pickle tag around bytes, nesting at most
/// [`MAX_DEPTH`] and no bytes after the item.
///
/// Tag 2/3 bignums that fit `i128` decode to [`Value::Integer`], the others
/// to [`Value::BigInteger`]. The decoder keeps its own stack of open
/// containers rather than recursing, so no input can overflow the call
/// stack.
///
/// ```
/// use mfw_encoding::{decode, Error, Value};
///
/// assert_eq!(decode(&[0x82, 0x01, 0x61, b'a'])?, Value::Array(vec![
///     Value::Integer(1),
///     Value::Text("a".into()),
/// ]));
/// // A half-precision 1.0 is valid CBOR but not canonical here.
/// assert_eq!(decode(&[0xf9, 0x3c, 0x00]), Err(Error::ShortFloat { offset: 0, bits: 16 }));
/// # Ok::<(), Error>(())
/// ```
pub fn decode(bytes: &[u8]) -> Result<Value, Error> {
    let mut parser = Parser::new(bytes);
    let value = parser.item::<true>(0)?;
    parser.finish()?;
    // Building mode always returns a value.
    Ok(value.unwrap_or(Value::Null))
}

/// Runs every check of [`decode`] without building a [`Value`].
///
/// Byte strings are skipped without being read, so a 100 MB bytes item
/// costs the same as an empty one; text is still checked for UTF-8.
///
/// ```
/// use mfw_encoding::{validate, Error};
///
/// let mut blob = vec![0x5a, 0x06, 0x40, 0x00, 0x00]; // bytes of length 100 MiB
/// blob.resize(5 + 100 * 1024 * 1024, 0);
/// assert_eq!(validate(&blob), Ok(()));
/// assert_eq!(validate(&blob[..10]), Err(Error::Truncated { offset: 0 }));
/// ```
pub fn validate(bytes: &[u8]) -> Result<(), Error> {
    let mut parser = Parser::new(bytes);
    parser.item::<false>(0)?;
    parser.finish()
}

/// The encodings of the elements of a top-level array, for `foreach`: each
/// slice is itself a valid blob.
///
/// The blob is validated first. A tuple or a set (an array under
/// [`TAG_TUPLE`] or [`TAG_SET`]) is accepted as well; any other kind gives
/// [`Error::UnexpectedKind`] ("expected a list, found a map").
///
/// ```
/// use mfw_encoding::{array_items, decode, encode, Value};
///
/// let blob = encode(&Value::Array(vec![Value::Integer(1), Value::Text("x".into())]));
/// let items = array_items(&blob)?;
/// assert_eq!(items, [&[0x01][..], &[0x61, b'x'][..]]);
/// assert_eq!(decode(items[1])?, Value::Text("x".into()));
///
/// let err = array_items(&encode(&Value::Map(vec![]))).unwrap_err();
/// assert_eq!(err.to_string(), "expected a list, found a map");
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub fn array_items(bytes: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let kind = kind_of(bytes)?;
    if !matches!(kind, "list" | "tuple" | "set") {
        return Err(Error::UnexpectedKind {
            expected: "a list",
            found: crate::phrase(kind),
        });
    }
    let mut parser = Parser::new(bytes);
    let mut depth = 1;
    let mut start = 0;
    let mut initial = parser.byte(start)?;
    if initial >> 5 == 6 {
        parser.head(start, initial)?;
        start = parser.pos;
        initial = parser.byte(start)?;
        depth = 2;
    }
    let count = parser.head(start, initial)?;
    let mut items = Vec::with_capacity(capacity(count, parser.remaining()));
    for _ in 0..count {
        let item_start = parser.pos;
        parser.item::<false>(depth)?;
        items.push(parser.since(item_start));
    }
    Ok(items)
}

/// The kind of the value in a blob, after validating it: `"null"`,
/// `"bool"`, `"int"` (bignums too), `"float"`, `"str"`, `"bytes"`,
/// `"list"`, `"map"`, `"tuple"`, `"set"`, `"pickle"` or `"tagged"` (any
/// other tag).
///
/// ```
/// use mfw_encoding::kind_of;
///
/// assert_eq!(kind_of(&[0xf6])?, "null");
/// assert_eq!(kind_of(&[0xd9, 0x01, 0x02, 0x80])?, "set");
/// assert!(kind_of(&[0xf7]).is_err()); // undefined is not allowed
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub fn kind_of(bytes: &[u8]) -> Result<&'static str, Error> {
    validate(bytes)?;
    let mut parser = Parser::new(bytes);
    let initial = parser.byte(0)?;
    Ok(match initial >> 5 {
        0 | 1 => "int",
        2 => "bytes",
        3 => "str",
        4 => "list",
        5 => "map",
        6 => match parser.head(0, initial)? {
            TAG_POS_BIGNUM | TAG_NEG_BIGNUM => "int",
            TAG_SET => "set",
            TAG_TUPLE => "tuple",
            TAG_PICKLE => "pickle",
            _ => "tagged",
        },
        _ => match initial {
            0xf4 | 0xf5 => "bool",
            0xf6 => "null",
            _ => "float",
        },
    })
}

/// A capacity for `count` items with `remaining` bytes left: never more
/// than the input could hold, so a huge declared count allocates nothing.
fn capacity(count: u64, remaining: usize) -> usize {
    usize::try_from(count).map_or(remaining, |c| c.min(remaining))
}

/// What an item whose first byte is `initial` is, for error messages.
fn found(initial: u8) -> &'static str {
    match initial >> 5 {
        0 | 1 => "an int",
        2 => "bytes",
        3 => "a str",
        4 => "a list",
        5 => "a map",
        6 => "a tagged value",
        _ => match initial {
            0xf4 | 0xf5 => "a bool",
            0xf6 => "null",
            0xf9..=0xfb => "a float",
            _ => "a simple value",
        },
    }
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(data: &'a [u8]) -> Self {
        Parser { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The input from `start` to the current position.
    fn since(&self, start: usize) -> &'a [u8] {
        self.data.get(start..self.pos).unwrap_or_default()
    }

    fn finish(&self) -> Result<(), Error> {
        if self.pos < self.data.len() {
            Err(Error::TrailingBytes { offset: self.pos })
        } else {
            Ok(())
        }
    }

    /// One byte of the item that starts at `start`.
    fn byte(&mut self, start: usize) -> Result<u8, Error> {
        let byte = *self
            .data
            .get(self.pos)
            .ok_or(Error::Truncated { offset: start })?;
        self.pos += 1;
        Ok(byte)
    }

    /// `len` bytes of the item that starts at `start`.
    fn take(&mut self, len: u64, start: usize) -> Result<&'a [u8], Error> {
        let truncated = Error::Truncated { offset: start };
        let len = usize::try_from(len).map_err(|_| truncated.clone())?;
        let end = self.pos.checked_add(len).ok_or(truncated.clone())?;
        let slice = self.data.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn take_uint(&mut self, len: u64, start: usize) -> Result<u64, Error> {
        Ok(self
            .take(len, start)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// The argument of a major type 0–6 head whose first byte (already
    /// read) is `initial`, checked to be definite and shortest.
    fn head(&mut self, start: usize, initial: u8) -> Result<u64, Error> {
        let major = initial >> 5;
        let info = initial & 0x1f;
        let (len, min) = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => (1, 24),
            25 => (2, 0x100),
            26 => (4, 0x1_0000),
            27 => (8, 0x1_0000_0000),
            28..=30 => {
                return Err(Error::ReservedInfo {
                    offset: start,
                    major,
                    info,
                });
            }
            _ => {
                let what = match major {
                    2 => "bytes",
                    3 => "text",
                    4 => "array",
                    5 => "map",
                    _ => {
                        return Err(Error::ReservedInfo {
                            offset: start,
                            major,
                            info,
                        });
                    }
                };
                return Err(Error::Indefinite {
                    offset: start,
                    what,
                });
            }
        };
        let arg = self.take_uint(len, start)?;
        if arg < min {
            let what = match major {
                0 | 1 => "integer",
                6 => "tag number",
                _ => "length",
            };
            return Err(Error::NonShortest {
                offset: start,
                what,
            });
        }
        Ok(arg)
    }

    /// Parses one item; `depth` is the number of containers around it. With
    /// `BUILD` false nothing is allocated and `None` is returned.
    ///
    /// The parser keeps its own stack of open containers instead of
    /// recursing, so input nesting never uses the call stack.
    fn item<const BUILD: bool>(&mut self, depth: usize) -> Result<Option<Value>, Error> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            // Read one item: a complete one, or the head of a container.
            let start = self.pos;
            let initial = self.byte(start)?;
            let major = initial >> 5;
            let mut done = if major == 7 {
                self.simple::<BUILD>(start, initial)?
            } else {
                let arg = self.head(start, initial)?;
                match major {
                    0 => BUILD.then(|| Value::Integer(i128::from(arg))),
                    1 => BUILD.then(|| Value::Integer(-1 - i128::from(arg))),
                    2 => {
                        let bytes = self.take(arg, start)?;
                        BUILD.then(|| Value::Bytes(bytes.to_vec()))
                    }
                    3 => {
                        let content_start = self.pos;
                        let bytes = self.take(arg, start)?;
                        let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
                            offset: content_start + e.valid_up_to(),
                        })?;
                        BUILD.then(|| Value::Text(text.to_owned()))
                    }
                    _ => {
                        if depth + stack.len() >= MAX_DEPTH {
                            return Err(Error::TooDeep { offset: start });
                        }
                        match major {
                            4 if arg == 0 => BUILD.then(|| Value::Array(Vec::new())),
                            5 if arg == 0 => BUILD.then(|| Value::Map(Vec::new())),
                            4 => {
                                let set =
                                    matches!(stack.last(), Some(Frame::Tag { tag: TAG_SET, .. }));
                                let mut items = Vec::new();
                                if BUILD {
                                    items.reserve(capacity(arg, self.remaining()));
                                }
                                stack.push(Frame::Array {
                                    start,
                                    remaining: arg,
                                    items,
                                    set,
                                    previous: None,
                                });
                                continue;
                            }
                            5 => {
                                let mut entries = Vec::new();
                                if BUILD {
                                    entries.reserve(capacity(arg, self.remaining() / 2));
                                }
                                stack.push(Frame::Map {
                                    start,
                                    remaining: arg,
                                    entries,
                                    key: None,
                                    previous: None,
                                });
                                continue;
                            }
                            _ => match self.tag::<BUILD>(arg, start)? {
                                TagContent::Bignum(bignum) => bignum,
                                TagContent::Item => {
                                    stack.push(Frame::Tag { start, tag: arg });
                                    continue;
                                }
                            },
                        }
                    }
                }
            };
            // Hand the finished item to the container it is in; a container
            // that this completes is handed on to its own container, and so on.
            let mut item_start = start;
            loop {
                let item_end = self.pos;
                let Some(frame) = stack.last_mut() else {
                    return Ok(done);
                };
                match frame {
                    Frame::Array {
                        start,
                        remaining,
                        items,
                        set,
                        previous,
                    } => {
                        if *set {
                            match order_after(self.data, *previous, (item_start, item_end)) {
                                Ordering::Less => {}
                                Ordering::Equal => {
                                    return Err(Error::DuplicateSetElement { offset: item_start });
                                }
                                Ordering::Greater => {
                                    return Err(Error::UnsortedSet { offset: item_start });
                                }
                            }
                            *previous = Some((item_start, item_end));
                        }
                        items.extend(done.take());
                        *remaining -= 1;
                        if *remaining > 0 {
                            break;
                        }
                        item_start = *start;
                        done = BUILD.then(|| Value::Array(std::mem::take(items)));
                    }
                    Frame::Map {
                        start,
                        remaining,
                        entries,
                        key,
                        previous,
                    } => match key.take() {
                        None => {
                            // `done` is a key: check it against the previous one.
                            match order_after(self.data, *previous, (item_start, item_end)) {
                                Ordering::Less => {}
                                Ordering::Equal => {
                                    return Err(Error::DuplicateKey { offset: item_start });
                                }
                                Ordering::Greater => {
                                    return Err(Error::UnsortedKeys { offset: item_start });
                                }
                            }
                            *previous = Some((item_start, item_end));
                            // In validating mode the key is a placeholder.
                            *key = Some(done.take().unwrap_or(Value::Null));
                            break;
                        }
                        Some(k) => {
                            if let Some(v) = done.take() {
                                entries.push((k, v));
                            }
                            *remaining -= 1;
                            if *remaining > 0 {
                                break;
                            }
                            item_start = *start;
                            done = BUILD.then(|| Value::Map(std::mem::take(entries)));
                        }
                    },
                    Frame::Tag { start, tag } => {
                        item_start = *start;
                        let tag = *tag;
                        done = done.map(|v| Value::Tagged(tag, Box::new(v)));
                    }
                }
                stack.pop();
            }
        }
    }

    /// Major type 7: false, true, null and 64-bit floats only.
    fn simple<const BUILD: bool>(
        &mut self,
        start: usize,
        initial: u8,
    ) -> Result<Option<Value>, Error> {
        match initial & 0x1f {
            20 => Ok(BUILD.then_some(Value::Bool(false))),
            21 => Ok(BUILD.then_some(Value::Bool(true))),
            22 => Ok(BUILD.then_some(Value::Null)),
            24 => Err(Error::SimpleValue {
                offset: start,
                value: self.byte(start)?,
            }),
            25 => Err(Error::ShortFloat {
                offset: start,
                bits: 16,
            }),
            26 => Err(Error::ShortFloat {
                offset: start,
                bits: 32,
            }),
            27 => {
                let bits = self.take_uint(8, start)?;
                let f = f64::from_bits(bits);
                if f.is_nan() && bits != CANONICAL_NAN {
                    return Err(Error::NonCanonicalNan { offset: start });
                }
                Ok(BUILD.then_some(Value::Float(f)))
            }
            info @ 28..=30 => Err(Error::ReservedInfo {
                offset: start,
                major: 7,
                info,
            }),
            31 => Err(Error::UnexpectedBreak { offset: start }),
            value => Err(Error::SimpleValue {
                offset: start,
                value,
            }),
        }
    }

    /// After the head of tag `tag` (which started at `start`): parses a
    /// bignum completely, or checks what the tag wraps for the caller to
    /// parse it as the tag's content.
    fn tag<const BUILD: bool>(&mut self, tag: u64, start: usize) -> Result<TagContent, Error> {
        let inner_start = self.pos;
        let inner = *self
            .data
            .get(inner_start)
            .ok_or(Error::Truncated { offset: start })?;
        let needs = |major: u8, expected: &'static str| {
            if inner >> 5 == major {
                Ok(())
            } else {
                Err(Error::BadTagContent {
                    offset: start,
                    tag,
                    expected,
                    found: found(inner),
                })
            }
        };
        match tag {
            TAG_POS_BIGNUM | TAG_NEG_BIGNUM => {
                needs(2, "bytes")?;
                self.pos += 1;
                let len = self.head(inner_start, inner)?;
                let magnitude = self.take(len, inner_start)?;
                if magnitude.first() == Some(&0) {
                    return Err(Error::BignumLeadingZero { offset: start });
                }
                if magnitude.len() <= 8 {
                    return Err(Error::BignumFits { offset: start });
                }
                Ok(TagContent::Bignum(BUILD.then(|| {
                    Value::from_bignum(tag == TAG_NEG_BIGNUM, magnitude)
                })))
            }
            TAG_SET | TAG_TUPLE => needs(4, "an array").map(|()| TagContent::Item),
            TAG_PICKLE => needs(2, "bytes").map(|()| TagContent::Item),
            _ => Ok(TagContent::Item),
        }
    }
}

/// What follows a tag head.
enum TagContent {
    /// A bignum, already read (`None` when not building values).
    Bignum(Option<Value>),
    /// An item to read as the tag's content.
    Item,
}

/// A container whose items are still being read.
enum Frame {
    /// An array with `remaining` items to go; `set` when it is the content
    /// of a set tag, whose elements must be strictly increasing. `previous`
    /// is where the previous element's encoding is.
    Array {
        start: usize,
        remaining: u64,
        items: Vec<Value>,
        set: bool,
        previous: Option<(usize, usize)>,
    },
    /// A map with `remaining` entries to go; `key` holds the key of the
    /// entry whose value comes next, `previous` where the last key is.
    Map {
        start: usize,
        remaining: u64,
        entries: Vec<(Value, Value)>,
        key: Option<Value>,
        previous: Option<(usize, usize)>,
    },
    /// A tag waiting for its content.
    Tag { start: usize, tag: u64 },
}

/// How the encoded item at `this` (a byte range of `data`) compares with
/// the one before it at `previous` (`Less` when there is none): set
/// elements and map keys must ascend, bytewise.
fn order_after(data: &[u8], previous: Option<(usize, usize)>, this: (usize, usize)) -> Ordering {
    let Some((a, b)) = previous else {
        return Ordering::Less;
    };
    let before = data.get(a..b).unwrap_or_default();
    before.cmp(data.get(this.0..this.1).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode;

    #[test]
    fn depth_limit_counts_arrays_maps_and_tags() {
        // 511 arrays around a tag around an empty array: 513 levels.
        let mut blob = vec![0x81; MAX_DEPTH - 1];
        blob.extend_from_slice(&[0xc6, 0x80]);
        assert_eq!(
            validate(&blob),
            Err(Error::TooDeep {
                offset: MAX_DEPTH - 1 + 1
            })
        );
        // 510 arrays around a tag around an empty map: 512 levels.
        let mut blob = vec![0x81; MAX_DEPTH - 2];
        blob.extend_from_slice(&[0xc6, 0xa0]);
        assert!(decode(&blob).is_ok());
        // A set's array counts too.
        let mut blob = vec![0x81; MAX_DEPTH - 1];
        blob.extend_from_slice(&[0xd9, 0x01, 0x02, 0x80]);
        assert!(matches!(validate(&blob), Err(Error::TooDeep { .. })));
    }

    #[test]
    fn very_deep_input_is_rejected_without_recursing() {
        let blob = vec![0x81; 1_000_000];
        assert_eq!(decode(&blob), Err(Error::TooDeep { offset: MAX_DEPTH }));
    }

    /// Guests run with about 1 MiB of stack: the deepest accepted input
    /// must decode, encode, print and drop within that, even unoptimised.
    #[test]
    fn max_depth_fits_in_a_small_stack() {
        let worker = std::thread::Builder::new().stack_size(1 << 20).spawn(|| {
            // Alternate maps ({"k": ...}), tags and arrays down to 512 levels.
            let mut blob = Vec::new();
            for level in 0..MAX_DEPTH - 1 {
                match level % 3 {
                    0 => blob.extend_from_slice(&[0xa1, 0x61, b'k']),
                    1 => blob.push(0xc6),
                    _ => blob.push(0x81),
                }
            }
            blob.push(0x80);
            let value = decode(&blob)?;
            assert_eq!(encode(&value), blob);
            assert!(value.to_string().len() > MAX_DEPTH);
            validate(&blob)?;
            let mut deeper = vec![0x81; 10 * MAX_DEPTH];
            deeper.push(0x80);
            assert!(matches!(decode(&deeper), Err(Error::TooDeep { .. })));
            Ok::<(), Error>(())
        });
        let result = worker.map(|w| w.join());
        assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    }

    #[test]
    fn deep_value_round_trips() {
        let mut value = Value::Array(vec![]);
        for _ in 1..MAX_DEPTH {
            value = Value::Array(vec![value]);
        }
        let blob = encode(&value);
        assert_eq!(decode(&blob), Ok(value));
    }

    #[test]
    fn huge_declared_lengths_are_truncated_not_allocated() {
        for blob in [
            &[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0x7a, 0xff, 0xff, 0xff, 0xff, 0x61],
        ] {
            assert!(
                matches!(decode(blob), Err(Error::Truncated { .. })),
                "{blob:02x?}"
            );
        }
    }

    #[test]
    fn error_offsets() {
        // [1, "\xff"]: the bad byte is at offset 3.
        assert_eq!(
            decode(&[0x82, 0x01, 0x61, 0xff]),
            Err(Error::InvalidUtf8 { offset: 3 })
        );
        // {1: 0, 1: 0}
        assert_eq!(
            decode(&[0xa2, 0x01, 0x00, 0x01, 0x00]),
            Err(Error::DuplicateKey { offset: 3 })
        );
        // [0, [1, 0x1800]]
        assert_eq!(
            decode(&[0x82, 0x00, 0x82, 0x01, 0x18, 0x00]),
            Err(Error::NonShortest {
                offset: 4,
                what: "integer"
            })
        );
        assert_eq!(decode(&[]), Err(Error::Truncated { offset: 0 }));
        // A tag at the end of the input.
        assert_eq!(decode(&[0xc6]), Err(Error::Truncated { offset: 0 }));
        assert_eq!(
            decode(&[0xc2, 0x61, b'a']).map_err(|e| e.to_string()),
            Err("tag 2 at byte 0 must wrap bytes, found a str".to_string())
        );
    }

    #[test]
    fn kinds() {
        let cases: [(&[u8], &str); 12] = [
            (&[0xf6], "null"),
            (&[0xf5], "bool"),
            (&[0x20], "int"),
            (&[0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0], "int"),
            (&[0xfb, 0, 0, 0, 0, 0, 0, 0, 0], "float"),
            (&[0x60], "str"),
            (&[0x40], "bytes"),
            (&[0x80], "list"),
            (&[0xa0], "map"),
            (&[0xda, 0x6d, 0x66, 0x00, 0x01, 0x80], "tuple"),
            (&[0xda, 0x6d, 0x66, 0x00, 0x02, 0x40], "pickle"),
            (&[0xc1, 0x00], "tagged"),
        ];
        for (blob, kind) in cases {
            assert_eq!(kind_of(blob), Ok(kind));
            assert_eq!(decode(blob).map(|v| v.kind()), Ok(kind));
        }
    }

    #[test]
    fn array_items_of_tuples_sets_and_others() {
        let tuple = [0xda, 0x6d, 0x66, 0x00, 0x01, 0x82, 0x01, 0x80];
        assert_eq!(array_items(&tuple), Ok(vec![&[0x01][..], &[0x80][..]]));
        let set = [0xd9, 0x01, 0x02, 0x82, 0x01, 0x02];
        assert_eq!(array_items(&set), Ok(vec![&[0x01][..], &[0x02][..]]));
        assert_eq!(array_items(&[0x80]), Ok(vec![]));
        assert_eq!(
            array_items(&[0x01]).map_err(|e| e.to_string()),
            Err("expected a list, found an int".to_string())
        );
        assert_eq!(
            array_items(&[0xda, 0x6d, 0x66, 0x00, 0x02, 0x40]).map_err(|e| e.reason()),
            Err("unexpected-kind")
        );
        // Invalid blobs are rejected before the kind is looked at.
        assert_eq!(
            array_items(&[0x81, 0x01, 0x00]),
            Err(Error::TrailingBytes { offset: 2 })
        );
    }
}
