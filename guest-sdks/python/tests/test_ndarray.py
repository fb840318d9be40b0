"""numpy arrays as artifacts: TAG_NDARRAY around [dtype, shape, data]."""

import pytest

from mfw._encoding import NDARRAY_DTYPES, TAG_NDARRAY, PythonObject, Tagged, decode, encode

np = pytest.importorskip("numpy", reason="scripts/setup installs numpy for these tests")


@pytest.mark.parametrize("dtype", NDARRAY_DTYPES)
def test_every_stored_dtype_round_trips(dtype: str) -> None:
    array = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    back = decode(encode(array))
    assert back.dtype == array.dtype
    assert back.shape == (3, 4)
    assert (back == array).all()
    # Writable, like the array the step stored.
    back[0, 0] = 1


def test_the_bytes_are_little_endian_c_order_whatever_the_layout() -> None:
    a = np.arange(6, dtype=">i4").reshape(2, 3)
    fortran = np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3))
    assert encode(a) == encode(fortran) == encode(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert encode(a).hex() == (
        "da6d6600038365696e7433328202035818000000000100000002000000030000000400000005000000"
    )


def test_a_transposed_view_is_stored_as_the_array_it_shows() -> None:
    a = np.arange(6.0).reshape(2, 3).T
    back = decode(encode(a))
    assert back.shape == (3, 2)
    assert back.tolist() == a.tolist()


def test_other_dtypes_are_pickled() -> None:
    for array in (np.array(["a", "bc"]), np.array([object()]), np.array(["2020-01-01"], "M8[D]")):
        assert isinstance(decode(encode(array), allow_pickle=False), PythonObject)


def test_arrays_need_no_pickle_to_cross_languages() -> None:
    encode(np.zeros(3), allow_pickle=False)


def test_a_malformed_array_stays_a_tagged_value() -> None:
    for content in (["float64", [2], b"\0" * 8], ["object", [1], b"\0"], [1, 2, 3]):
        value = decode(encode(Tagged(TAG_NDARRAY, content)))
        assert value == Tagged(TAG_NDARRAY, content)
