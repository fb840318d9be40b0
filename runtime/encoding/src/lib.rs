//! The mfw artifact encoding, `mfw-cbor/1`: deterministic CBOR (a subset of
//! RFC 8949) shared by the host and every guest SDK.
//!
//! Artifacts are content-addressed, so one value must have exactly one
//! encoding: the same value gives the same bytes and therefore the same
//! blake3 hash, whichever language produced it. [`encode`] always writes the
//! canonical form; [`decode`] and [`validate`] reject anything else with an
//! [`Error`] that says what is wrong and at which byte offset. The full
//! specification is `docs/encoding.md` in the repository.
//!
//! ```
//! use mfw_encoding::{decode, encode, Value};
//!
//! // Map keys are sorted by their encodings, whatever order they come in.
//! let value = Value::Map(vec![
//!     (Value::Text("b".into()), Value::Integer(1)),
//!     (Value::Text("a".into()), Value::Integer(2)),
//! ]);
//! let bytes = encode(&value);
//! assert_eq!(bytes, [0xa2, 0x61, 0x61, 0x02, 0x61, 0x62, 0x01]);
//! assert_eq!(decode(&bytes)?.to_string(), "{'a': 2, 'b': 1}");
//! # Ok::<(), mfw_encoding::Error>(())
//! ```
//!
//! Rust types go through serde with [`to_vec`] and [`from_slice`]:
//!
//! ```
//! use std::collections::HashMap;
//!
//! let counts = HashMap::from([("z".to_string(), 1u32), ("a".to_string(), 2)]);
//! let bytes = mfw_encoding::to_vec(&counts)?;
//! let back: HashMap<String, u32> = mfw_encoding::from_slice(&bytes)?;
//! assert_eq!(back, counts);
//! # Ok::<(), mfw_encoding::Error>(())
//! ```
//!
//! The crate has no I/O, threads or platform code and builds for
//! `wasm32-wasip2`, where guest SDKs use it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod arrow;
mod bigint;
mod de;
mod decode;
mod display;
mod encode;
mod error;
#[cfg(feature = "json")]
mod json;
mod ndarray;
mod ser;
mod stream;

pub use arrow::{ArrowTable, ArrowTableError, TAG_ARROW};
pub use de::{from_slice, from_value};
pub use decode::{array_items, decode, kind_of, validate};
pub use encode::encode;
pub use error::Error;
#[cfg(feature = "json")]
pub use json::to_json;
pub use ndarray::{DType, NdArray, NdArrayError, TAG_NDARRAY};
pub use ser::{to_value, to_vec};
pub use stream::StreamValidator;
/// The Arrow crates [`ArrowTable`] reads and writes with, re-exported so a
/// step uses the same versions.
#[cfg(feature = "arrow")]
pub use {arrow_array, arrow_schema};

/// The name of this encoding, as recorded next to stored artifacts.
///
/// A future incompatible change to the rules gets a new name (`mfw-cbor/2`).
///
/// ```
/// assert_eq!(mfw_encoding::ENCODING, "mfw-cbor/1");
/// ```
pub const ENCODING: &str = "mfw-cbor/1";

/// CBOR tag for a set: the tagged item is an array whose elements are sorted
/// by their encodings, without duplicates.
///
/// ```
/// use mfw_encoding::{encode, Value, TAG_SET};
///
/// let set = Value::Tagged(TAG_SET, Box::new(Value::Array(vec![Value::Integer(2), Value::Integer(1)])));
/// // 0xd9 0x0102 = tag 258, then [1, 2] sorted.
/// assert_eq!(encode(&set), [0xd9, 0x01, 0x02, 0x82, 0x01, 0x02]);
/// ```
pub const TAG_SET: u64 = 258;

/// CBOR tag for a tuple: the tagged item is an array (a Python `tuple`).
///
/// ```
/// use mfw_encoding::{Value, TAG_TUPLE};
///
/// let pair = Value::Tagged(TAG_TUPLE, Box::new(Value::Array(vec![Value::Integer(1), Value::Null])));
/// assert_eq!(pair.to_string(), "(1, None)");
/// ```
pub const TAG_TUPLE: u64 = 0x6D66_0001;

