//! serde deserialization from [`Value`].

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use crate::{Error, TAG_PICKLE, TAG_SET, TAG_TUPLE, Value, bigint, decode, phrase};

/// Strictly decodes a blob (as [`decode`]) and deserializes it into `T`.
///
/// The reverse of the mapping described at [`to_vec`](crate::to_vec), with
/// what other languages write accepted too:
///
/// - sets (tag 258) and tuples (tuple tag) fill any sequence: `Vec`,
///   `HashSet`, `BTreeSet`, Rust tuples and arrays;
/// - a byte string fills `Vec<u8>` (as a sequence of ints) as well as a
///   bytes type such as `serde_bytes::ByteBuf`;
/// - integers fill any integer type they fit, bignums included (`i128`,
///   `u128`), and also `f32`/`f64`;
/// - other tags are transparent: their content is deserialized.
///
/// A kind mismatch gives [`Error::UnexpectedKind`] ("expected an integer,
/// found a str"); a Python pickle never deserializes into a Rust type, and an
/// integer too big for the target type gives [`Error::Custom`].
///
/// ```
/// use std::collections::BTreeSet;
///
/// // A Python set {3, 1, 2} written by the Python SDK: tag 258 around [1, 2, 3].
/// let blob = [0xd9, 0x01, 0x02, 0x83, 0x01, 0x02, 0x03];
/// let set: BTreeSet<u8> = mfw_encoding::from_slice(&blob)?;
/// assert_eq!(set, BTreeSet::from([1, 2, 3]));
///
/// let err = mfw_encoding::from_slice::<i64>(&[0x61, b'a']).unwrap_err();
/// assert_eq!(err.to_string(), "expected an integer, found a str");
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    from_value(decode(bytes)?)
}

/// Deserializes a [`Value`] into `T`, as [`from_slice`] does after decoding.
///
/// ```
/// use mfw_encoding::{from_value, Value};
///
/// let pair: (String, bool) = from_value(Value::Array(vec![
///     Value::Text("on".into()),
///     Value::Bool(true),
/// ]))?;
/// assert_eq!(pair, ("on".to_string(), true));
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(Deserializer(value))
}

fn unexpected(expected: &'static str, found: &Value) -> Error {
    Error::UnexpectedKind {
        expected,
        found: phrase(found.kind()),
    }
}

fn out_of_range(negative: bool, magnitude: &[u8]) -> Error {
    Error::Custom(format!(
        "integer {} is out of range for every Rust integer type",
        bigint::to_decimal(negative, magnitude)
    ))
}

/// The elements when `value` is a list, a set, a tuple or a byte string.
fn into_items(value: Value) -> Result<Vec<Value>, Value> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Tagged(tag @ (TAG_SET | TAG_TUPLE), inner) => match *inner {
            Value::Array(items) => Ok(items),
            inner => Err(Value::Tagged(tag, Box::new(inner))),
        },
        Value::Bytes(bytes) => Ok(bytes
            .into_iter()
            .map(|b| Value::Integer(b.into()))
            .collect()),
        // Tags the encoding gives no Rust meaning to (a numpy array's, say)
        // are transparent, as in `deserialize_any`.
        Value::Tagged(tag, inner)
            if !matches!(
                tag,
                TAG_PICKLE | crate::TAG_POS_BIGNUM | crate::TAG_NEG_BIGNUM
            ) =>
        {
            into_items(*inner).map_err(|inner| Value::Tagged(tag, Box::new(inner)))
        }
        other => Err(other),
    }
}

/// The error for a bare variant name where the variant needs content.
fn missing_content(expected: &'static str) -> Error {
    Error::UnexpectedKind {
        expected,
        found: "a str (a unit variant)",
    }
}

fn visit_integer<'de, V: Visitor<'de>>(i: i128, visitor: V) -> Result<V::Value, Error> {
    if let Ok(v) = i64::try_from(i) {
        visitor.visit_i64(v)
    } else if let Ok(v) = u64::try_from(i) {
        visitor.visit_u64(v)
    } else {
        visitor.visit_i128(i)
    }
}

fn visit_bignum<'de, V: Visitor<'de>>(
    negative: bool,
    magnitude: &[u8],
    visitor: V,
) -> Result<V::Value, Error> {
    let trimmed = bigint::trim(magnitude);
    if !negative && trimmed.len() <= 16 {
        let n = trimmed
            .iter()
            .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
        return visitor.visit_u128(n);
    }
    Err(out_of_range(negative, magnitude))
}

fn visit_items<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut seq = Seq(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    if seq.0.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements"))
    }
}

fn visit_entries<'de, V: Visitor<'de>>(
    entries: Vec<(Value, Value)>,
    visitor: V,
) -> Result<V::Value, Error> {
    let len = entries.len();
    let mut map = Map {
        entries: entries.into_iter(),
        value: None,
    };
    let out = visitor.visit_map(&mut map)?;
    if map.entries.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(len, &"fewer entries"))
    }
}

