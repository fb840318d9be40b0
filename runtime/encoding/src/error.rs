//! The error type.

use std::fmt::Display;

/// Why a blob is not valid `mfw-cbor/1`, or why a value does not fit a Rust
/// type. Decoding errors carry the byte offset of the offending item (its
/// first byte) or of the offending byte.
///
/// [`Error::reason`] gives a short stable keyword, the one used in the
/// `error` field of the invalid test vectors.
///
/// ```
/// use mfw_encoding::{decode, Error};
///
/// // {"b": 1, "a": 2}: keys out of order.
/// let err = decode(&[0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]).unwrap_err();
/// assert_eq!(err, Error::UnsortedKeys { offset: 4 });
/// assert_eq!(err.to_string(), "map keys out of canonical order at byte 4");
/// assert_eq!(err.reason(), "unsorted-keys");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside an item (or is empty).
    #[error("truncated input: the item at byte {offset} runs past the end")]
    Truncated {
        /// Where the unfinished item starts.
        offset: usize,
    },
    /// Bytes follow the one item a blob holds.
    #[error("trailing bytes at byte {offset}: a blob holds exactly one item")]
    TrailingBytes {
        /// Where the first trailing byte is.
        offset: usize,
    },
    /// An integer, length or tag number that a shorter head could hold.
    #[error("non-shortest {what} head at byte {offset}")]
    NonShortest {
        /// Where the head is.
        offset: usize,
        /// `"integer"`, `"length"` or `"tag number"`.
        what: &'static str,
    },
    /// An indefinite-length string, array or map (additional info 31).
    #[error("indefinite-length {what} at byte {offset}: only definite lengths are allowed")]
    Indefinite {
        /// Where the item is.
        offset: usize,
        /// `"bytes"`, `"text"`, `"array"` or `"map"`.
        what: &'static str,
    },
    /// Additional info 28–30, or 31 where it has no meaning.
    #[error("reserved additional info {info} in major type {major} at byte {offset}")]
    ReservedInfo {
        /// Where the head is.
        offset: usize,
        /// The major type (0–7).
        major: u8,
        /// The additional info (low 5 bits).
        info: u8,
    },
    /// A break stop code (0xff) outside any indefinite-length item.
    #[error("unexpected break (0xff) at byte {offset}")]
    UnexpectedBreak {
        /// Where the break is.
        offset: usize,
    },
    /// A half- or single-precision float.
    #[error("{bits}-bit float at byte {offset}: floats must be 64-bit (0xfb)")]
    ShortFloat {
        /// Where the float is.
        offset: usize,
        /// 16 or 32.
        bits: u8,
    },
    /// A NaN other than `0x7ff8000000000000`.
    #[error("non-canonical NaN at byte {offset}: NaN must be 0xfb7ff8000000000000")]
    NonCanonicalNan {
        /// Where the float is.
        offset: usize,
    },
    /// A simple value other than false, true and null (undefined included).
    #[error("simple value {value} at byte {offset} is not allowed (only false, true and null)")]
    SimpleValue {
        /// Where the simple value is.
        offset: usize,
        /// Its number (23 is undefined).
        value: u8,
    },
    /// Text that is not valid UTF-8.
    #[error("invalid UTF-8 in text at byte {offset}")]
    InvalidUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// A map key whose encoding sorts before the previous key's.
    #[error("map keys out of canonical order at byte {offset}")]
    UnsortedKeys {
        /// Where the out-of-order key is.
        offset: usize,
    },
    /// A map key equal to the previous one.
    #[error("duplicate map key at byte {offset}")]
    DuplicateKey {
        /// Where the repeated key is.
        offset: usize,
    },
    /// A set element whose encoding sorts before the previous element's.
    #[error("set elements out of canonical order at byte {offset}")]
    UnsortedSet {
        /// Where the out-of-order element is.
        offset: usize,
    },
    /// A set element equal to the previous one.
    #[error("duplicate set element at byte {offset}")]
    DuplicateSetElement {
        /// Where the repeated element is.
        offset: usize,
    },
    /// A tag 2/3 bignum whose value fits major type 0/1.
    #[error("bignum at byte {offset} fits a plain integer (major type 0/1)")]
    BignumFits {
        /// Where the tag is.
        offset: usize,
    },
    /// A tag 2/3 bignum whose magnitude starts with a zero byte.
    #[error("bignum at byte {offset} has a leading zero byte")]
    BignumLeadingZero {
        /// Where the tag is.
        offset: usize,
    },
    /// A known tag around the wrong kind of item (a bignum around text, a
    /// set around a map...).
    #[error("tag {tag} at byte {offset} must wrap {expected}, found {found}")]
    BadTagContent {
        /// Where the tag is.
        offset: usize,
        /// The tag number.
        tag: u64,
        /// What the tag needs.
        expected: &'static str,
        /// What it wraps.
        found: &'static str,
    },
    /// More than [`MAX_DEPTH`](crate::MAX_DEPTH) nested arrays, maps and tags.
    #[error("nesting deeper than 512 levels at byte {offset}")]
    TooDeep {
        /// Where the container that goes too deep starts.
        offset: usize,
    },
    /// A valid value of another kind than the caller needs.
    #[error("expected {expected}, found {found}")]
    UnexpectedKind {
        /// What was needed ("a list").
        expected: &'static str,
        /// What was there ("a map").
        found: &'static str,
    },
    /// An error from serde: a value that does not fit the Rust type, or a
    /// type that cannot be serialized.
    #[error("{0}")]
    Custom(String),
}