/// CBOR tag for a Python object stored as a pickle: the tagged item is a
/// byte string that only Python steps can read.
///
/// ```
/// use mfw_encoding::{Value, TAG_PICKLE};
///
/// let obj = Value::Tagged(TAG_PICKLE, Box::new(Value::Bytes(b"\x80\x04N.".to_vec())));
/// assert_eq!(obj.to_string(), "<python object: 4 bytes of pickle>");
/// ```
pub const TAG_PICKLE: u64 = 0x6D66_0002;

/// CBOR tag for a Python `frozenset`: the tagged item is a set
/// ([`TAG_SET`]); other languages read the set.
///
/// ```
/// use mfw_encoding::{decode, Value, TAG_FROZENSET};
///
/// let frozen = decode(&[0xda, 0x6d, 0x66, 0x00, 0x05, 0xd9, 0x01, 0x02, 0x81, 0x01])?;
/// assert_eq!(frozen.to_string(), "frozenset({1})");
/// let ints: Vec<i64> = mfw_encoding::from_value(frozen)?;
/// assert_eq!(ints, [1]);
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub const TAG_FROZENSET: u64 = 0x6D66_0005;

/// CBOR tag for a Python `bytearray`: the tagged item is a byte string;
/// other languages read the bytes.
///
/// ```
/// use mfw_encoding::{decode, TAG_BYTEARRAY};
///
/// let array = decode(&[0xda, 0x6d, 0x66, 0x00, 0x06, 0x41, 0x00])?;
/// assert_eq!(array.to_string(), "bytearray(b'\\x00')");
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub const TAG_BYTEARRAY: u64 = 0x6D66_0006;

/// CBOR tag for a positive bignum (RFC 8949 §3.4.3), used for integers above
/// 2^64 - 1.
pub(crate) const TAG_POS_BIGNUM: u64 = 2;

/// CBOR tag for a negative bignum: the value is -1 - magnitude.
pub(crate) const TAG_NEG_BIGNUM: u64 = 3;

/// The deepest nesting accepted by the decoder: arrays, maps and tags each
/// open one level, so 512 arrays inside one another are fine and 513 are not.
///
/// ```
/// let mut blob = vec![0x81; mfw_encoding::MAX_DEPTH - 1];
/// blob.push(0x80); // 512 nested arrays
/// assert!(mfw_encoding::validate(&blob).is_ok());
/// blob.insert(0, 0x81); // 513
/// assert!(mfw_encoding::validate(&blob).is_err());
/// ```
pub const MAX_DEPTH: usize = 512;

/// The only NaN the encoding allows, as the bits of a 64-bit float.
pub(crate) const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// A value in the mfw encoding.
///
/// Sets, tuples and Python objects are [`Value::Tagged`] with [`TAG_SET`],
/// [`TAG_TUPLE`] and [`TAG_PICKLE`]; integers are [`Value::Integer`] unless
/// they lie outside the `i128` range.
///
/// Equality is structural (derived): `Float(NaN) != Float(NaN)` and the order
/// of map entries matters, so compare canonical encodings ([`encode`]) when
/// you mean "the same artifact".
///
/// ```
/// use mfw_encoding::{decode, encode, Value};
///
/// let v = Value::Array(vec![Value::Integer(1), Value::Text("two".into()), Value::Float(3.0)]);
/// assert_eq!(v.to_string(), "[1, 'two', 3.0]");
/// assert_eq!(decode(&encode(&v))?, v);
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (Python `None`).
    Null,
    /// `false` or `true`.
    Bool(bool),
    /// An integer. Values in [-2^64, 2^64 - 1] encode with major type 0/1,
    /// others with tag 2/3; decoding a tag 2/3 that fits `i128` gives this
    /// variant.
    Integer(i128),
    /// An integer outside the `i128` range, as CBOR tag 2 (`negative: false`,
    /// value = magnitude) or tag 3 (`negative: true`, value = -1 - magnitude).
    /// The magnitude is big-endian. The decoder only produces this variant for
    /// values outside `i128`; the encoder accepts any magnitude (leading zeros
    /// are dropped and small values written as plain integers).
    BigInteger {
        /// Whether the value is -1 - magnitude rather than magnitude.
        negative: bool,
        /// Big-endian magnitude bytes.
        magnitude: Vec<u8>,
    },
    /// A 64-bit float. Every NaN encodes as `0x7ff8000000000000`; `-0.0`
    /// stays `-0.0`.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// An array (a list).
    Array(Vec<Value>),
    /// A map. The encoder sorts entries by the encoding of their keys; the
    /// decoder returns them in that order.
    Map(Vec<(Value, Value)>),
    /// A tagged value: sets, tuples and pickles, or any other tag, kept as
    /// an opaque tag number and content.
    Tagged(u64, Box<Value>),
}

