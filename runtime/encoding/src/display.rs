//! A Python-like `repr` of values, as `mfw dump` shows them.

use std::fmt::{self, Display, Formatter, Write};

use crate::{
    ArrowTable, NdArray, TAG_ARROW, TAG_BYTEARRAY, TAG_FROZENSET, TAG_NDARRAY, TAG_NEG_BIGNUM,
    TAG_PICKLE, TAG_POS_BIGNUM, TAG_SET, TAG_TUPLE, Value, bigint,
};

/// Formats a value like Python's `repr` of the value a Python step would
/// see: `None`, `True`, `12`, `1.5`, `1e+300`, `nan`, `'text'`,
/// `b'\x00ab'`, `[1, 2]`, `(1,)`, `{1, 2}`, `set()`, `{'a': 1}`,
/// `<python object: N bytes of pickle>`, and `tag(N, value)` for other tags.
///
/// Floats always show a `.` or an exponent, as in Python. Which characters
/// of text are escaped follows Python's `str.isprintable` for ASCII and
/// Latin-1 and approximates it beyond (control, format, separator and
/// private-use characters are escaped).
///
/// ```
/// use mfw_encoding::{Value, TAG_SET, TAG_TUPLE};
///
/// let v = Value::Map(vec![
///     (Value::Text("a".into()), Value::Tagged(TAG_TUPLE, Box::new(Value::Array(vec![Value::Integer(1)])))),
///     (Value::Text("b".into()), Value::Tagged(TAG_SET, Box::new(Value::Array(vec![])))),
///     (Value::Text("c".into()), Value::Bytes(vec![0, b'a', b'b'])),
///     (Value::Text("d".into()), Value::Float(1e300)),
/// ]);
/// assert_eq!(v.to_string(), r"{'a': (1,), 'b': set(), 'c': b'\x00ab', 'd': 1e+300}");
/// ```
impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::BigInteger {
                negative,
                magnitude,
            } => f.write_str(&bigint::to_decimal(*negative, magnitude)),
            Value::Float(x) => f.write_str(&py_float(*x)),
            Value::Text(s) => py_str(f, s),
            Value::Bytes(b) => py_bytes(f, b),
            Value::Array(items) => {
                f.write_char('[')?;
                comma_separated(f, items)?;
                f.write_char(']')
            }
            Value::Map(entries) => {
                f.write_char('{')?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_char('}')
            }
            Value::Tagged(tag, inner) => match (*tag, inner.as_ref()) {
                (TAG_TUPLE, Value::Array(items)) => {
                    f.write_char('(')?;
                    comma_separated(f, items)?;
                    if items.len() == 1 {
                        f.write_char(',')?;
                    }
                    f.write_char(')')
                }
                (TAG_SET, Value::Array(items)) if items.is_empty() => f.write_str("set()"),
                (TAG_SET, Value::Array(items)) => {
                    f.write_char('{')?;
                    comma_separated(f, items)?;
                    f.write_char('}')
                }
                (TAG_PICKLE, Value::Bytes(b)) => {
                    write!(f, "<python object: {} bytes of pickle>", b.len())
                }
                (TAG_FROZENSET, set @ Value::Tagged(TAG_SET, _)) => {
                    write!(f, "frozenset({set})")
                }
                (TAG_BYTEARRAY, bytes @ Value::Bytes(_)) => write!(f, "bytearray({bytes})"),
                (TAG_POS_BIGNUM, Value::Bytes(m)) => Value::from_bignum(false, m).fmt(f),
                (TAG_NEG_BIGNUM, Value::Bytes(m)) => Value::from_bignum(true, m).fmt(f),
                (TAG_NDARRAY, _) => match NdArray::from_value(self) {
                    Ok(array) => array.fmt(f),
                    Err(_) => write!(f, "tag({tag}, {inner})"),
                },
                (TAG_ARROW, Value::Bytes(ipc)) => ArrowTable::from_ipc(ipc.clone()).fmt(f),
                (tag, inner) => write!(f, "tag({tag}, {inner})"),
            },
        }
    }
}

fn comma_separated(f: &mut Formatter<'_>, items: &[Value]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        item.fmt(f)?;
    }
    Ok(())
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed
/// notation when the decimal exponent is in [-4, 16), else scientific.
fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.5e300".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // The decimal point goes after `point` digits.
    let point = exponent + 1;
    let n = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let mut out = String::from(sign);
    if -4 < point && point <= 16 {
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else if point >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (point - n) as usize));
            out.push_str(".0");
        } else {
            let (int, frac) = digits.split_at(point as usize);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{exp_sign}{:02}", exponent.unsigned_abs());
    }
    out
}

