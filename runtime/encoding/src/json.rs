//! A JSON view of values, for `mfw dump --json`.

use serde_json::{Map, Value as Json, json};

use crate::{
    DType, NdArray, TAG_ARROW, TAG_BYTEARRAY, TAG_FROZENSET, TAG_NDARRAY, TAG_NEG_BIGNUM,
    TAG_PICKLE, TAG_POS_BIGNUM, TAG_SET, TAG_TUPLE, Value, bigint,
};

/// A JSON rendering of a value, for people and tools that read JSON.
///
/// null, bools, strings and numbers are native (integers in the `i64` or
/// `u64` range, finite floats; `-0.0` stays `-0.0`). What JSON cannot hold is
/// an object with one `$` key:
///
/// - integers beyond `i64`/`u64`: `{"$int": "<decimal digits>"}`;
/// - NaN and infinities: `{"$float": "nan" | "inf" | "-inf"}`;
/// - bytes: `{"$bytes": "<lowercase hex>"}`;
/// - pickles: `{"$pickle": "<lowercase hex>"}`;
/// - maps with a non-text key: `{"$map": [[key, value], ...]}` (maps whose
///   keys are all text are JSON objects);
/// - other tags: `{"$tag": n, "value": <value>}`.
///
/// Tuples and sets are JSON arrays. The rendering is for reading, not a
/// second encoding: a text-keyed map such as `{"$int": "1"}` looks like a
/// big integer, and tuples and sets look like lists.
///
/// ```
/// use mfw_encoding::{to_json, Value, TAG_TUPLE};
///
/// let v = Value::Map(vec![
///     (Value::Text("data".into()), Value::Bytes(vec![0x00, 0xff])),
///     (Value::Text("pair".into()), Value::Tagged(TAG_TUPLE, Box::new(Value::Array(vec![
///         Value::Integer(1),
///         Value::Float(f64::NAN),
///     ])))),
/// ]);
/// assert_eq!(
///     to_json(&v).to_string(),
///     r#"{"data":{"$bytes":"00ff"},"pair":[1,{"$float":"nan"}]}"#
/// );
/// ```
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Integer(i) => {
            if let Ok(v) = i64::try_from(*i) {
                Json::from(v)
            } else if let Ok(v) = u64::try_from(*i) {
                Json::from(v)
            } else {
                json!({ "$int": i.to_string() })
            }
        }
        Value::BigInteger {
            negative,
            magnitude,
        } => json!({ "$int": bigint::to_decimal(*negative, magnitude) }),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None if f.is_nan() => json!({ "$float": "nan" }),
            None if *f > 0.0 => json!({ "$float": "inf" }),
            None => json!({ "$float": "-inf" }),
        },
        Value::Text(s) => Json::String(s.clone()),
        Value::Bytes(b) => json!({ "$bytes": hex(b) }),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            if entries.iter().all(|(k, _)| matches!(k, Value::Text(_))) {
                let mut object = Map::new();
                for (key, value) in entries {
                    if let Value::Text(key) = key {
                        object.insert(key.clone(), to_json(value));
                    }
                }
                Json::Object(object)
            } else {
                let pairs = entries
                    .iter()
                    .map(|(k, v)| Json::Array(vec![to_json(k), to_json(v)]))
                    .collect();
                json!({ "$map": Json::Array(pairs) })
            }
        }
        Value::Tagged(tag, inner) => match (*tag, inner.as_ref()) {
            (TAG_SET | TAG_TUPLE, Value::Array(items)) => {
                Json::Array(items.iter().map(to_json).collect())
            }
            // Python's own kinds of set and bytes: shown as those.
            (TAG_FROZENSET, set @ Value::Tagged(TAG_SET, _)) => to_json(set),
            (TAG_BYTEARRAY, bytes @ Value::Bytes(_)) => to_json(bytes),
            (TAG_PICKLE, Value::Bytes(b)) => json!({ "$pickle": hex(b) }),
            (TAG_POS_BIGNUM, Value::Bytes(m)) => to_json(&Value::from_bignum(false, m)),
            (TAG_NEG_BIGNUM, Value::Bytes(m)) => to_json(&Value::from_bignum(true, m)),
            (TAG_NDARRAY, _) => match NdArray::from_value(value) {
                Ok(array) => ndarray_json(&array),
                Err(_) => json!({ "$tag": tag, "value": to_json(inner) }),
            },
            (TAG_ARROW, Value::Bytes(ipc)) => table_json(ipc),
            (tag, inner) => json!({ "$tag": tag, "value": to_json(inner) }),
        },
    }
}