impl Value {
    /// The kind of the value, with the names [`kind_of`] uses: `"null"`,
    /// `"bool"`, `"int"`, `"float"`, `"str"`, `"bytes"`, `"list"`, `"map"`,
    /// `"tuple"`, `"set"`, `"pickle"` or `"tagged"`.
    ///
    /// ```
    /// use mfw_encoding::{Value, TAG_SET};
    ///
    /// assert_eq!(Value::Integer(3).kind(), "int");
    /// assert_eq!(Value::Tagged(TAG_SET, Box::new(Value::Array(vec![]))).kind(), "set");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Integer(_) | Value::BigInteger { .. } => "int",
            Value::Float(_) => "float",
            Value::Text(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "list",
            Value::Map(_) => "map",
            Value::Tagged(tag, inner) => match (*tag, inner.as_ref()) {
                (TAG_SET, _) => "set",
                (TAG_FROZENSET, _) => "frozenset",
                (TAG_BYTEARRAY, _) => "bytearray",
                (TAG_TUPLE, _) => "tuple",
                (TAG_PICKLE, _) => "pickle",
                (TAG_POS_BIGNUM | TAG_NEG_BIGNUM, Value::Bytes(_)) => "int",
                _ => "tagged",
            },
        }
    }

    /// The value's repr (its `Display`), cut after `max` bytes at a
    /// character boundary with ` …`; formatting stops there, so a huge
    /// value costs no more than `max`.
    ///
    /// ```
    /// use mfw_encoding::Value;
    ///
    /// assert_eq!(Value::Text("abcdef".into()).repr_bounded(4), "'abc …");
    /// assert_eq!(Value::Integer(7).repr_bounded(4), "7");
    /// ```
    pub fn repr_bounded(&self, max: usize) -> String {
        struct Bounded {
            text: String,
            max: usize,
            cut: bool,
        }
        impl std::fmt::Write for Bounded {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                let room = self.max - self.text.len();
                if s.len() <= room {
                    self.text.push_str(s);
                    return Ok(());
                }
                let mut end = room;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                self.text.push_str(&s[..end]);
                self.cut = true;
                Err(std::fmt::Error)
            }
        }
        let mut out = Bounded {
            text: String::new(),
            max,
            cut: false,
        };
        let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{self}"));
        if out.cut {
            out.text.push_str(" …");
        }
        out.text
    }

    /// An integer from a bignum: `negative` means -1 - magnitude. Gives
    /// [`Value::Integer`] when the value fits `i128`, else a
    /// [`Value::BigInteger`] without leading zero bytes.
    ///
    /// ```
    /// use mfw_encoding::Value;
    ///
    /// assert_eq!(Value::from_bignum(true, &[0x01, 0x00]), Value::Integer(-257));
    /// assert!(matches!(Value::from_bignum(false, &[1; 17]), Value::BigInteger { .. }));
    /// ```
    pub fn from_bignum(negative: bool, magnitude: &[u8]) -> Value {
        let magnitude = bigint::trim(magnitude);
        if magnitude.len() <= 16 {
            let n = magnitude
                .iter()
                .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
            if let Ok(n) = i128::try_from(n) {
                return Value::Integer(if negative { -1 - n } else { n });
            }
        }
        Value::BigInteger {
            negative,
            magnitude: magnitude.to_vec(),
        }
    }
}

/// The kind name with an article, for error messages ("a list", "an int").
pub(crate) fn phrase(kind: &str) -> &'static str {
    match kind {
        "null" => "null",
        "bool" => "a bool",
        "int" => "an int",
        "float" => "a float",
        "str" => "a str",
        "bytes" => "bytes",
        "list" => "a list",
        "map" => "a map",
        "tuple" => "a tuple",
        "set" => "a set",
        "pickle" => "a pickle (a Python object only Python steps can read)",
        _ => "a tagged value",
    }
}