/// Python's `repr(str)`.
fn py_str(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if !printable(c) => {
                let n = u32::from(c);
                if n < 0x100 {
                    write!(f, "\\x{n:02x}")?;
                } else if n < 0x1_0000 {
                    write!(f, "\\u{n:04x}")?;
                } else {
                    write!(f, "\\U{n:08x}")?;
                }
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char(quote)
}

/// An approximation of Python's `str.isprintable` for one character: exact
/// below U+0100, covering the common format, separator, private-use and
/// non-characters above.
fn printable(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{a0}'
                | '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{1680}'
                | '\u{180e}'
                | '\u{2000}'..='\u{200f}'
                | '\u{2028}'..='\u{202f}'
                | '\u{205f}'..='\u{206f}'
                | '\u{3000}'
                | '\u{e000}'..='\u{f8ff}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{fffe}'..='\u{ffff}'
                | '\u{e0000}'..='\u{e007f}'
                | '\u{f0000}'..
        ))
}

/// Python's `repr(bytes)`.
fn py_bytes(f: &mut Formatter<'_>, b: &[u8]) -> fmt::Result {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    f.write_char('b')?;
    f.write_char(char::from(quote))?;
    for &byte in b {
        match byte {
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            _ if byte == quote => write!(f, "\\{}", char::from(byte))?,
            0x20..=0x7e => f.write_char(char::from(byte))?,
            _ => write!(f, "\\x{byte:02x}")?,
        }
    }
    f.write_char(char::from(quote))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(items: Vec<Value>) -> Value {
        Value::Tagged(TAG_TUPLE, Box::new(Value::Array(items)))
    }

    fn set(items: Vec<Value>) -> Value {
        Value::Tagged(TAG_SET, Box::new(Value::Array(items)))
    }

    #[test]
    fn floats_like_python() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (1.0, "1.0"),
            (-4.1, "-4.1"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789.125, "123456789.125"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e-5, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e300, "1e+300"),
            (-1.5e300, "-1.5e+300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(Value::Float(x).to_string(), want, "{x:e}");
        }
    }

    #[test]
    fn text_like_python() {
        let cases = [
            ("", "''"),
            ("abc", "'abc'"),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("a\\b", "'a\\\\b'"),
            ("line\nnext\ttab\r", "'line\\nnext\\ttab\\r'"),
            ("\u{0}\u{7f}\u{85}\u{a0}é", "'\\x00\\x7f\\x85\\xa0é'"),
            ("ü水𝄞", "'ü水𝄞'"),
            ("\u{200b}\u{feff}", "'\\u200b\\ufeff'"),
            ("\u{e0001}", "'\\U000e0001'"),
        ];
        for (s, want) in cases {
            assert_eq!(Value::Text(s.into()).to_string(), want);
        }
    }

    #[test]
    fn bytes_like_python() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "b''"),
            (b"\x00ab", "b'\\x00ab'"),
            (b"it's", "b\"it's\""),
            (b"\\\n\xff'\"", "b'\\\\\\n\\xff\\'\"'"),
            (b"\x7f ~", "b'\\x7f ~'"),
        ];
        for (b, want) in cases {
            assert_eq!(Value::Bytes(b.to_vec()).to_string(), want);
        }
    }

    #[test]
    fn containers_like_python() {
        let one = Value::Integer(1);
        let two = Value::Integer(2);
        assert_eq!(Value::Array(vec![]).to_string(), "[]");
        assert_eq!(
            Value::Array(vec![one.clone(), two.clone()]).to_string(),
            "[1, 2]"
        );
        assert_eq!(tuple(vec![]).to_string(), "()");
        assert_eq!(tuple(vec![one.clone()]).to_string(), "(1,)");
        assert_eq!(tuple(vec![one.clone(), two.clone()]).to_string(), "(1, 2)");
        assert_eq!(set(vec![]).to_string(), "set()");
        assert_eq!(set(vec![one.clone(), two.clone()]).to_string(), "{1, 2}");
        assert_eq!(Value::Map(vec![]).to_string(), "{}");
        assert_eq!(
            Value::Map(vec![
                (Value::Text("a".into()), one.clone()),
                (tuple(vec![one.clone(), Value::Null]), Value::Bool(false)),
            ])
            .to_string(),
            "{'a': 1, (1, None): False}"
        );
        assert_eq!(
            Value::Tagged(TAG_PICKLE, Box::new(Value::Bytes(vec![0; 12]))).to_string(),
            "<python object: 12 bytes of pickle>"
        );
        assert_eq!(
            Value::Tagged(1, Box::new(Value::Integer(1_700_000_000))).to_string(),
            "tag(1, 1700000000)"
        );
        // A set tag around something else is shown as a plain tag.
        assert_eq!(
            Value::Tagged(TAG_SET, Box::new(Value::Null)).to_string(),
            "tag(258, None)"
        );
    }

    #[test]
    fn integers() {
        assert_eq!(Value::Integer(-12).to_string(), "-12");
        assert_eq!(Value::Integer(i128::MIN).to_string(), i128::MIN.to_string());
        let big = Value::BigInteger {
            negative: true,
            magnitude: [vec![0x80], vec![0; 15]].concat(),
        };
        assert_eq!(big.to_string(), "-170141183460469231731687303715884105729");
        assert_eq!(
            Value::Tagged(2, Box::new(Value::Bytes(vec![1, 0]))).to_string(),
            "256"
        );
    }
}