/// `{"$table": {"rows", "types", "columns"}}`, each column's values as a
/// list (timestamps and durations as integers in their unit); without the
/// `arrow` feature, or for a stream Arrow cannot read, `{"$table": {"ipc":
/// hex}}`.
fn table_json(ipc: &[u8]) -> Json {
    #[cfg(feature = "arrow")]
    if let Ok((schema, batches)) = crate::ArrowTable::from_ipc(ipc.to_vec()).record_batches() {
        let mut types = Map::new();
        let mut columns = Map::new();
        for (i, field) in schema.fields().iter().enumerate() {
            let values: Vec<Json> = batches
                .iter()
                .flat_map(|b| column_json(b.column(i).as_ref()))
                .collect();
            types.insert(
                field.name().clone(),
                Json::String(field.data_type().to_string()),
            );
            columns.insert(field.name().clone(), Json::Array(values));
        }
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        return json!({ "$table": { "rows": rows, "types": types, "columns": columns } });
    }
    json!({ "$table": { "ipc": hex(ipc) } })
}

/// One Arrow column's values as JSON (`null` for nulls and for values of
/// types shown only by name).
#[cfg(feature = "arrow")]
fn column_json(array: &dyn arrow_array::Array) -> Vec<Json> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
        UInt8Type, UInt16Type, UInt32Type, UInt64Type,
    };
    use arrow_array::{Array, ArrowPrimitiveType};
    use arrow_schema::DataType;

    /// Each value through `to_json`, `null` where the column has none.
    fn each<T>(
        array: &dyn Array,
        values: impl Iterator<Item = T>,
        to_json: impl Fn(T) -> Json,
    ) -> Vec<Json> {
        values
            .enumerate()
            .map(|(i, v)| {
                if array.is_null(i) {
                    Json::Null
                } else {
                    to_json(v)
                }
            })
            .collect()
    }
    /// An integer column of any width.
    fn ints<T: ArrowPrimitiveType>(array: &dyn Array) -> Vec<Json>
    where
        T::Native: Into<Json>,
    {
        let values = array.as_primitive::<T>().values().iter().copied();
        each(array, values, Into::into)
    }
    /// A float column of any width, each value as `to_json` shows floats.
    fn floats<T: ArrowPrimitiveType>(array: &dyn Array, widen: fn(T::Native) -> f64) -> Vec<Json> {
        let values = array.as_primitive::<T>().values().iter().copied();
        each(array, values, |v| to_json(&Value::Float(widen(v))))
    }
    fn texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> Vec<Json> {
        values
            .map(|v| v.map_or(Json::Null, |t| Json::String(t.to_string())))
            .collect()
    }
    match array.data_type() {
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map_or(Json::Null, Json::Bool))
            .collect(),
        DataType::Int8 => ints::<Int8Type>(array),
        DataType::Int16 => ints::<Int16Type>(array),
        DataType::Int32 => ints::<Int32Type>(array),
        DataType::Int64 => ints::<Int64Type>(array),
        DataType::UInt8 => ints::<UInt8Type>(array),
        DataType::UInt16 => ints::<UInt16Type>(array),
        DataType::UInt32 => ints::<UInt32Type>(array),
        DataType::UInt64 => ints::<UInt64Type>(array),
        DataType::Float16 => floats::<Float16Type>(array, |v| v.to_f64()),
        DataType::Float32 => floats::<Float32Type>(array, f64::from),
        DataType::Float64 => floats::<Float64Type>(array, |v| v),
        DataType::Utf8 => texts(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => texts(array.as_string::<i64>().iter()),
        DataType::Utf8View => texts(array.as_string_view().iter()),
        DataType::Timestamp(..) | DataType::Duration(_) | DataType::Date64 => {
            // All i64 ticks: read through the untyped data.
            let data = array.to_data();
            let ticks = data.buffer::<i64>(0).iter().take(array.len()).copied();
            each(array, ticks, Json::from)
        }
        _ => vec![Json::Null; array.len()],
    }
}

