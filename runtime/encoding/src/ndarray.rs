//! numpy arrays as artifacts that every language reads: [`TAG_NDARRAY`]
//! around `[dtype, shape, data]` (see `docs/encoding.md`).

use std::fmt;

use serde::Deserialize;

use crate::Value;

/// CBOR tag for a numpy array: an array of the dtype's name (text), the
/// shape (a list of ints) and the elements as little-endian bytes in C order.
///
/// ```
/// use mfw_encoding::{NdArray, DType, Value, TAG_NDARRAY};
///
/// let array = NdArray::from_f64(vec![2], &[1.5, -2.0])?;
/// let Value::Tagged(tag, _) = array.to_value() else { unreachable!() };
/// assert_eq!(tag, TAG_NDARRAY);
/// assert_eq!(array.dtype, DType::Float64);
/// # Ok::<(), mfw_encoding::NdArrayError>(())
/// ```
pub const TAG_NDARRAY: u64 = 0x6D66_0003;

/// The element types stored as [`TAG_NDARRAY`], named as numpy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variants are numpy's dtypes
pub enum DType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float16,
    Float32,
    Float64,
    Complex64,
    Complex128,
}

const DTYPES: [(DType, &str, usize); 14] = [
    (DType::Bool, "bool", 1),
    (DType::Int8, "int8", 1),
    (DType::Int16, "int16", 2),
    (DType::Int32, "int32", 4),
    (DType::Int64, "int64", 8),
    (DType::UInt8, "uint8", 1),
    (DType::UInt16, "uint16", 2),
    (DType::UInt32, "uint32", 4),
    (DType::UInt64, "uint64", 8),
    (DType::Float16, "float16", 2),
    (DType::Float32, "float32", 4),
    (DType::Float64, "float64", 8),
    (DType::Complex64, "complex64", 8),
    (DType::Complex128, "complex128", 16),
];

impl DType {
    /// numpy's name for it (`"float64"`).
    ///
    /// ```
    /// assert_eq!(mfw_encoding::DType::UInt8.name(), "uint8");
    /// ```
    pub fn name(self) -> &'static str {
        DTYPES.iter().find(|d| d.0 == self).map_or("", |d| d.1)
    }

    /// The dtype numpy calls `name`, if it is one stored as an array.
    ///
    /// ```
    /// use mfw_encoding::DType;
    /// assert_eq!(DType::from_name("int32"), Some(DType::Int32));
    /// assert_eq!(DType::from_name("object"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        DTYPES.iter().find(|d| d.1 == name).map(|d| d.0)
    }

    /// Bytes per element.
    pub fn item_size(self) -> usize {
        DTYPES.iter().find(|d| d.0 == self).map_or(1, |d| d.2)
    }
}

/// Why a value is not a usable array.
#[derive(Debug, thiserror::Error)]
pub enum NdArrayError {
    /// The value is of another kind (a list, a pickle...).
    #[error("expected a numpy array, found a {0}")]
    NotAnArray(&'static str),
    /// The tag's content is not `[dtype, shape, data]` with matching sizes.
    #[error("malformed numpy array: {0}")]
    Malformed(String),
    /// The elements cannot be read as the type asked for.
    #[error("a {dtype} array cannot be read as {wanted}")]
    WrongType {
        /// The array's dtype.
        dtype: &'static str,
        /// What was asked for.
        wanted: &'static str,
    },
}

/// A numpy array: its dtype, shape and raw little-endian elements in C
/// order. A Python step's `self.x = np.zeros((3, 4))` reads in Rust as
/// `cx.get::<NdArray>("x")?`.
///
/// ```
/// use mfw_encoding::{NdArray, from_slice, encode};
///
/// let array = NdArray::from_f64(vec![2, 2], &[1.0, 2.0, 3.0, 4.0])?;
/// let blob = encode(&array.to_value());
/// let back: NdArray = from_slice(&blob).expect("an array");
/// assert_eq!(back.shape, [2, 2]);
/// assert_eq!(back.to_f64()?, [1.0, 2.0, 3.0, 4.0]);
/// # Ok::<(), mfw_encoding::NdArrayError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// The element type.
    pub dtype: DType,
    /// The size of each dimension; empty for a 0-d array.
    pub shape: Vec<usize>,
    /// The elements, little-endian, in C (row-major) order.
    pub data: Vec<u8>,
}

