//! Tables as artifacts that every language reads: [`TAG_ARROW`] around the
//! bytes of an Arrow IPC stream (see `docs/encoding.md`). A Python step's
//! pandas DataFrame or Series is stored this way; with the `arrow` feature
//! a Rust step reads it as Arrow record batches and writes its own.

use serde::Deserialize;

use crate::Value;

/// CBOR tag for a table: a byte string holding an Arrow IPC stream (a
/// schema message, record batches, the end-of-stream marker). A pandas
/// DataFrame's index and dtypes ride in the schema's `pandas` metadata.
///
/// ```
/// use mfw_encoding::{ArrowTable, Value, TAG_ARROW};
///
/// let table = ArrowTable::from_ipc(vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
/// let Value::Tagged(tag, _) = table.to_value() else { unreachable!() };
/// assert_eq!(tag, TAG_ARROW);
/// ```
pub const TAG_ARROW: u64 = 0x6D66_0004;

/// Why a value is not a usable table.
#[derive(Debug, thiserror::Error)]
pub enum ArrowTableError {
    /// The value is of another kind (a list, a pickle...).
    #[error("expected a table (a pandas DataFrame or Series), found: {0}")]
    NotATable(&'static str),
    /// The tag's content is not a byte string.
    #[error("malformed table: the content is a {0}, not the bytes of an Arrow IPC stream")]
    Malformed(&'static str),
    /// The bytes are not an Arrow IPC stream Arrow can read.
    #[cfg(feature = "arrow")]
    #[error("the table is not a readable Arrow IPC stream")]
    Arrow(#[source] arrow_schema::ArrowError),
}

/// A table as stored: the bytes of an Arrow IPC stream. A Python step's
/// `self.movies = pd.read_csv(...)` reads in Rust as
/// `cx.get::<ArrowTable>("movies")?`, and with the `arrow` feature
/// [`ArrowTable::record_batches`] gives its columns.
///
/// ```
/// use mfw_encoding::{ArrowTable, from_slice, encode};
///
/// let table = ArrowTable::from_ipc(vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
/// let blob = encode(&table.to_value());
/// let back: ArrowTable = from_slice(&blob).expect("a table");
/// assert_eq!(back, table);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrowTable {
    /// The Arrow IPC stream.
    pub ipc: Vec<u8>,
}

impl ArrowTable {
    /// A table from the bytes of an Arrow IPC stream, as they are (reading
    /// them is what checks them).
    pub fn from_ipc(ipc: Vec<u8>) -> Self {
        Self { ipc }
    }

    /// The table a [`TAG_ARROW`] value holds.
    pub fn from_value(value: &Value) -> Result<Self, ArrowTableError> {
        match value {
            Value::Tagged(TAG_ARROW, content) => match content.as_ref() {
                Value::Bytes(ipc) => Ok(Self::from_ipc(ipc.clone())),
                other => Err(ArrowTableError::Malformed(other.kind())),
            },
            other => Err(ArrowTableError::NotATable(other.kind())),
        }
    }

    /// The value stored for this table.
    pub fn to_value(&self) -> Value {
        Value::Tagged(TAG_ARROW, Box::new(Value::Bytes(self.ipc.clone())))
    }
}

impl std::fmt::Display for ArrowTable {
    /// `<table: 3 rows × 2 columns (genre: LargeUtf8, gross: Float64)>`
    /// with the `arrow` feature, else the stream's size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(feature = "arrow")]
        if let Ok((schema, batches)) = self.record_batches() {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let columns: Vec<String> = schema
                .fields()
                .iter()
                .map(|field| format!("{}: {}", field.name(), field.data_type()))
                .collect();
            return write!(
                f,
                "<table: {rows} rows × {} columns ({})>",
                columns.len(),
                columns.join(", ")
            );
        }
        write!(f, "<table: {} bytes of Arrow IPC>", self.ipc.len())
    }
}

#[cfg(feature = "arrow")]
impl ArrowTable {
    /// The schema and record batches of the stream.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Float64Array, RecordBatch, StringArray};
    /// use mfw_encoding::ArrowTable;
    ///
    /// let batch = RecordBatch::try_from_iter([
    ///     ("genre", Arc::new(StringArray::from(vec!["drama", "comedy"])) as _),
    ///     ("gross", Arc::new(Float64Array::from(vec![1.5, 2.0])) as _),
    /// ])?;
    /// let table = ArrowTable::from_record_batches(&batch.schema(), std::slice::from_ref(&batch))?;
    /// let (schema, batches) = table.record_batches()?;
    /// assert_eq!(schema.field(1).name(), "gross");
    /// assert_eq!(batches, [batch]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_batches(
        &self,
    ) -> Result<(arrow_schema::SchemaRef, Vec<arrow_array::RecordBatch>), ArrowTableError> {
        let reader =
            arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(&self.ipc), None)
                .map_err(ArrowTableError::Arrow)?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(ArrowTableError::Arrow)?;
        Ok((schema, batches))
    }

    /// A table holding `batches` (all of `schema`); a Python step reads it
    /// as a pandas DataFrame with a default index.
    pub fn from_record_batches(
        schema: &arrow_schema::Schema,
        batches: &[arrow_array::RecordBatch],
    ) -> Result<Self, ArrowTableError> {
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), schema)
            .map_err(ArrowTableError::Arrow)?;
        for batch in batches {
            writer.write(batch).map_err(ArrowTableError::Arrow)?;
        }
        writer.finish().map_err(ArrowTableError::Arrow)?;
        Ok(Self::from_ipc(
            writer.into_inner().map_err(ArrowTableError::Arrow)?,
        ))
    }
}

