//! Types a flow parameter can have.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A type a flow parameter can have; `KIND` tells `mfw run` how to read the
/// command-line value (`--n 10`).
///
/// ```
/// use mfw::ParameterType;
/// assert_eq!(<u64 as ParameterType>::KIND, "int");
/// assert_eq!(<Option<String> as ParameterType>::KIND, "str");
/// ```
pub trait ParameterType: Serialize + DeserializeOwned {
    /// `str`, `int`, `float`, `bool`, `json` or `file`.
    const KIND: &'static str;
}

macro_rules! kind {
    ($kind:literal: $($ty:ty),*) => {
        $(impl ParameterType for $ty {
            const KIND: &'static str = $kind;
        })*
    };
}

kind!("int": i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
kind!("float": f32, f64);
kind!("bool": bool);
kind!("str": String);

impl<T: ParameterType> ParameterType for Option<T> {
    const KIND: &'static str = T::KIND;
}

/// A parameter given as JSON on the command line: `--config '{"a": 1}'`.
///
/// ```
/// use mfw::Json;
/// let config: Json<Vec<u32>> = Json(vec![1, 2]);
/// assert_eq!(config.0, [1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Json<T>(pub T);

impl<T: Serialize + DeserializeOwned> ParameterType for Json<T> {
    const KIND: &'static str = "json";
}

/// Metaflow's `IncludeFile`: the user names a file (`--data path.csv`), the
/// host reads it when the run starts, and steps see its bytes. The step
/// itself has no file access.
///
/// ```
/// let file = mfw::IncludeFile(b"a,b\n1,2\n".to_vec());
/// assert_eq!(file.text().unwrap().lines().count(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncludeFile(#[serde(with = "bytes_as_cbor_bytes")] pub Vec<u8>);

impl IncludeFile {
    /// The content as UTF-8 text.
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.0)
    }
}

impl ParameterType for IncludeFile {
    const KIND: &'static str = "file";
}

/// Serialises `Vec<u8>` as one byte string rather than a list of numbers.
mod bytes_as_cbor_bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                Ok(v.as_bytes().to_vec())
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}
