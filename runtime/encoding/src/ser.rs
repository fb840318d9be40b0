//! serde serialization into [`Value`].

use serde::Serialize;
use serde::ser;

use crate::{Error, Value, encode};

/// Serializes a Rust value into its canonical encoding: `to_value` then
/// [`encode`].
///
/// The mapping, which [`from_slice`](crate::from_slice) reverses:
///
/// | Rust (serde) | mfw-cbor |
/// | --- | --- |
/// | `bool` | bool |
/// | all integer types, `i128` and `u128` included | int (bignum beyond 64 bits) |
/// | `f32`, `f64` | 64-bit float (`f32` widened exactly) |
/// | `char`, `str`, `String` | str |
/// | `serialize_bytes` (`serde_bytes`, `&[u8]` via a bytes wrapper) | bytes |
/// | `Vec<u8>`, `[u8; N]` | **list of ints** (serde gives no way to tell them from other sequences) |
/// | `Vec`, slices, `HashSet`, `BTreeSet`, tuples, tuple structs | list |
/// | `HashMap`, `BTreeMap`, structs | map, sorted by key encoding; struct fields are text keys |
/// | `()`, unit structs, `None` | null |
/// | `Some(x)`, newtype structs | `x` |
/// | unit enum variant | str (the variant name) |
/// | other enum variants | map with one entry: variant name → content |
///
/// Rust tuples come out as plain lists, not tuple-tagged: serde serializes
/// a tuple exactly like a fixed-length array, so the serializer cannot tell
/// `(1, 2)` from `[1, 2]`. Build a [`Value::Tagged`] with
/// [`TAG_TUPLE`](crate::TAG_TUPLE) when a Python step must see a `tuple`.
/// Likewise sets come out as lists (serde serializes them as sequences);
/// use [`TAG_SET`](crate::TAG_SET) for a Python `set`. `Some(None)` and
/// `None` both become null.
///
/// Like `serde_json`, the serializer reports itself human-readable, so
/// types with two forms (`IpAddr`, `SocketAddr`, most date types) come out
/// as text, which other languages can read.
///
/// The error is [`Error::Custom`] when a `Serialize` impl fails.
///
/// ```
/// use std::collections::BTreeMap;
///
/// #[derive(serde::Serialize)]
/// struct Point { y: i32, x: i32 }
///
/// // Fields are sorted by key encoding: "x" before "y".
/// let bytes = mfw_encoding::to_vec(&Point { y: 2, x: 1 })?;
/// assert_eq!(bytes, [0xa2, 0x61, b'x', 0x01, 0x61, b'y', 0x02]);
///
/// // A tuple is a plain list.
/// assert_eq!(mfw_encoding::to_vec(&(1, 2))?, [0x82, 0x01, 0x02]);
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(encode(&to_value(value)?))
}

/// Serializes a Rust value into a [`Value`], with the mapping described at
/// [`to_vec`].
///
/// ```
/// use mfw_encoding::{to_value, Value};
///
/// assert_eq!(to_value(&Some(u128::MAX))?, Value::BigInteger {
///     negative: false,
///     magnitude: vec![0xff; 16],
/// });
/// assert_eq!(to_value(&None::<i32>)?, Value::Null);
/// assert_eq!(to_value(&1.5f32)?, Value::Float(1.5));
/// # Ok::<(), mfw_encoding::Error>(())
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    value.serialize(Serializer)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The serializer: every call returns the `Value` for what it was given.
struct Serializer;

/// `Serializer` methods for integer types that fit `Value::Integer`.
macro_rules! integers {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, v: $ty) -> Result<Value, Error> {
            Ok(Value::Integer(v.into()))
        })*
    };
}

/// `Serializer` methods for the enum variants with several fields: their
/// content is built as a list or a map (`start`), then tagged.
macro_rules! variant_builder {
    ($method:ident -> $builder:ty = $start:ident) => {
        fn $method(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
            len: usize,
        ) -> Result<$builder, Error> {
            Ok(Variant {
                variant,
                content: self.$start(Some(len))?,
            })
        }
    };
}

impl ser::Serializer for Serializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Variant<Seq>;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Variant<Map>;

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Bool(v))
    }
    integers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64
    );
    fn serialize_u128(self, v: u128) -> Result<Value, Error> {
        Ok(Value::from_bignum(false, &v.to_be_bytes()))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::Text(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(text(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, Error> {
        Ok(text(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        Ok(tagged(variant, to_value(value)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, Error> {
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq, Error> {
        self.serialize_seq(Some(len))
    }
    variant_builder!(serialize_tuple_variant -> Variant<Seq> = serialize_seq);
    fn serialize_map(self, len: Option<usize>) -> Result<Map, Error> {
        Ok(Map {
            entries: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Map, Error> {
        self.serialize_map(Some(len))
    }
    variant_builder!(serialize_struct_variant -> Variant<Map> = serialize_map);
}

/// An enum variant with content is a map of one entry: `{variant: content}`.
fn tagged(variant: &str, content: Value) -> Value {
    Value::Map(vec![(text(variant), content)])
}

/// A list being built.
struct Seq(Vec<Value>);

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Array(self.0))
    }
}

/// Tuples and tuple structs are lists: serde names their element method
/// differently, and that is all.
macro_rules! list_like {
    ($($builder:ident :: $method:ident),*) => {$(
        impl ser::$builder for Seq {
            type Ok = Value;
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                ser::SerializeSeq::serialize_element(self, value)
            }
            fn end(self) -> Result<Value, Error> {
                ser::SerializeSeq::end(self)
            }
        }
    )*};
}
list_like!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// A tuple or struct variant being built: its content as a list or map,
/// ended as `{variant: content}`.
struct Variant<S> {
    variant: &'static str,
    content: S,
}

impl ser::SerializeTupleVariant for Variant<Seq> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(&mut self.content, value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(tagged(self.variant, Value::Array(self.content.0)))
    }
}

/// A map (or struct) being built.
struct Map {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

impl ser::SerializeMap for Map {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(to_value(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error::Custom("serialize_value called before serialize_key".into()))?;
        self.entries.push((key, to_value(value)?));
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Map(self.entries))
    }
}

/// Structs and struct variants take their fields the same way; they end
/// as a map, or as `{variant: map}`.
trait Fields {
    fn fields(&mut self) -> &mut Vec<(Value, Value)>;
    fn finish(self) -> Value;
}

impl Fields for Map {
    fn fields(&mut self) -> &mut Vec<(Value, Value)> {
        &mut self.entries
    }
    fn finish(self) -> Value {
        Value::Map(self.entries)
    }
}

impl Fields for Variant<Map> {
    fn fields(&mut self) -> &mut Vec<(Value, Value)> {
        &mut self.content.entries
    }
    fn finish(self) -> Value {
        tagged(self.variant, Value::Map(self.content.entries))
    }
}

macro_rules! struct_like {
    ($($builder:ident for $ty:ty),*) => {$(
        impl ser::$builder for $ty {
            type Ok = Value;
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                let value = to_value(value)?;
                self.fields().push((text(key), value));
                Ok(())
            }
            fn end(self) -> Result<Value, Error> {
                Ok(self.finish())
            }
        }
    )*};
}
struct_like!(SerializeStruct for Map, SerializeStructVariant for Variant<Map>);