impl NdArray {
    /// An array from its parts, checking that `data` holds exactly the
    /// elements `shape` says.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Vec<u8>) -> Result<Self, NdArrayError> {
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| NdArrayError::Malformed(format!("shape {shape:?} overflows")))?;
        let want = count.checked_mul(dtype.item_size());
        if want != Some(data.len()) {
            return Err(NdArrayError::Malformed(format!(
                "shape {shape:?} of {} needs {} bytes, the data has {}",
                dtype.name(),
                count.saturating_mul(dtype.item_size()),
                data.len()
            )));
        }
        Ok(Self { dtype, shape, data })
    }

    /// A float64 array of `shape` holding `values` in C order.
    pub fn from_f64(shape: Vec<usize>, values: &[f64]) -> Result<Self, NdArrayError> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(DType::Float64, shape, data)
    }

    /// An int64 array of `shape` holding `values` in C order.
    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Result<Self, NdArrayError> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(DType::Int64, shape, data)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.item_size()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The array a [`TAG_NDARRAY`] value holds.
    pub fn from_value(value: &Value) -> Result<Self, NdArrayError> {
        let Value::Tagged(TAG_NDARRAY, content) = value else {
            return Err(NdArrayError::NotAnArray(value.kind()));
        };
        let Value::Array(parts) = content.as_ref() else {
            return Err(NdArrayError::Malformed("the content is not a list".into()));
        };
        let [Value::Text(name), Value::Array(dims), Value::Bytes(data)] = parts.as_slice() else {
            return Err(NdArrayError::Malformed(
                "the content is not [dtype, shape, data]".into(),
            ));
        };
        let dtype = DType::from_name(name)
            .ok_or_else(|| NdArrayError::Malformed(format!("unknown dtype {name:?}")))?;
        let shape = dims
            .iter()
            .map(|d| match d {
                Value::Integer(n) => usize::try_from(*n).ok(),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| NdArrayError::Malformed("a dimension is not a size".into()))?;
        Self::new(dtype, shape, data.clone())
    }

    /// The value stored for this array.
    pub fn to_value(&self) -> Value {
        Value::Tagged(
            TAG_NDARRAY,
            Box::new(Value::Array(vec![
                Value::Text(self.dtype.name().into()),
                Value::Array(
                    self.shape
                        .iter()
                        .map(|&d| Value::Integer(d as i128))
                        .collect(),
                ),
                Value::Bytes(self.data.clone()),
            ])),
        )
    }

    /// The elements as `f64`, for every real dtype (integers and bools
    /// converted, as numpy's `astype(float)` does).
    pub fn to_f64(&self) -> Result<Vec<f64>, NdArrayError> {
        let size = self.dtype.item_size();
        let chunks = self.data.chunks_exact(size);
        Ok(match self.dtype {
            DType::Float64 => chunks.map(|c| f64::from_le_bytes(bytes(c))).collect(),
            DType::Float32 => chunks
                .map(|c| f64::from(f32::from_le_bytes(bytes(c))))
                .collect(),
            DType::Float16 => chunks
                .map(|c| half_to_f64(u16::from_le_bytes(bytes(c))))
                .collect(),
            DType::Complex64 | DType::Complex128 => {
                return Err(NdArrayError::WrongType {
                    dtype: self.dtype.name(),
                    wanted: "f64",
                });
            }
            _ => self.integers()?.into_iter().map(|i| i as f64).collect(),
        })
    }

    /// The elements as `i64`, for bool and integer dtypes whose values fit.
    pub fn to_i64(&self) -> Result<Vec<i64>, NdArrayError> {
        self.integers()?
            .into_iter()
            .map(i64::try_from)
            .collect::<Result<_, _>>()
            .map_err(|_| NdArrayError::WrongType {
                dtype: self.dtype.name(),
                wanted: "i64 (a value is too large)",
            })
    }

    fn integers(&self) -> Result<Vec<i128>, NdArrayError> {
        let size = self.dtype.item_size();
        let chunks = self.data.chunks_exact(size);
        Ok(match self.dtype {
            DType::Bool => chunks.map(|c| i128::from(c[0] != 0)).collect(),
            DType::Int8 => chunks.map(|c| i128::from(c[0] as i8)).collect(),
            DType::Int16 => chunks
                .map(|c| i16::from_le_bytes(bytes(c)).into())
                .collect(),
            DType::Int32 => chunks
                .map(|c| i32::from_le_bytes(bytes(c)).into())
                .collect(),
            DType::Int64 => chunks
                .map(|c| i64::from_le_bytes(bytes(c)).into())
                .collect(),
            DType::UInt8 => chunks.map(|c| i128::from(c[0])).collect(),
            DType::UInt16 => chunks
                .map(|c| u16::from_le_bytes(bytes(c)).into())
                .collect(),
            DType::UInt32 => chunks
                .map(|c| u32::from_le_bytes(bytes(c)).into())
                .collect(),
            DType::UInt64 => chunks
                .map(|c| u64::from_le_bytes(bytes(c)).into())
                .collect(),
            _ => {
                return Err(NdArrayError::WrongType {
                    dtype: self.dtype.name(),
                    wanted: "integers",
                });
            }
        })
    }
}

/// A chunk of exactly `N` bytes (`chunks_exact` guarantees the length).
fn bytes<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(chunk);
    out
}