/// A deserializer that owns the value it reads.
struct Deserializer(Value);

impl Deserializer {
    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Integer(i) => visit_integer(i, visitor),
            Value::BigInteger {
                negative,
                magnitude,
            } => visit_bignum(negative, &magnitude, visitor),
            other => Err(unexpected("an integer", &other)),
        }
    }

    fn float<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Float(f) => visitor.visit_f64(f),
            Value::Integer(i) => visit_integer(i, visitor),
            other => Err(unexpected("a float", &other)),
        }
    }

    fn seq<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match into_items(self.0) {
            Ok(items) => visit_items(items, visitor),
            Err(other) => Err(unexpected("a list", &other)),
        }
    }

    fn text<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Text(s) => visitor.visit_string(s),
            other => Err(unexpected("a str", &other)),
        }
    }

    fn map<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Map(entries) => visit_entries(entries, visitor),
            other => Err(unexpected("a map", &other)),
        }
    }
}

macro_rules! integer_methods {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.integer(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Deserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Integer(i) => visit_integer(i, visitor),
            Value::BigInteger {
                negative,
                magnitude,
            } => visit_bignum(negative, &magnitude, visitor),
            Value::Float(f) => visitor.visit_f64(f),
            Value::Text(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Array(items) => visit_items(items, visitor),
            Value::Map(entries) => visit_entries(entries, visitor),
            Value::Tagged(tag, inner) => match (tag, *inner) {
                (TAG_SET | TAG_TUPLE, Value::Array(items)) => visit_items(items, visitor),
                (TAG_PICKLE, inner) => Err(unexpected(
                    "a value Rust can read",
                    &Value::Tagged(tag, Box::new(inner)),
                )),
                (2, Value::Bytes(m)) => {
                    Deserializer(Value::from_bignum(false, &m)).deserialize_any(visitor)
                }
                (3, Value::Bytes(m)) => {
                    Deserializer(Value::from_bignum(true, &m)).deserialize_any(visitor)
                }
                (_, inner) => Deserializer(inner).deserialize_any(visitor),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(b),
            other => Err(unexpected("a bool", &other)),
        }
    }

    integer_methods! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.float(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.float(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.text(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.text(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.text(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            // Through a tag around bytes (a table's Arrow IPC stream), as
            // `deserialize_any` sees through it; not a pickle or a bignum.
            Value::Tagged(tag, inner)
                if matches!(*inner, Value::Bytes(_)) && !matches!(tag, TAG_PICKLE | 2 | 3) =>
            {
                Deserializer(*inner).deserialize_byte_buf(visitor)
            }
            other => match into_items(other) {
                Ok(items) => visit_items(items, visitor),
                Err(other) => Err(unexpected("bytes", &other)),
            },
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Deserializer(other)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            other => Err(unexpected("null", &other)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Text(_) => visitor.visit_enum(Enum {
                variant: self.0,
                content: None,
            }),
            Value::Map(entries) if entries.len() == 1 => {
                let mut entries = entries.into_iter();
                match entries.next() {
                    Some((variant, content)) => visitor.visit_enum(Enum {
                        variant,
                        content: Some(content),
                    }),
                    None => Err(unexpected("an enum", &Value::Map(vec![]))),
                }
            }
            other => Err(unexpected(
                "an enum (a str or a map with one entry)",
                &other,
            )),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Text(s) => visitor.visit_string(s),
            Value::Integer(i) => visit_integer(i, visitor),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            other => Err(unexpected("an identifier (a str)", &other)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// The elements of a list being read.
struct Seq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some(value) => seed.deserialize(Deserializer(value)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The entries of a map being read.
struct Map {
    entries: std::vec::IntoIter<(Value, Value)>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Map {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(Deserializer(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Deserializer(value)),
            None => Err(Error::Custom("map value requested before its key".into())),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An enum being read: the variant name and, unless it is a unit variant
/// written as a bare str, its content.
struct Enum {
    variant: Value,
    content: Option<Value>,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = Error;
    type Variant = Variant;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Variant), Error> {
        let variant = seed.deserialize(Deserializer(self.variant))?;
        Ok((variant, Variant(self.content)))
    }
}

/// The content of an enum variant.
struct Variant(Option<Value>);

impl<'de> VariantAccess<'de> for Variant {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(unexpected("null for a unit variant", &other)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Some(value) => seed.deserialize(Deserializer(value)),
            None => Err(missing_content(
                "a map with one entry for a newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(value) => Deserializer(value).seq(visitor),
            None => Err(missing_content("a map with one entry for a tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Some(value) => Deserializer(value).map(visitor),
            None => Err(missing_content("a map with one entry for a struct variant")),
        }
    }
}
