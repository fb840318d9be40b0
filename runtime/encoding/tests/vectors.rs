//! Runs the shared test vectors, `tests/vectors/encoding.json`, which the
//! Python and Go SDKs run too.

use std::cmp::Ordering;
use std::path::Path;

use mfw_encoding::{
    ENCODING, TAG_PICKLE, TAG_SET, TAG_TUPLE, Value, array_items, decode, encode, kind_of, validate,
};
use serde_json::Value as Json;

type TestResult = Result<(), String>;

fn load() -> Result<Json, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/encoding.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn list<'a>(doc: &'a Json, key: &str) -> Result<&'a Vec<Json>, String> {
    doc[key].as_array().ok_or_else(|| format!("no {key} array"))
}

fn str_field<'a>(j: &'a Json, key: &str) -> Result<&'a str, String> {
    j[key]
        .as_str()
        .ok_or_else(|| format!("missing string field {key} in {j}"))
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {s}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("bad hex {s}"))
        })
        .collect()
}

/// A decimal integer of any size as a Value.
fn int(s: &str) -> Result<Value, String> {
    if let Ok(i) = s.parse::<i128>() {
        return Ok(Value::Integer(i));
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    // Big-endian magnitude: multiply by 10 and add each digit.
    let mut magnitude: Vec<u8> = Vec::new();
    for c in digits.chars() {
        let mut carry = c.to_digit(10).ok_or_else(|| format!("bad integer {s}"))?;
        for byte in magnitude.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            magnitude.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    if negative {
        // CBOR stores -1 - n: the magnitude is |value| - 1.
        for byte in magnitude.iter_mut().rev() {
            let (v, borrow) = byte.overflowing_sub(1);
            *byte = v;
            if !borrow {
                break;
            }
        }
        while magnitude.first() == Some(&0) {
            magnitude.remove(0);
        }
    }
    Ok(Value::BigInteger {
        negative,
        magnitude,
    })
}

fn items(j: &Json) -> Result<Vec<Value>, String> {
    j["items"]
        .as_array()
        .ok_or_else(|| format!("no items in {j}"))?
        .iter()
        .map(typed)
        .collect()
}

/// The typed-value form of the vectors file as a Value.
fn typed(j: &Json) -> Result<Value, String> {
    Ok(match str_field(j, "type")? {
        "null" => Value::Null,
        "bool" => Value::Bool(j["value"].as_bool().ok_or("bool without value")?),
        "int" => int(str_field(j, "value")?)?,
        "float" => Value::Float(
            str_field(j, "value")?
                .parse()
                .map_err(|e| format!("bad float in {j}: {e}"))?,
        ),
        "str" => Value::Text(str_field(j, "value")?.to_owned()),
        "bytes" => Value::Bytes(unhex(str_field(j, "hex")?)?),
        "list" => Value::Array(items(j)?),
        "tuple" => Value::Tagged(TAG_TUPLE, Box::new(Value::Array(items(j)?))),
        "set" => Value::Tagged(TAG_SET, Box::new(Value::Array(items(j)?))),
        "pickle" => Value::Tagged(
            TAG_PICKLE,
            Box::new(Value::Bytes(unhex(str_field(j, "hex")?)?)),
        ),
        "map" => Value::Map(
            j["entries"]
                .as_array()
                .ok_or_else(|| format!("no entries in {j}"))?
                .iter()
                .map(|e| Ok((typed(&e[0])?, typed(&e[1])?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unknown type {other}")),
    })
}

/// The value with map entries and set elements in canonical order, as the
/// decoder returns them.
fn canonical(v: &Value) -> Value {
    let by_encoding = |a: &Value, b: &Value| -> Ordering { encode(a).cmp(&encode(b)) };
    match v {
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Map(entries) => {
            let mut entries: Vec<_> = entries
                .iter()
                .map(|(k, v)| (canonical(k), canonical(v)))
                .collect();
            entries.sort_by(|a, b| by_encoding(&a.0, &b.0));
            Value::Map(entries)
        }
        Value::Tagged(TAG_SET, inner) => match inner.as_ref() {
            Value::Array(items) => {
                let mut items: Vec<_> = items.iter().map(canonical).collect();
                items.sort_by(by_encoding);
                Value::Tagged(TAG_SET, Box::new(Value::Array(items)))
            }
            other => Value::Tagged(TAG_SET, Box::new(canonical(other))),
        },
        Value::Tagged(tag, inner) => Value::Tagged(*tag, Box::new(canonical(inner))),
        other => other.clone(),
    }
}

/// Structural equality where NaN equals NaN and -0.0 differs from 0.0.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        (Value::Tagged(ta, a), Value::Tagged(tb, b)) => ta == tb && same(a, b),
        _ => a == b,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn file_header_and_counts() -> TestResult {
    let doc = load()?;
    assert_eq!(doc["encoding"].as_str(), Some(ENCODING));
    assert!(list(&doc, "valid")?.len() >= 40);
    assert!(list(&doc, "invalid")?.len() >= 15);
    Ok(())
}

#[test]
fn valid_vectors_encode_to_their_hex() -> TestResult {
    let doc = load()?;
    for vector in list(&doc, "valid")? {
        let name = str_field(vector, "name")?;
        let value = typed(&vector["value"])?;
        assert_eq!(
            hex(&encode(&value)),
            str_field(vector, "hex")?,
            "encode: {name}"
        );
    }
    Ok(())
}

#[test]
fn valid_vectors_decode_to_their_value() -> TestResult {
    let doc = load()?;
    for vector in list(&doc, "valid")? {
        let name = str_field(vector, "name")?;
        let value = canonical(&typed(&vector["value"])?);
        let bytes = unhex(str_field(vector, "hex")?)?;
        let decoded = decode(&bytes).map_err(|e| format!("{name}: {e}"))?;
        assert!(
            same(&decoded, &value),
            "decode: {name}: {decoded:?} != {value:?}"
        );
        assert_eq!(validate(&bytes), Ok(()), "validate: {name}");
        let kind = str_field(&vector["value"], "type")?;
        assert_eq!(kind_of(&bytes), Ok(kind), "kind_of: {name}");
        assert_eq!(decoded.kind(), kind, "Value::kind: {name}");
        // Decoding is the inverse of encoding.
        assert_eq!(encode(&decoded), bytes, "re-encode: {name}");
    }
    Ok(())
}

#[test]
fn valid_list_vectors_split_into_items() -> TestResult {
    let doc = load()?;
    for vector in list(&doc, "valid")? {
        let name = str_field(vector, "name")?;
        let bytes = unhex(str_field(vector, "hex")?)?;
        let decoded = decode(&bytes).map_err(|e| format!("{name}: {e}"))?;
        let elements = match &decoded {
            Value::Array(items) => Some(items),
            Value::Tagged(TAG_SET | TAG_TUPLE, inner) => match inner.as_ref() {
                Value::Array(items) => Some(items),
                _ => None,
            },
            _ => None,
        };
        match (elements, array_items(&bytes)) {
            (Some(elements), Ok(slices)) => {
                assert_eq!(slices.len(), elements.len(), "{name}");
                for (slice, element) in slices.iter().zip(elements) {
                    assert_eq!(*slice, encode(element).as_slice(), "{name}");
                }
            }
            (None, Err(err)) => {
                assert_eq!(err.reason(), "unexpected-kind", "{name}");
                assert!(
                    err.to_string().starts_with("expected a list, found "),
                    "{name}: {err}"
                );
            }
            (elements, result) => panic!("{name}: {elements:?} vs {result:?}"),
        }
    }
    Ok(())
}

#[test]
fn invalid_vectors_are_rejected() -> TestResult {
    let doc = load()?;
    for vector in list(&doc, "invalid")? {
        let name = str_field(vector, "name")?;
        let reason = str_field(vector, "error")?;
        let bytes = unhex(str_field(vector, "hex")?)?;
        let decoded = decode(&bytes);
        let validated = validate(&bytes);
        let Err(err) = decoded else {
            panic!("decode accepted {name}: {decoded:?}");
        };
        assert_eq!(err.reason(), reason, "{name}: {err}");
        assert!(err.offset().is_some(), "{name}: {err}");
        assert!(err.to_string().contains("at byte"), "{name}: {err}");
        assert_eq!(validated, Err(err), "validate: {name}");
        assert!(kind_of(&bytes).is_err(), "kind_of: {name}");
        assert!(array_items(&bytes).is_err(), "array_items: {name}");
    }
    Ok(())
}

#[test]
fn int_parser_matches_the_encoder() -> TestResult {
    // -(2^64) - 1 is tag 3 around 2^64.
    assert_eq!(
        hex(&encode(&int("-18446744073709551617")?)),
        "c349010000000000000000"
    );
    assert_eq!(
        int("-340282366920938463463374607431768211457")?,
        Value::BigInteger {
            negative: true,
            magnitude: [vec![1], vec![0; 16]].concat()
        }
    );
    Ok(())
}

/// Every blob the decoder accepts is exactly what the encoder writes for
/// the decoded value, and `validate` agrees with `decode`: checked on every
/// one-byte mutation and truncation of the valid vectors, and on random
/// short inputs. Nothing may panic.
#[test]
fn accepted_blobs_are_canonical() -> TestResult {
    fn check(blob: &[u8]) {
        let decoded = decode(blob);
        assert_eq!(
            validate(blob),
            decoded.as_ref().map(|_| ()).map_err(Clone::clone),
            "{}",
            hex(blob)
        );
        if let Ok(value) = decoded {
            assert_eq!(
                hex(&encode(&value)),
                hex(blob),
                "accepted a non-canonical blob"
            );
        }
    }
    let doc = load()?;
    let mut accepted = 0usize;
    for vector in list(&doc, "valid")? {
        let bytes = unhex(str_field(vector, "hex")?)?;
        if bytes.len() > 64 {
            continue;
        }
        for i in 0..bytes.len() {
            check(&bytes[..i]);
            for replacement in [
                0x00, 0x01, 0x17, 0x18, 0x1f, 0x20, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xa0, 0xbf,
                0xc0, 0xc2, 0xd9, 0xf4, 0xf7, 0xfb, 0xff,
            ] {
                let mut mutated = bytes.clone();
                mutated[i] = replacement;
                check(&mutated);
                accepted += usize::from(decode(&mutated).is_ok());
            }
        }
    }
    // xorshift: deterministic pseudo-random inputs of 1 to 12 bytes.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 12 + 1) as usize;
        let blob: Vec<u8> = (0..len).map(|i| (state >> (i * 5 % 56)) as u8).collect();
        check(&blob);
        accepted += usize::from(decode(&blob).is_ok());
    }
    assert!(accepted > 100, "the mutations should hit some valid blobs");
    Ok(())
}