impl Error {
    /// A short stable keyword for the kind of error: the `error` field of
    /// the invalid test vectors, shared with the other SDKs.
    ///
    /// ```
    /// // 0x18 0x17: 23 in a one-byte head.
    /// let err = mfw_encoding::decode(&[0x18, 0x17]).unwrap_err();
    /// assert_eq!(err.reason(), "non-shortest");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Truncated { .. } => "truncated",
            Error::TrailingBytes { .. } => "trailing-bytes",
            Error::NonShortest { .. } => "non-shortest",
            Error::Indefinite { .. } => "indefinite-length",
            Error::ReservedInfo { .. } => "reserved-info",
            Error::UnexpectedBreak { .. } => "unexpected-break",
            Error::ShortFloat { .. } => "short-float",
            Error::NonCanonicalNan { .. } => "non-canonical-nan",
            Error::SimpleValue { .. } => "simple-value",
            Error::InvalidUtf8 { .. } => "invalid-utf8",
            Error::UnsortedKeys { .. } => "unsorted-keys",
            Error::DuplicateKey { .. } => "duplicate-key",
            Error::UnsortedSet { .. } => "unsorted-set",
            Error::DuplicateSetElement { .. } => "duplicate-set-element",
            Error::BignumFits { .. } => "bignum-fits",
            Error::BignumLeadingZero { .. } => "bignum-leading-zero",
            Error::BadTagContent { .. } => "bad-tag-content",
            Error::TooDeep { .. } => "too-deep",
            Error::UnexpectedKind { .. } => "unexpected-kind",
            Error::Custom(_) => "serde",
        }
    }

    /// The byte offset the error points at, for decoding errors.
    ///
    /// ```
    /// // 0x01 0x02: one item, then a trailing byte at offset 1.
    /// let err = mfw_encoding::validate(&[0x01, 0x02]).unwrap_err();
    /// assert_eq!(err.offset(), Some(1));
    /// ```
    pub fn offset(&self) -> Option<usize> {
        match self {
            Error::Truncated { offset }
            | Error::TrailingBytes { offset }
            | Error::NonShortest { offset, .. }
            | Error::Indefinite { offset, .. }
            | Error::ReservedInfo { offset, .. }
            | Error::UnexpectedBreak { offset }
            | Error::ShortFloat { offset, .. }
            | Error::NonCanonicalNan { offset }
            | Error::SimpleValue { offset, .. }
            | Error::InvalidUtf8 { offset }
            | Error::UnsortedKeys { offset }
            | Error::DuplicateKey { offset }
            | Error::UnsortedSet { offset }
            | Error::DuplicateSetElement { offset }
            | Error::BignumFits { offset }
            | Error::BignumLeadingZero { offset }
            | Error::BadTagContent { offset, .. }
            | Error::TooDeep { offset } => Some(*offset),
            Error::UnexpectedKind { .. } | Error::Custom(_) => None,
        }
    }
}

impl serde::ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
}