/// `{"$ndarray": {"dtype", "shape", "values"}}`, the values flat in C
/// order (a complex array's as `{"$bytes": ...}`).
fn ndarray_json(array: &NdArray) -> Json {
    let values = match array.dtype {
        DType::Bool => Json::Array(array.data.iter().map(|b| Json::Bool(*b != 0)).collect()),
        DType::Float16 | DType::Float32 | DType::Float64 => match array.to_f64() {
            Ok(floats) => Json::Array(
                floats
                    .into_iter()
                    .map(|x| to_json(&Value::Float(x)))
                    .collect(),
            ),
            Err(_) => json!({ "$bytes": hex(&array.data) }),
        },
        DType::Complex64 | DType::Complex128 => json!({ "$bytes": hex(&array.data) }),
        _ => match array.to_i64() {
            Ok(ints) => Json::from(ints),
            Err(_) => match array.to_f64() {
                Ok(floats) => Json::from(floats),
                Err(_) => json!({ "$bytes": hex(&array.data) }),
            },
        },
    };
    json!({ "$ndarray": { "dtype": array.dtype.name(), "shape": array.shape, "values": values } })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "arrow")]
    #[test]
    fn a_table_shows_each_column_type_with_its_nulls() {
        use arrow_array::{
            ArrayRef, BooleanArray, Float32Array, Int8Array, RecordBatch, StringArray, UInt64Array,
        };
        use std::sync::Arc;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("i8", Arc::new(Int8Array::from(vec![Some(-3), None]))),
            ("u64", Arc::new(UInt64Array::from(vec![u64::MAX, 7]))),
            ("f32", Arc::new(Float32Array::from(vec![None, Some(0.5)]))),
            ("s", Arc::new(StringArray::from(vec![Some("a"), None]))),
            ("b", Arc::new(BooleanArray::from(vec![Some(true), None]))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let table = crate::ArrowTable::from_record_batches(&batch.schema(), &[batch]).unwrap();
        let shown = to_json(&table.to_value());
        assert_eq!(shown["$table"]["rows"], 2);
        let columns = &shown["$table"]["columns"];
        assert_eq!(columns["i8"], json!([-3, null]));
        assert_eq!(columns["u64"], json!([u64::MAX, 7]));
        assert_eq!(columns["f32"], json!([null, 0.5]));
        assert_eq!(columns["s"], json!(["a", null]));
        assert_eq!(columns["b"], json!([true, null]));
        assert_eq!(shown["$table"]["types"]["f32"], "Float32");
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn scalars() {
        assert_eq!(to_json(&Value::Null), json!(null));
        assert_eq!(to_json(&Value::Bool(true)), json!(true));
        assert_eq!(to_json(&Value::Integer(-5)), json!(-5));
        assert_eq!(
            to_json(&Value::Integer(i128::from(i64::MIN))),
            json!(i64::MIN)
        );
        assert_eq!(
            to_json(&Value::Integer(i128::from(u64::MAX))),
            json!(u64::MAX)
        );
        assert_eq!(
            to_json(&Value::Integer(-(1 << 64))),
            json!({"$int": "-18446744073709551616"})
        );
        assert_eq!(
            to_json(&Value::BigInteger {
                negative: false,
                magnitude: [vec![1], vec![0; 16]].concat()
            }),
            json!({"$int": "340282366920938463463374607431768211456"})
        );
        assert_eq!(to_json(&Value::Float(1.5)), json!(1.5));
        assert_eq!(to_json(&Value::Float(-0.0)).to_string(), "-0.0");
        assert_eq!(to_json(&Value::Float(f64::NAN)), json!({"$float": "nan"}));
        assert_eq!(
            to_json(&Value::Float(f64::INFINITY)),
            json!({"$float": "inf"})
        );
        assert_eq!(
            to_json(&Value::Float(f64::NEG_INFINITY)),
            json!({"$float": "-inf"})
        );
        assert_eq!(to_json(&text("hé")), json!("hé"));
        assert_eq!(
            to_json(&Value::Bytes(vec![0, 0xab])),
            json!({"$bytes": "00ab"})
        );
    }

    #[test]
    fn containers_and_tags() {
        let tuple = Value::Tagged(TAG_TUPLE, Box::new(Value::Array(vec![Value::Integer(1)])));
        let set = Value::Tagged(TAG_SET, Box::new(Value::Array(vec![text("a")])));
        assert_eq!(
            to_json(&Value::Array(vec![tuple.clone(), set])),
            json!([[1], ["a"]])
        );
        assert_eq!(
            to_json(&Value::Map(vec![(text("k"), Value::Null)])),
            json!({"k": null})
        );
        assert_eq!(to_json(&Value::Map(vec![])), json!({}));
        assert_eq!(
            to_json(&Value::Map(vec![
                (Value::Integer(1), text("one")),
                (text("k"), tuple),
            ])),
            json!({"$map": [[1, "one"], ["k", [1]]]})
        );
        assert_eq!(
            to_json(&Value::Tagged(
                TAG_PICKLE,
                Box::new(Value::Bytes(vec![0x80, 0x04]))
            )),
            json!({"$pickle": "8004"})
        );
        assert_eq!(
            to_json(&Value::Tagged(1, Box::new(Value::Integer(0)))),
            json!({"$tag": 1, "value": 0})
        );
        assert_eq!(
            to_json(&Value::Tagged(2, Box::new(Value::Bytes(vec![1, 0])))),
            json!(256)
        );
    }
}
