//! The canonical encoder.

use crate::{CANONICAL_NAN, TAG_NEG_BIGNUM, TAG_POS_BIGNUM, TAG_SET, Value, bigint};

/// Encodes a value in its canonical form.
///
/// The encoder does the canonicalisation itself: map entries and the
/// elements of a set ([`TAG_SET`] around an array) are sorted by the bytewise
/// order of their encodings, integers take the shortest form (major type 0/1
/// in [-2^64, 2^64 - 1], else tag 2/3 without leading zeros, whether they
/// come as [`Value::Integer`], [`Value::BigInteger`] or a tag 2/3 around
/// bytes), floats are 64-bit with the one canonical NaN.
///
/// It removes nothing: a map with two equal keys, or a set with two equal
/// elements, keeps both (sorted, equal ones in their given order), and the
/// result is then rejected by [`decode`](crate::decode) as a duplicate.
/// Likewise a set, tuple or pickle tag around the wrong kind of item, or
/// nesting deeper than [`MAX_DEPTH`](crate::MAX_DEPTH), is written as given
/// and rejected on decoding. Values built by [`decode`](crate::decode) or by
/// serde ([`to_value`](crate::to_value)) never have these problems, except
/// that duplicates can arise from distinct Rust map keys that serialize
/// equally.
///
/// ```
/// use mfw_encoding::{encode, Value};
///
/// assert_eq!(encode(&Value::Integer(500)), [0x19, 0x01, 0xf4]);
/// assert_eq!(encode(&Value::Float(f64::NAN)), [0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]);
/// // 2^64 does not fit major type 0: tag 2 with 9 magnitude bytes.
/// assert_eq!(
///     encode(&Value::Integer(1 << 64)),
///     [0xc2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]
/// );
/// ```
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

/// Writes a head with the shortest argument encoding.
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if let Ok(small) = u8::try_from(arg) {
        if small < 24 {
            out.push(m | small);
        } else {
            out.push(m | 24);
            out.push(small);
        }
    } else if let Ok(v) = u16::try_from(arg) {
        out.push(m | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(arg) {
        out.push(m | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

fn write_len(out: &mut Vec<u8>, major: u8, len: usize) {
    // usize is at most 64 bits on every supported target.
    write_head(out, major, len as u64);
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(0xf6),
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Integer(i) => write_integer(out, *i),
        Value::BigInteger {
            negative,
            magnitude,
        } => write_bignum(out, *negative, magnitude),
        Value::Float(f) => {
            out.push(0xfb);
            let bits = if f.is_nan() {
                CANONICAL_NAN
            } else {
                f.to_bits()
            };
            out.extend_from_slice(&bits.to_be_bytes());
        }
        Value::Text(s) => {
            write_len(out, 3, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            write_len(out, 2, b.len());
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            write_len(out, 4, items.len());
            for item in items {
                write(out, item);
            }
        }
        Value::Map(entries) => write_map(out, entries),
        Value::Tagged(tag, inner) => match (*tag, inner.as_ref()) {
            (TAG_POS_BIGNUM, Value::Bytes(m)) => write_bignum(out, false, m),
            (TAG_NEG_BIGNUM, Value::Bytes(m)) => write_bignum(out, true, m),
            (TAG_SET, Value::Array(items)) => {
                write_head(out, 6, TAG_SET);
                write_len(out, 4, items.len());
                let mut encoded: Vec<Vec<u8>> = items.iter().map(encode).collect();
                encoded.sort();
                for item in encoded {
                    out.extend_from_slice(&item);
                }
            }
            (tag, inner) => {
                write_head(out, 6, tag);
                write(out, inner);
            }
        },
    }
}

fn write_integer(out: &mut Vec<u8>, i: i128) {
    if i >= 0 {
        match u64::try_from(i) {
            Ok(u) => write_head(out, 0, u),
            Err(_) => write_bignum(out, false, &i.unsigned_abs().to_be_bytes()),
        }
    } else {
        // -1 - i cannot overflow: i >= i128::MIN gives at most i128::MAX.
        let n = -1 - i;
        match u64::try_from(n) {
            Ok(u) => write_head(out, 1, u),
            Err(_) => write_bignum(out, true, &n.unsigned_abs().to_be_bytes()),
        }
    }
}

fn write_bignum(out: &mut Vec<u8>, negative: bool, magnitude: &[u8]) {
    let magnitude = bigint::trim(magnitude);
    let major = if negative { 1 } else { 0 };
    if magnitude.len() <= 8 {
        let n = magnitude
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        write_head(out, major, n);
    } else {
        let tag = if negative {
            TAG_NEG_BIGNUM
        } else {
            TAG_POS_BIGNUM
        };
        write_head(out, 6, tag);
        write_len(out, 2, magnitude.len());
        out.extend_from_slice(magnitude);
    }
}

fn write_map(out: &mut Vec<u8>, entries: &[(Value, Value)]) {
    write_len(out, 5, entries.len());
    let mut encoded: Vec<(Vec<u8>, &Value)> = entries.iter().map(|(k, v)| (encode(k), v)).collect();
    // Stable: equal keys keep their given order.
    encoded.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in encoded {
        out.extend_from_slice(&key);
        write(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_shortest() {
        let cases: [(u64, &[u8]); 9] = [
            (0, &[0x00]),
            (23, &[0x17]),
            (24, &[0x18, 24]),
            (255, &[0x18, 0xff]),
            (256, &[0x19, 0x01, 0x00]),
            (65535, &[0x19, 0xff, 0xff]),
            (65536, &[0x1a, 0, 1, 0, 0]),
            (u64::from(u32::MAX), &[0x1a, 0xff, 0xff, 0xff, 0xff]),
            (1 << 32, &[0x1b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for (n, want) in cases {
            let mut out = Vec::new();
            write_head(&mut out, 0, n);
            assert_eq!(out, want, "{n}");
        }
    }

    #[test]
    fn integers_at_the_edges() {
        assert_eq!(encode(&Value::Integer(-1)), [0x20]);
        assert_eq!(
            encode(&Value::Integer(-(1 << 64))),
            [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            encode(&Value::Integer(-(1 << 64) - 1)),
            [0xc3, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let mut min = vec![0xc3, 0x50, 0x7f];
        min.extend_from_slice(&[0xff; 15]);
        assert_eq!(encode(&Value::Integer(i128::MIN)), min);
    }

    #[test]
    fn bignums_are_normalised() {
        let big = Value::BigInteger {
            negative: false,
            magnitude: vec![0, 0, 1, 0],
        };
        assert_eq!(encode(&big), [0x19, 0x01, 0x00]);
        let tagged = Value::Tagged(3, Box::new(Value::Bytes(vec![0, 5])));
        assert_eq!(encode(&tagged), [0x25]);
        let empty = Value::BigInteger {
            negative: true,
            magnitude: vec![],
        };
        assert_eq!(encode(&empty), [0x20]);
    }

    #[test]
    fn duplicates_are_kept_in_order() {
        let map = Value::Map(vec![
            (Value::Integer(1), Value::Text("b".into())),
            (Value::Integer(0), Value::Null),
            (Value::Integer(1), Value::Text("a".into())),
        ]);
        assert_eq!(
            encode(&map),
            [0xa3, 0x00, 0xf6, 0x01, 0x61, b'b', 0x01, 0x61, b'a']
        );
    }
}
