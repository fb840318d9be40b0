"""pandas DataFrames and Series as artifacts: TAG_ARROW around an Arrow IPC
stream, written and read with nanoarrow."""

import io
import json

import pytest

from mfw._arrow import to_ipc
from mfw._encoding import TAG_ARROW, PythonObject, Tagged, decode, encode

pd = pytest.importorskip("pandas", reason="scripts/setup installs pandas for these tests")
np = pytest.importorskip("numpy", reason="scripts/setup installs numpy for these tests")
na = pytest.importorskip("nanoarrow", reason="scripts/setup installs nanoarrow for these tests")


def _frames() -> dict:
    n = 5
    return {
        "numbers": pd.DataFrame(
            {
                "i8": np.arange(n, dtype=np.int8),
                "u64": np.arange(n, dtype=np.uint64),
                "f32": np.linspace(0, 1, n, dtype=np.float32),
                "f64": [1.5, np.nan, -np.inf, 0.0, 2.0],
                "b": [True, False, True, True, False],
            }
        ),
        "text": pd.DataFrame(
            {
                "none": ["a", None, "c", "d", "é"],
                "nan": ["a", np.nan, "c", "d", "e"],
                "string": pd.array(["x", None, "z", "w", "v"], dtype="string"),
            }
        ),
        "times": pd.DataFrame(
            {
                "naive": pd.date_range("2020-01-01", periods=5, freq="h"),
                "tz": pd.date_range("2020-01-01", periods=5, freq="D", tz="Europe/Paris"),
                "delta": pd.to_timedelta(np.arange(5), unit="s"),
                "nat": pd.to_datetime(["2020-01-01", None, "2021-01-01", None, "2022-03-04"]),
                "us": pd.date_range("2020", periods=5, unit="us"),
            }
        ),
        "nullable": pd.DataFrame(
            {
                "I": pd.array([1, None, 3, 4, 5], dtype="Int64"),
                "U": pd.array([1, 2, None, 4, 5], dtype="UInt8"),
                "F": pd.array([1.5, None, 3, 4, 5], dtype="Float64"),
                "B": pd.array([True, None, False, True, None], dtype="boolean"),
            }
        ),
        "labelled index": pd.DataFrame({"x": [1, 2, 3]}, index=pd.Index(["a", "b", "c"], name="k")),
        "multiindex": pd.DataFrame(
            {"x": [1, 2, 3, 4]},
            index=pd.MultiIndex.from_tuples(
                [("a", 1), ("a", 2), ("b", 1), ("b", 2)], names=["g", "n"]
            ),
        ),
        "range index": pd.DataFrame({"x": [1, 2]}, index=pd.RangeIndex(10, 14, 2, name="r")),
        "date range index": pd.DataFrame({"x": [1, 2]}, index=pd.date_range("2020", periods=2)),
        "integer columns": pd.DataFrame(np.arange(6).reshape(2, 3)),
        "no columns": pd.DataFrame(index=pd.RangeIndex(3)),
        "no rows": pd.DataFrame(
            {"x": pd.Series([], dtype="float64"), "s": pd.Series([], dtype=object)}
        ),
        "named columns": pd.DataFrame({"a": [1]}).rename_axis(columns="features"),
    }


@pytest.mark.parametrize("name", list(_frames()))
def test_a_frame_round_trips_with_its_dtypes_and_index(name: str) -> None:
    frame = _frames()[name]
    blob = encode(frame)
    assert blob[:5] == bytes.fromhex("da6d660004"), "stored as Arrow, not pickled"
    back = decode(blob)
    pd.testing.assert_frame_equal(back, frame, check_column_type=True, check_index_type=True)
    # The stored bytes do not depend on the run: one value, one hash.
    assert encode(back) == blob


def test_a_series_comes_back_a_series_with_its_name_and_index() -> None:
    for series in (
        pd.Series([1.0, 2.0, np.nan], name="price", index=["a", "b", "c"]),
        pd.Series([1, 2]),
        pd.Series(["x", "y"], name=3),
    ):
        back = decode(encode(series))
        assert isinstance(back, pd.Series)
        pd.testing.assert_series_equal(back, series)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"c": pd.Categorical(["a", "b"])}),
        pd.DataFrame({"o": [1, "a"]}),
        pd.DataFrame({"mixed missing": ["a", None, np.nan]}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame({"z": [1 + 2j]}),
        pd.DataFrame({("a", "b"): [1]}),
    ],
    ids=["categorical", "objects", "mixed missing", "duplicate names", "complex", "column tuples"],
)
def test_what_arrow_cannot_hold_faithfully_is_pickled(frame) -> None:
    blob = encode(frame)
    assert isinstance(decode(blob, allow_pickle=False), PythonObject)
    pd.testing.assert_frame_equal(decode(blob), frame)


def test_attrs_are_kept_by_pickling() -> None:
    frame = pd.DataFrame({"x": [1]})
    frame.attrs["source"] = "survey"
    assert decode(encode(frame)).attrs == {"source": "survey"}


def test_the_stream_is_plain_arrow_with_pandas_metadata() -> None:
    from nanoarrow import ipc

    frame = pd.DataFrame({"genre": ["drama", "comedy"], "gross": [1.5, 2.0]}, index=["x", "y"])
    blob = encode(frame)
    stream_bytes = to_ipc(frame)
    assert stream_bytes in blob, "the artifact is the tag around the stream"
    with ipc.InputStream.from_readable(io.BytesIO(stream_bytes)) as source:
        stream = na.c_array_stream(source)
        schema = stream.get_schema()
        batch = next(iter(stream))
    assert [schema.child(i).name for i in range(schema.n_children)] == [
        "genre",
        "gross",
        "__index_level_0__",
    ]
    meta = json.loads(schema.metadata[b"pandas"])
    assert meta["index_columns"] == ["__index_level_0__"]
    assert batch.length == 2


def test_a_table_written_elsewhere_reads_with_a_default_index() -> None:
    """An Arrow stream without pandas metadata (a Rust step's), nulls in
    integer and boolean columns as pandas' nullable dtypes."""
    from nanoarrow import ipc

    ints = na.c_array_from_buffers(
        na.int64(),
        3,
        [np.packbits([1, 0, 1], bitorder="little"), np.array([1, 2, 3])],
        null_count=1,
    )
    text = na.c_array(["a", "b", None], na.string())
    schema = na.Schema(na.Type.STRUCT, fields={"n": ints.schema, "s": text.schema})
    batch = na.c_array_from_buffers(schema, 3, [None], children=[ints, text])
    out = io.BytesIO()
    with ipc.StreamWriter.from_writable(out) as writer:
        writer.write_array(batch)
    back = decode(encode(Tagged(TAG_ARROW, out.getvalue())))
    expected = pd.DataFrame(
        {"n": pd.array([1, None, 3], dtype="Int64"), "s": np.array(["a", "b", None], dtype=object)}
    )
    pd.testing.assert_frame_equal(back, expected)


def test_bytes_that_are_not_a_stream_stay_tagged() -> None:
    value = decode(encode(Tagged(TAG_ARROW, b"not arrow")))
    assert value == Tagged(TAG_ARROW, b"not arrow")