/// IEEE 754 binary16 to f64, exactly.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let fraction = f64::from(h & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    }
}

impl fmt::Display for NdArray {
    /// numpy-like: the first elements, the dtype and the shape.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 6;
        f.write_str("array([")?;
        let shown: Vec<String> = match (self.to_i64(), self.to_f64()) {
            (Ok(ints), _) if self.dtype != DType::Bool => {
                ints.iter().take(SHOWN).map(i64::to_string).collect()
            }
            (_, Ok(floats)) if self.dtype != DType::Bool => floats
                .iter()
                .take(SHOWN)
                .map(|x| Value::Float(*x).to_string())
                .collect(),
            _ if self.dtype == DType::Bool => self
                .data
                .iter()
                .take(SHOWN)
                .map(|b| if *b != 0 { "True" } else { "False" }.to_string())
                .collect(),
            _ => vec!["...".into()],
        };
        f.write_str(&shown.join(", "))?;
        if self.len() > shown.len() && shown.first().is_some_and(|s| s != "...") {
            f.write_str(", ...")?;
        }
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        let trailing = if dims.len() == 1 { "," } else { "" };
        write!(
            f,
            "], dtype={}, shape=({}{trailing}))",
            self.dtype.name(),
            dims.join(", ")
        )
    }
}

impl<'de> Deserialize<'de> for NdArray {
    /// Reads the tag's content (the deserializer sees through tags).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Parts(String, Vec<usize>, #[serde(with = "bytes_or_list")] Vec<u8>);
        let Parts(name, shape, data) = Parts::deserialize(deserializer)?;
        let dtype = DType::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown numpy dtype {name:?}")))?;
        NdArray::new(dtype, shape, data).map_err(serde::de::Error::custom)
    }
}

/// A byte string as `Vec<u8>` (serde's default reads a sequence).
mod bytes_or_list {
    use serde::Deserializer;
    use serde::de::{SeqAccess, Visitor};
    use std::fmt;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the array's bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode, from_slice};

    /// What the Python SDK writes for `np.arange(6, dtype=np.int32).reshape(2, 3)`.
    const PYTHON_INT32: &str =
        "da6d6600038365696e7433328202035818000000000100000002000000030000000400000005000000";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn an_array_written_by_python_reads_with_its_dtype_shape_and_values() {
        let blob = hex(PYTHON_INT32);
        let value = decode(&blob).unwrap();
        let array = NdArray::from_value(&value).unwrap();
        assert_eq!(array.dtype, DType::Int32);
        assert_eq!(array.shape, [2, 3]);
        assert_eq!(array.to_i64().unwrap(), [0, 1, 2, 3, 4, 5]);
        assert_eq!(array.to_f64().unwrap(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        // Through serde, as a Rust step's `cx.get` reads it.
        let read: NdArray = from_slice(&blob).unwrap();
        assert_eq!(read, array);
        // And written back, the same bytes.
        assert_eq!(encode(&array.to_value()), blob);
    }

    #[test]
    fn sizes_that_do_not_match_the_shape_are_refused() {
        let err = NdArray::new(DType::Float64, vec![2, 2], vec![0; 24]).unwrap_err();
        assert!(
            err.to_string().contains("needs 32 bytes, the data has 24"),
            "{err}"
        );
        let err = NdArray::new(DType::Int8, vec![usize::MAX, 3], vec![]).unwrap_err();
        assert!(err.to_string().contains("overflows"), "{err}");
        let err = NdArray::from_value(&Value::Integer(1)).unwrap_err();
        assert_eq!(err.to_string(), "expected a numpy array, found a int");
    }

    #[test]
    fn floats_of_every_width_read_as_f64() {
        let half = NdArray::new(
            DType::Float16,
            vec![3],
            vec![0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00],
        )
        .unwrap();
        assert_eq!(half.to_f64().unwrap(), [1.0, -2.0, 2f64.powi(-24)]);
        let single = NdArray::new(DType::Float32, vec![1], 1.5f32.to_le_bytes().to_vec()).unwrap();
        assert_eq!(single.to_f64().unwrap(), [1.5]);
        let big = NdArray::new(DType::UInt64, vec![1], u64::MAX.to_le_bytes().to_vec()).unwrap();
        assert!(big.to_i64().is_err());
    }

    #[test]
    fn display_shows_the_first_values_dtype_and_shape() {
        let array = NdArray::from_f64(vec![2, 4], &[0.5; 8]).unwrap();
        assert_eq!(
            array.to_string(),
            "array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, ...], dtype=float64, shape=(2, 4))"
        );
        let flags = NdArray::new(DType::Bool, vec![2], vec![1, 0]).unwrap();
        assert_eq!(
            flags.to_string(),
            "array([True, False], dtype=bool, shape=(2,))"
        );
    }
}