impl<'de> Deserialize<'de> for ArrowTable {
    /// Reads the tag's content (the deserializer sees through tags).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: serde_bytes_buf::ByteBuf = Deserialize::deserialize(deserializer)?;
        Ok(Self::from_ipc(bytes.0))
    }
}

/// A byte string as `Vec<u8>` (serde's default for `Vec<u8>` reads a
/// sequence).
mod serde_bytes_buf {
    use std::fmt;

    use serde::de::{Deserialize, Deserializer, Visitor};

    pub struct ByteBuf(pub Vec<u8>);

    impl<'de> Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Bytes;
            impl<'de> Visitor<'de> for Bytes {
                type Value = ByteBuf;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("the bytes of an Arrow IPC stream (a pandas DataFrame or Series)")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                    Ok(ByteBuf(v))
                }
            }
            deserializer.deserialize_byte_buf(Bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode, from_slice};

    /// What the Python SDK writes for
    /// `pd.DataFrame({"genre": ["drama", None], "gross": [1.5, nan], "n": [3, 4]})`.
    #[cfg(feature = "arrow")]
    const PYTHON_FRAME: &str = concat!(
        "da6d660004590508ffffffffa803000008000000000000006efcffff040001000400000086fcffffd80200000c000000",
        "0400000000000000020000003800000004000000aefcffff2400000004000000150000007b226b696e64223a20226461",
        "74616672616d65227d000000030000006d667700defcffff7c020000040000006c0200007b22696e6465785f636f6c75",
        "6d6e73223a205b7b226b696e64223a202272616e6765222c20226e616d65223a206e756c6c2c20227374617274223a20",
        "302c202273746f70223a20322c202273746570223a20317d5d2c2022636f6c756d6e5f696e6465786573223a205b7b22",
        "6e616d65223a206e756c6c2c20226669656c645f6e616d65223a206e756c6c2c202270616e6461735f74797065223a20",
        "22756e69636f6465222c20226e756d70795f74797065223a20226f626a656374222c20226d65746164617461223a206e",
        "756c6c7d5d2c2022636f6c756d6e73223a205b7b226e756d70795f74797065223a20226f626a656374222c20226d6574",
        "6164617461223a207b226d66775f6d697373696e67223a20226e6f6e65227d2c202270616e6461735f74797065223a20",
        "22756e69636f6465222c20226e616d65223a202267656e7265222c20226669656c645f6e616d65223a202267656e7265",
        "227d2c207b226e756d70795f74797065223a2022666c6f61743634222c20226d65746164617461223a206e756c6c2c20",
        "2270616e6461735f74797065223a2022666c6f61743634222c20226e616d65223a202267726f7373222c20226669656c",
        "645f6e616d65223a202267726f7373227d2c207b226e756d70795f74797065223a2022696e743634222c20226d657461",
        "64617461223a206e756c6c2c202270616e6461735f74797065223a2022696e743634222c20226e616d65223a20226e22",
        "2c20226669656c645f6e616d65223a20226e227d5d2c202263726561746f72223a207b226c696272617279223a20226d",
        "6677227d2c202270616e6461735f76657273696f6e223a2022322e332e33227d000000000600000070616e6461730000",
        "03000000540000002c0000000400000094ffffff18000000010200000400000092ffffff400000000100000001000000",
        "6e000000b8ffffff140000000103000004000000bcffffff020000000500000067726f7373000000dcffffff10000000",
        "0114000004000000f0ffffff0500000067656e7265000000040004000c0010000400080009000c000600060004000800",
        "09000400080008000c00040008000c0010000000040008000c000a000c0004000600080000000000ffffffff00010000",
        "040000001affffff04000300100000004800000000000000000000003cffffff02000000000000008400000008000000",
        "000000000700000000000000000000000100000000000000080000000000000018000000000000002000000000000000",
        "050000000000000028000000000000000000000000000000280000000000000010000000000000003800000000000000",
        "000000000000000038000000000000001000000000000000000000000300000002000000000000000100000000000000",
        "02000000000000000000000000000000020000000000000000000000000000000a00140004000c0010000c0014000400",
        "060008000c00000000000000000000000100000000000000000000000000000005000000000000000500000000000000",
        "6472616d61000000000000000000f83f000000000000f87f03000000000000000400000000000000ffffffff00000000",
    );

    #[test]
    fn a_table_round_trips_through_its_tagged_value() {
        let table = ArrowTable::from_ipc(b"not checked until read".to_vec());
        let blob = encode(&table.to_value());
        assert_eq!(&blob[..5], [0xda, 0x6d, 0x66, 0x00, 0x04]);
        assert_eq!(
            ArrowTable::from_value(&decode(&blob).unwrap()).unwrap(),
            table
        );
        assert_eq!(from_slice::<ArrowTable>(&blob).unwrap(), table);
    }

    #[test]
    fn other_values_are_not_tables() {
        let err = ArrowTable::from_value(&Value::Integer(3)).unwrap_err();
        assert!(err.to_string().contains("found: int"), "{err}");
        let err =
            ArrowTable::from_value(&Value::Tagged(TAG_ARROW, Box::new(Value::Null))).unwrap_err();
        assert!(err.to_string().contains("not the bytes"), "{err}");
        assert!(from_slice::<ArrowTable>(&encode(&Value::Text("x".into()))).is_err());
    }

    #[cfg(feature = "arrow")]
    #[test]
    fn record_batches_round_trip_and_garbage_is_an_arrow_error() {
        use std::sync::Arc;

        use arrow_array::{Int64Array, RecordBatch, StringArray};

        let batch = RecordBatch::try_from_iter([
            (
                "name",
                Arc::new(StringArray::from(vec![Some("a"), None])) as _,
            ),
            ("n", Arc::new(Int64Array::from(vec![1, 2])) as _),
        ])
        .unwrap();
        let table =
            ArrowTable::from_record_batches(&batch.schema(), std::slice::from_ref(&batch)).unwrap();
        let (schema, batches) = table.record_batches().unwrap();
        assert_eq!(schema, batch.schema());
        assert_eq!(batches, [batch]);
        let err = ArrowTable::from_ipc(vec![1, 2, 3])
            .record_batches()
            .unwrap_err();
        assert!(matches!(err, ArrowTableError::Arrow(_)), "{err}");
    }

    #[cfg(feature = "arrow")]
    #[test]
    fn a_data_frame_written_by_python_reads_as_record_batches() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int64Type};

        let blob: Vec<u8> = (0..PYTHON_FRAME.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&PYTHON_FRAME[i..i + 2], 16).unwrap())
            .collect();
        let table: ArrowTable = from_slice(&blob).unwrap();
        let (schema, batches) = table.record_batches().unwrap();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["genre", "gross", "n"]);
        // The index and dtypes pandas needs ride in the metadata.
        assert!(schema.metadata()["pandas"].contains("\"kind\": \"range\""));
        let batch = &batches[0];
        let genre: Vec<Option<&str>> = batch.column(0).as_string::<i64>().iter().collect();
        assert_eq!(genre, [Some("drama"), None]);
        let gross = batch.column(1).as_primitive::<Float64Type>();
        assert_eq!(gross.value(0), 1.5);
        assert!(
            gross.value(1).is_nan(),
            "NaN is a value in pandas, not a null"
        );
        assert_eq!(
            batch.column(2).as_primitive::<Int64Type>().values(),
            &[3, 4]
        );
        // And it shows as a table.
        let shown = decode(&blob).unwrap().to_string();
        assert_eq!(
            shown,
            "<table: 2 rows × 3 columns (genre: LargeUtf8, gross: Float64, n: Int64)>"
        );
    }
}
