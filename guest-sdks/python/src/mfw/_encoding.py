"""The mfw artifact encoding, ``mfw-cbor/1``, in pure Python.

Every artifact value that steps exchange is stored as one blob in this
encoding: deterministic CBOR (a subset of RFC 8949) in which every value has
exactly one valid byte sequence. :func:`encode` always writes that form and
:func:`decode` / :func:`validate` reject every other byte sequence with an
:class:`EncodingError` whose :attr:`~EncodingError.reason` is the keyword the
shared test vectors (``tests/vectors/encoding.json``) use. The rules are in
``docs/encoding.md``; this module mirrors the Rust reference implementation
(``runtime/encoding``) check for check.

Python values map to the encoding as follows:

=========================================  =====================================
Python                                     encoding
=========================================  =====================================
``None``                                   null
``bool`` (checked before ``int``)          bool
``int`` (any size)                         int (bignum tags 2/3 beyond 64 bits)
``float``                                  64-bit float (one canonical NaN)
``str``                                    text
``bytes``, ``memoryview``                 bytes (decoded as ``bytes``)
``bytearray``                              tag ``TAG_BYTEARRAY`` around bytes
``list``                                   array
``tuple``                                  tag ``TAG_TUPLE`` around an array
``dict``                                   map, keys sorted by their encodings
``set``                                    tag 258 around a sorted array
``frozenset``                              tag ``TAG_FROZENSET`` around a set
:class:`Tagged`                            any other tag, kept opaque
:class:`PythonObject`                      tag ``TAG_PICKLE`` around its bytes
anything else                              a pickle (tag ``TAG_PICKLE``)
=========================================  =====================================

Subclasses of the built-in types are written as their base type (an
``IntEnum`` as an int, an ``OrderedDict`` as a map, a namedtuple as a tuple)
and decode as the base type.

Decoding gives the base types back; a set or a list that is a map key or a
set element (at any depth) decodes as a ``frozenset`` or a ``tuple`` so that
it is hashable. Valid blobs that Python cannot hold are reported with an
:class:`EncodingError` of one of two Python-only reasons: ``"unhashable"``
(a map inside a map key or set element, or an unpickled object that is not
hashable there) and ``"python-duplicate"`` (keys or elements that differ in
the encoding but are equal in Python, such as ``1``, ``1.0`` and ``True``,
or ``0.0`` and ``-0.0``).

The module uses only the standard library, keeps no state and does nothing
at import beyond building a few constants, so it runs unchanged inside
componentize-py's CPython. The decoder keeps its own stack of open
containers instead of recursing, so no input can exhaust Python's recursion
limit, and byte strings and text are sliced as whole runs, never byte by
byte.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from . import _arrow

__all__ = [
    "ENCODING",
    "MAX_DEPTH",
    "NDARRAY_DTYPES",
    "PICKLE_PROTOCOL",
    "TAG_ARROW",
    "TAG_BYTEARRAY",
    "TAG_FROZENSET",
    "TAG_NDARRAY",
    "TAG_PICKLE",
    "TAG_SET",
    "TAG_TUPLE",
    "EncodingError",
    "PythonObject",
    "Tagged",
    "array_items",
    "decode",
    "display",
    "encode",
    "kind_of",
    "to_json",
    "validate",
]

ENCODING = "mfw-cbor/1"
"""The name of this encoding, as recorded next to stored artifacts."""

TAG_SET = 258
"""CBOR tag for a set: an array whose elements are sorted by their encodings."""

TAG_TUPLE = 0x6D660001
"""CBOR tag for a tuple: an array that a Python step sees as a ``tuple``."""

TAG_PICKLE = 0x6D660002
"""CBOR tag for a Python object: a byte string holding its pickle."""

TAG_NDARRAY = 0x6D660003
"""CBOR tag for a numpy array: ``[dtype, shape, data]``, the dtype's name
(one of :data:`NDARRAY_DTYPES`), its shape as a list of ints, and its
elements as little-endian bytes in C order."""

TAG_ARROW = 0x6D660004
"""CBOR tag for a pandas DataFrame or Series: bytes holding an Arrow IPC
stream (schema, record batches, end marker), with the index and pandas
dtypes in the schema's ``pandas`` metadata (see :mod:`mfw._arrow`)."""

TAG_FROZENSET = 0x6D660005
"""CBOR tag for a ``frozenset``: a set (tag 258) that a Python step sees as
a ``frozenset``; other languages read the set."""

TAG_BYTEARRAY = 0x6D660006
"""CBOR tag for a ``bytearray``: bytes that a Python step sees as a
``bytearray``; other languages read the bytes."""

NDARRAY_DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)
"""The numpy dtypes stored as :data:`TAG_NDARRAY`; arrays of others (text,
objects, dates, records) are pickled."""

MAX_DEPTH = 512
"""The deepest nesting allowed: arrays, maps and tags each open one level."""

PICKLE_PROTOCOL = 5
"""The pickle protocol used for objects that have no other representation."""

_TAG_POS_BIGNUM = 2
_TAG_NEG_BIGNUM = 3
_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
_I64_MIN = -(1 << 63)
_NAN_BITS = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"
_NAN = b"\xfb" + _NAN_BITS
_SET_HEAD = b"\xd9\x01\x02"
_TUPLE_HEAD = b"\xda\x6d\x66\x00\x01"
_PICKLE_HEAD = b"\xda\x6d\x66\x00\x02"
_FROZENSET_HEAD = b"\xda\x6d\x66\x00\x05"
_BYTEARRAY_HEAD = b"\xda\x6d\x66\x00\x06"
_BYTE = [bytes((i,)) for i in range(256)]
_H1 = struct.Struct(">BB").pack
_H2 = struct.Struct(">BH").pack
_H4 = struct.Struct(">BI").pack
_H8 = struct.Struct(">BQ").pack
_FLOAT = struct.Struct(">Bd").pack
_U16_AT = struct.Struct(">H").unpack_from
_U32_AT = struct.Struct(">I").unpack_from
_U64_AT = struct.Struct(">Q").unpack_from
_F64_AT = struct.Struct(">d").unpack_from
_first = itemgetter(0)


class EncodingError(ValueError):
    """A blob that is not valid ``mfw-cbor/1``, or a value that cannot be encoded.

    ``reason`` is a short stable keyword (the ``error`` field of the invalid
    test vectors, the same as the Rust ``Error::reason``) and ``offset`` the
    byte offset the error points at (``None`` for errors that are not about
    a position in a blob). ``str()`` gives the message the Rust decoder gives.

    >>> try:
    ...     decode(bytes.fromhex("a2616201616102"))
    ... except EncodingError as err:
    ...     print(err.reason, err.offset, "|", err)
    unsorted-keys 4 | map keys out of canonical order at byte 4
    """

    def __init__(self, reason: str, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.offset = offset

    def __reduce__(self) -> tuple[Any, ...]:
        return (EncodingError, (self.reason, str(self), self.offset))

    def __repr__(self) -> str:
        return f"EncodingError({self.reason!r}, {str(self)!r}, offset={self.offset!r})"


class Tagged:
    """A value under a CBOR tag this SDK gives no meaning to, kept as it is.

    A step can pass such values on unchanged: encoding a ``Tagged`` writes the
    same tag number and content back. The tags the encoding defines (2 and 3
    for bignums, ``TAG_SET``, ``TAG_TUPLE``, ``TAG_PICKLE``) are accepted
    too and written as the value they stand for.

    >>> value = decode(bytes.fromhex("c11a6553f100"))
    >>> value
    Tagged(1, 1700000000)
    >>> encode(value).hex()
    'c11a6553f100'
    """

    __slots__ = ("tag", "value")

    def __init__(self, tag: int, value: object) -> None:
        if type(tag) is not int or not 0 <= tag <= _U64_MAX:
            raise ValueError(f"a CBOR tag number is an int in [0, 2**64 - 1], not {tag!r}")
        self.tag = tag
        self.value = value

    def __eq__(self, other: object) -> bool:
        if type(other) is not Tagged:
            return NotImplemented
        return self.tag == other.tag and self.value == other.value

    def __hash__(self) -> int:
        return hash((Tagged, self.tag, self.value))

    def __repr__(self) -> str:
        return f"Tagged({self.tag}, {self.value!r})"


class PythonObject:
    """A pickled Python object, seen where unpickling is not allowed.

    ``data`` holds the pickle bytes; encoding a ``PythonObject`` writes them
    back unchanged under ``TAG_PICKLE``.

    >>> obj = decode(bytes.fromhex("da6d6600024480044e2e"), allow_pickle=False)
    >>> obj
    <python object: 4 bytes of pickle>
    >>> pickle.loads(obj.data) is None
    True
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = bytes(data)

    def __eq__(self, other: object) -> bool:
        if type(other) is not PythonObject:
            return NotImplemented
        return self.data == other.data

    def __hash__(self) -> int:
        return hash((PythonObject, self.data))

    def __repr__(self) -> str:
        return f"<python object: {len(self.data)} bytes of pickle>"


# --------------------------------------------------------------------------
# Errors, with the messages of the Rust `Error` type.


def _truncated(offset: int) -> EncodingError:
    return EncodingError(
        "truncated", f"truncated input: the item at byte {offset} runs past the end", offset
    )


def _too_deep(offset: int) -> EncodingError:
    return EncodingError("too-deep", f"nesting deeper than 512 levels at byte {offset}", offset)


def _found(initial: int) -> str:
    """What an item whose first byte is ``initial`` is, for error messages."""
    major = initial >> 5
    if major <= 1:
        return "an int"
    if major <= 6:
        return ("bytes", "a str", "a list", "a map", "a tagged value")[major - 2]
    if initial in (0xF4, 0xF5):
        return "a bool"
    if initial == 0xF6:
        return "null"
    if 0xF9 <= initial <= 0xFB:
        return "a float"
    return "a simple value"


def _bad_tag(offset: int, tag: int, expected: str, inner: int) -> EncodingError:
    return EncodingError(
        "bad-tag-content",
        f"tag {tag} at byte {offset} must wrap {expected}, found {_found(inner)}",
        offset,
    )


def _order_error(offset: int, in_set: bool, equal: bool) -> EncodingError:
    if in_set:
        if equal:
            return EncodingError(
                "duplicate-set-element", f"duplicate set element at byte {offset}", offset
            )
        return EncodingError(
            "unsorted-set", f"set elements out of canonical order at byte {offset}", offset
        )
    if equal:
        return EncodingError("duplicate-key", f"duplicate map key at byte {offset}", offset)
    return EncodingError(
        "unsorted-keys", f"map keys out of canonical order at byte {offset}", offset
    )


def _long_arg(buf: Any, n: int, start: int, major: int, info: int) -> tuple[int, int]:
    """The argument of a head with additional info ``info`` >= 24 at ``start``.

    Returns the argument and the position after the head, checking that the
    head is complete, definite and the shortest one for its argument.
    """
    pos = start + 1
    if info == 24:
        if pos + 1 > n:
            raise _truncated(start)
        arg, pos, least = buf[pos], pos + 1, 24
    elif info == 25:
        if pos + 2 > n:
            raise _truncated(start)
        arg, pos, least = _U16_AT(buf, pos)[0], pos + 2, 0x100
    elif info == 26:
        if pos + 4 > n:
            raise _truncated(start)
        arg, pos, least = _U32_AT(buf, pos)[0], pos + 4, 0x1_0000
    elif info == 27:
        if pos + 8 > n:
            raise _truncated(start)
        arg, pos, least = _U64_AT(buf, pos)[0], pos + 8, 0x1_0000_0000
    elif info == 31 and 2 <= major <= 5:
        what = ("bytes", "text", "array", "map")[major - 2]
        raise EncodingError(
            "indefinite-length",
            f"indefinite-length {what} at byte {start}: only definite lengths are allowed",
            start,
        )
    else:
        raise EncodingError(
            "reserved-info",
            f"reserved additional info {info} in major type {major} at byte {start}",
            start,
        )
    if arg < least:
        what = "integer" if major <= 1 else "tag number" if major == 6 else "length"
        raise EncodingError("non-shortest", f"non-shortest {what} head at byte {start}", start)
    return arg, pos


def _simple_error(buf: Any, n: int, start: int, info: int) -> EncodingError:
    """The error for a major type 7 item other than false, true, null and 0xfb."""
    if info == 24:
        if start + 1 >= n:
            return _truncated(start)
        value = buf[start + 1]
    elif info in (25, 26):
        bits = 16 if info == 25 else 32
        return EncodingError(
            "short-float",
            f"{bits}-bit float at byte {start}: floats must be 64-bit (0xfb)",
            start,
        )
    elif 28 <= info <= 30:
        return EncodingError(
            "reserved-info",
            f"reserved additional info {info} in major type 7 at byte {start}",
            start,
        )
    elif info == 31:
        return EncodingError("unexpected-break", f"unexpected break (0xff) at byte {start}", start)
    else:
        value = info
    return EncodingError(
        "simple-value",
        f"simple value {value} at byte {start} is not allowed (only false, true and null)",
        start,
    )


# --------------------------------------------------------------------------
# The decoder.

_NO_KEY = object()  # a map frame waiting for a key rather than a value

# A frame is a list: [kind, start, remaining, container, frozen, previous
# encoding, pending key, key start, tag number]. `frozen`: the container's
# value must be hashable (it is inside a map key or set element).
_ARRAY, _SET_ARRAY, _MAP, _TAG = 0, 1, 2, 3


def _view(data: bytes | bytearray | memoryview) -> tuple[Any, memoryview]:
    """The input as something indexable by byte (bytes or a flat 'B' view)."""
    if type(data) is bytes:
        return data, memoryview(data)
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1 or not view.c_contiguous:
        view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    return view, view


def _problem(state: list[Any], reason: str, message: str, offset: int) -> None:
    """Records a Python-only problem; the first one is raised once the blob is valid."""
    if state[0] is None:
        state[0] = EncodingError(reason, message, offset)


def _unhashable(state: list[Any], offset: int, what: str) -> None:
    _problem(
        state,
        "unhashable",
        f"{what} at byte {offset} is inside a map key or set element, where Python "
        "needs a hashable value",
        offset,
    )


def _collision(state: list[Any], offset: int, in_set: bool) -> None:
    what = "set element" if in_set else "map key"
    _problem(
        state,
        "python-duplicate",
        f"{what} at byte {offset} equals an earlier one in Python (as 1, 1.0 and True do, "
        f"or 0.0 and -0.0): a Python {'set' if in_set else 'dict'} would merge them",
        offset,
    )


def _parse(
    buf: Any,
    view: memoryview,
    pos: int,
    depth: int,
    build: bool,
    load_pickles: bool,
    state: list[Any],
) -> tuple[Any, int]:
    """Parses the item at ``pos`` inside ``depth`` containers.

    Returns the value (``None`` when not ``build``-ing) and the position after
    the item. Format errors are raised at once; Python-only problems go to
    ``state[0]`` and a seen pickle sets ``state[1]``. The parser keeps its own
    stack of open containers, so nesting never uses the call stack.
    """
    n = len(buf)
    from_bytes = type(buf) is bytes
    stack: list[list[Any]] = []
    value: Any = None
    while True:
        # Read one item: a complete one, or the head of a container.
        start = pos
        if pos >= n:
            raise _truncated(start)
        initial = buf[pos]
        pos += 1
        major = initial >> 5
        info = initial & 0x1F
        if major == 7:
            if info == 27:
                if pos + 8 > n:
                    raise _truncated(start)
                value = _F64_AT(buf, pos)[0]
                if value != value and buf[pos : pos + 8] != _NAN_BITS:
                    raise EncodingError(
                        "non-canonical-nan",
                        f"non-canonical NaN at byte {start}: NaN must be 0xfb7ff8000000000000",
                        start,
                    )
                pos += 8
            elif info == 20:
                value = False
            elif info == 21:
                value = True
            elif info == 22:
                value = None
            else:
                raise _simple_error(buf, n, start, info)
        else:
            if info < 24:
                arg = info
            else:
                arg, pos = _long_arg(buf, n, start, major, info)
            if major == 0:
                value = arg
            elif major == 1:
                value = -1 - arg
            elif major == 2:
                end = pos + arg
                if end > n:
                    raise _truncated(start)
                if build:
                    value = buf[pos:end] if from_bytes else bytes(view[pos:end])
                pos = end
            elif major == 3:
                end = pos + arg
                if end > n:
                    raise _truncated(start)
                try:
                    value = str(view[pos:end], "utf-8")
                except UnicodeDecodeError as err:
                    offset = pos + err.start
                    raise EncodingError(
                        "invalid-utf8", f"invalid UTF-8 in text at byte {offset}", offset
                    ) from None
                pos = end
            else:
                if depth + len(stack) >= MAX_DEPTH:
                    raise _too_deep(start)
                frozen = False
                if build and stack:
                    top = stack[-1]
                    kind = top[0]
                    frozen = kind == _SET_ARRAY or (kind == _MAP and top[6] is _NO_KEY) or top[4]
                if major == 4:
                    if arg:
                        in_set = bool(stack) and stack[-1][0] == _TAG and stack[-1][8] == TAG_SET
                        if in_set:
                            stack.append([_SET_ARRAY, start, arg, set(), frozen, None, None, 0, 0])
                        else:
                            stack.append([_ARRAY, start, arg, [], frozen, None, None, 0, 0])
                        continue
                    value = () if frozen else []
                elif major == 5:
                    if frozen:
                        _unhashable(state, start, "a map")
                    if arg:
                        stack.append([_MAP, start, arg, {}, frozen, None, _NO_KEY, 0, 0])
                        continue
                    value = object() if frozen else {}
                else:
                    # A tag: a bignum is read whole, other tags wait for their content.
                    if pos >= n:
                        raise _truncated(start)
                    inner = buf[pos]
                    if arg == _TAG_POS_BIGNUM or arg == _TAG_NEG_BIGNUM:
                        if inner >> 5 != 2:
                            raise _bad_tag(start, arg, "bytes", inner)
                        inner_start = pos
                        info = inner & 0x1F
                        if info < 24:
                            size, pos = info, pos + 1
                        else:
                            size, pos = _long_arg(buf, n, inner_start, 2, info)
                        end = pos + size
                        if end > n:
                            raise _truncated(inner_start)
                        if size and buf[pos] == 0:
                            raise EncodingError(
                                "bignum-leading-zero",
                                f"bignum at byte {start} has a leading zero byte",
                                start,
                            )
                        if size <= 8:
                            raise EncodingError(
                                "bignum-fits",
                                f"bignum at byte {start} fits a plain integer (major type 0/1)",
                                start,
                            )
                        if build:
                            value = int.from_bytes(buf[pos:end], "big")
                            if arg == _TAG_NEG_BIGNUM:
                                value = -1 - value
                        pos = end
                    else:
                        if arg == TAG_SET or arg == TAG_TUPLE:
                            if inner >> 5 != 4:
                                raise _bad_tag(start, arg, "an array", inner)
                        elif arg == TAG_PICKLE and inner >> 5 != 2:
                            raise _bad_tag(start, arg, "bytes", inner)
                        stack.append([_TAG, start, 1, None, frozen, None, None, 0, arg])
                        continue
        # Hand the finished item to the container it is in; a container that
        # this completes is handed on to its own container, and so on.
        item_start = start
        while stack:
            frame = stack[-1]
            kind = frame[0]
            if kind == _ARRAY:
                if build:
                    frame[3].append(value)
                frame[2] -= 1
                if frame[2]:
                    break
                if build:
                    value = tuple(frame[3]) if frame[4] else frame[3]
            elif kind == _MAP:
                if frame[6] is _NO_KEY:
                    # `value` is a key: check it against the previous one.
                    this = bytes(buf[item_start:pos])
                    previous = frame[5]
                    if previous is not None and previous >= this:
                        raise _order_error(item_start, False, previous == this)
                    frame[5] = this
                    frame[6] = value
                    frame[7] = item_start
                    break
                if build:
                    entries = frame[3]
                    size = len(entries)
                    try:
                        entries[frame[6]] = value
                    except TypeError:
                        _unhashable(state, frame[7], "a map key that is not hashable")
                    else:
                        if len(entries) == size:
                            _collision(state, frame[7], False)
                frame[6] = _NO_KEY
                frame[2] -= 1
                if frame[2]:
                    break
                if build and frame[4]:
                    value = object()  # unhashable: reported when the map started
                else:
                    value = frame[3]
            elif kind == _SET_ARRAY:
                this = bytes(buf[item_start:pos])
                previous = frame[5]
                if previous is not None and previous >= this:
                    raise _order_error(item_start, True, previous == this)
                frame[5] = this
                if build:
                    elements = frame[3]
                    size = len(elements)
                    try:
                        elements.add(value)
                    except TypeError:
                        _unhashable(state, item_start, "a set element that is not hashable")
                    else:
                        if len(elements) == size:
                            _collision(state, item_start, True)
                frame[2] -= 1
                if frame[2]:
                    break
                value = frame[3]
            else:
                tag = frame[8]
                if tag == TAG_PICKLE:
                    state[1] = True
                if build:
                    if tag == TAG_TUPLE:
                        value = tuple(value)
                    elif tag == TAG_SET:
                        if frame[4]:
                            value = frozenset(value)
                        elif type(value) is not set:
                            value = set(value)
                    elif tag == TAG_PICKLE:
                        value = pickle.loads(value) if load_pickles else PythonObject(value)
                    elif tag == TAG_NDARRAY and not frame[4]:
                        value = _ndarray(value)
                    elif tag == TAG_ARROW and not frame[4]:
                        value = _arrow_value(value)
                    elif tag == TAG_FROZENSET and isinstance(value, (set, frozenset)):
                        value = frozenset(value)
                    elif tag == TAG_BYTEARRAY and type(value) is bytes:
                        # A map key or set element stays bytes: hashable.
                        value = value if frame[4] else bytearray(value)
                    else:
                        value = Tagged(tag, value)
            item_start = frame[1]
            stack.pop()
        else:
            return value, pos


def _trailing(pos: int) -> EncodingError:
    return EncodingError(
        "trailing-bytes", f"trailing bytes at byte {pos}: a blob holds exactly one item", pos
    )


def decode(data: bytes | bytearray | memoryview, *, allow_pickle: bool = True) -> object:
    """Decodes one blob, rejecting anything that :func:`encode` would not write.

    Pickled objects are unpickled when ``allow_pickle`` is true (only do that
    for blobs you trust) and come back as :class:`PythonObject` otherwise.
    Raises :class:`EncodingError` for invalid blobs (with the reason keyword
    of the Rust decoder) and for valid ones Python cannot hold (reasons
    ``"unhashable"`` and ``"python-duplicate"``). Pickles are only loaded once
    the whole blob is known to be valid, in a second pass over it.

    >>> decode(bytes.fromhex("a2616101616283f5f6fb3ff8000000000000"))
    {'a': 1, 'b': [True, None, 1.5]}
    >>> decode(encode([(1, 2), {frozenset({3})}]))
    [(1, 2), {frozenset({3})}]
    >>> decode(b"\\x18\\x17")
    Traceback (most recent call last):
      ...
    mfw._encoding.EncodingError: non-shortest integer head at byte 0
    """
    buf, view = _view(data)
    state: list[Any] = [None, False]
    value, pos = _parse(buf, view, 0, 0, True, False, state)
    if pos < len(buf):
        raise _trailing(pos)
    if state[0] is None and allow_pickle and state[1]:
        # The blob is valid and Python can hold it: now unpickle, in a second pass.
        value, pos = _parse(buf, view, 0, 0, True, True, state)
    if state[0] is not None:
        raise state[0]
    return value


def validate(data: bytes | bytearray | memoryview) -> None:
    """Runs every check of :func:`decode` without building a value.

    Byte strings are skipped without being read; text is still checked for
    UTF-8. Python-only problems (``"unhashable"``, ``"python-duplicate"``)
    are not format errors and are not reported here.

    >>> validate(bytes.fromhex("83010203"))
    >>> validate(bytes.fromhex("f93c00"))
    Traceback (most recent call last):
      ...
    mfw._encoding.EncodingError: 16-bit float at byte 0: floats must be 64-bit (0xfb)
    """
    buf, view = _view(data)
    _, pos = _parse(buf, view, 0, 0, False, False, [None, False])
    if pos < len(buf):
        raise _trailing(pos)


def kind_of(data: bytes | bytearray | memoryview) -> str:
    """The kind of the value in a blob, after validating it.

    One of ``"null"``, ``"bool"``, ``"int"`` (bignums too), ``"float"``,
    ``"str"``, ``"bytes"``, ``"list"``, ``"map"``, ``"tuple"``, ``"set"``,
    ``"pickle"`` or ``"tagged"`` (any other tag).

    >>> kind_of(encode({1, 2})), kind_of(encode((1,))), kind_of(encode(2**70))
    ('set', 'tuple', 'int')
    """
    validate(data)
    buf, _ = _view(data)
    initial = buf[0]
    major = initial >> 5
    if major <= 5:
        return ("int", "int", "bytes", "str", "list", "map")[major]
    if major == 6:
        info = initial & 0x1F
        tag = info if info < 24 else _long_arg(buf, len(buf), 0, 6, info)[0]
        if tag == _TAG_POS_BIGNUM or tag == _TAG_NEG_BIGNUM:
            return "int"
        return {TAG_SET: "set", TAG_TUPLE: "tuple", TAG_PICKLE: "pickle"}.get(tag, "tagged")
    if initial == 0xF6:
        return "null"
    return "bool" if initial in (0xF4, 0xF5) else "float"


_PHRASES = {
    "null": "null",
    "bool": "a bool",
    "int": "an int",
    "float": "a float",
    "str": "a str",
    "bytes": "bytes",
    "map": "a map",
    "pickle": "a pickle (a Python object only Python steps can read)",
    "tagged": "a tagged value",
}


def array_items(data: bytes | bytearray | memoryview) -> list[bytes]:
    """The encodings of the elements of a top-level list, tuple or set.

    Each element is itself a valid blob (this is how ``foreach`` splits a
    list). The blob is validated first; any other kind raises
    :class:`EncodingError` with reason ``"unexpected-kind"``.

    >>> array_items(encode([1, "x", [2]]))
    [b'\\x01', b'ax', b'\\x81\\x02']
    >>> array_items(encode({}))
    Traceback (most recent call last):
      ...
    mfw._encoding.EncodingError: expected a list, found a map
    """
    kind = kind_of(data)
    if kind not in ("list", "tuple", "set"):
        raise EncodingError("unexpected-kind", f"expected a list, found {_PHRASES[kind]}")
    buf, view = _view(data)
    n = len(buf)
    pos = 0
    depth = 1
    if buf[0] >> 5 == 6:
        info = buf[0] & 0x1F
        pos = 1 if info < 24 else _long_arg(buf, n, 0, 6, info)[1]
        depth = 2
    info = buf[pos] & 0x1F
    count, pos = (info, pos + 1) if info < 24 else _long_arg(buf, n, pos, 4, info)
    items = []
    state: list[Any] = [None, False]
    for _ in range(count):
        start = pos
        _, pos = _parse(buf, view, pos, depth, False, False, state)
        items.append(bytes(view[start:pos]))
    return items


# --------------------------------------------------------------------------
# The encoder.

# How a frame's items are written: in order into the frame's output, each into
# a buffer of its own (set elements and map keys, sorted afterwards), or as
# (encoded key, value) pairs (a map's entries once its keys are sorted).
_SEQ, _OWN, _PAIRS = 0, 1, 2


def _head(major_bits: int, arg: int) -> bytes:
    """A head with the shortest argument encoding; ``major_bits`` is major << 5."""
    if arg < 24:
        return _BYTE[major_bits | arg]
    if arg < 0x100:
        return _H1(major_bits | 24, arg)
    if arg < 0x1_0000:
        return _H2(major_bits | 25, arg)
    if arg < 0x1_0000_0000:
        return _H4(major_bits | 26, arg)
    return _H8(major_bits | 27, arg)


def _too_deep_to_encode() -> EncodingError:
    return EncodingError(
        "too-deep",
        f"cannot encode a value nested deeper than {MAX_DEPTH} levels "
        "(lists, dicts and tags count one level, tuples and sets two; is the value cyclic?)",
    )


def _bytes_like(value: bytes | bytearray | memoryview) -> tuple[int, Any]:
    """The length and a flat byte view of a bytes-like value."""
    if type(value) is bytes:
        return len(value), value
    view = memoryview(value)
    if view.c_contiguous:
        view = view.cast("B")
        return len(view), view
    data = view.tobytes()
    return len(data), data


def _same_encoding(encodings: list[bytes], values: list[Any]) -> tuple[Any, Any]:
    """Two values whose encodings are equal, for error messages."""
    seen: dict[bytes, Any] = {}
    for encoding, value in zip(encodings, values, strict=True):
        if encoding in seen:
            return seen[encoding], value
        seen[encoding] = value
    return None, None  # pragma: no cover - only called when there is a duplicate


def _pickle(value: object) -> bytes:
    try:
        return pickle.dumps(value, protocol=PICKLE_PROTOCOL)
    except Exception as err:
        raise TypeError(
            f"cannot encode a {type(value).__qualname__}: it cannot be pickled ({err})"
        ) from err


def _encode_into(root: object, out: list[Any], allow_pickle: bool) -> None:
    """Appends the encoding of ``root`` to ``out`` as chunks of bytes.

    Iterative: containers are frames on an explicit stack, so deep values never
    use the call stack, and values nested deeper than ``MAX_DEPTH`` (cyclic
    ones included) raise instead of producing a blob no decoder accepts.
    """
    stack: list[tuple[Any, ...]] = []
    items: Iterator[Any] = iter((root,))
    depth = 0  # the nesting level of the current frame's items
    mode = _SEQ
    dest = out  # where the current frame writes (_SEQ, _PAIRS)
    bufs: list[list[Any]] = []  # one buffer per item (_OWN)
    keys: list[Any] = []  # the items themselves (_OWN)
    values: list[Any] | None = None  # a map's values, for _OWN over its keys
    while True:
        for v in items:
            if mode == _SEQ:
                o = dest
            elif mode == _OWN:
                o = []
                bufs.append(o)
            else:
                o = dest
                o.append(v[0])
                v = v[1]
            t = type(v)
            if t is str:
                try:
                    b = v.encode("utf-8")
                except UnicodeEncodeError as err:
                    raise EncodingError(
                        "invalid-utf8",
                        f"cannot encode a str holding the lone surrogate "
                        f"U+{ord(v[err.start]):04X} at index {err.start}: text must be valid UTF-8",
                    ) from None
                size = len(b)
                o.append(_BYTE[0x60 | size] if size < 24 else _head(0x60, size))
                o.append(b)
            elif t is int:
                if 0 <= v < 24:
                    o.append(_BYTE[v])
                elif 0 <= v <= _U64_MAX:
                    o.append(_head(0x00, v))
                elif -_U64_MAX - 1 <= v < 0:
                    o.append(_head(0x20, -1 - v))
                else:
                    if depth >= MAX_DEPTH:
                        raise _too_deep_to_encode()
                    m = v if v > 0 else -1 - v
                    magnitude = m.to_bytes((m.bit_length() + 7) // 8, "big")
                    o.append(b"\xc2" if v > 0 else b"\xc3")
                    o.append(_head(0x40, len(magnitude)))
                    o.append(magnitude)
            elif t is float:
                o.append(_NAN if v != v else _FLOAT(0xFB, v))
            elif v is None:
                o.append(b"\xf6")
            elif t is bool:
                o.append(b"\xf5" if v else b"\xf4")
            elif t is bytes:
                o.append(_head(0x40, len(v)))
                o.append(v)
            elif t is list or t is tuple:
                if t is tuple:
                    if depth + 1 >= MAX_DEPTH:
                        raise _too_deep_to_encode()
                    o.append(_TUPLE_HEAD)
                    child = depth + 2
                else:
                    if depth >= MAX_DEPTH:
                        raise _too_deep_to_encode()
                    child = depth + 1
                o.append(_head(0x80, len(v)))
                if v:
                    stack.append((items, depth, mode, dest, bufs, keys, values))
                    items, depth, mode, dest = iter(v), child, _SEQ, o
                    break
            elif t is dict:
                if depth >= MAX_DEPTH:
                    raise _too_deep_to_encode()
                o.append(_head(0xA0, len(v)))
                if v:
                    stack.append((items, depth, mode, dest, bufs, keys, values))
                    keys, values, bufs = list(v), list(v.values()), []
                    items, depth, mode, dest = iter(keys), depth + 1, _OWN, o
                    break
            elif t is set or t is frozenset:
                # A frozenset is its tag around the set: one level more.
                tags = 2 if t is set else 3
                if depth + tags - 1 >= MAX_DEPTH:
                    raise _too_deep_to_encode()
                if t is frozenset:
                    o.append(_FROZENSET_HEAD)
                o.append(_SET_HEAD)
                o.append(_head(0x80, len(v)))
                if v:
                    stack.append((items, depth, mode, dest, bufs, keys, values))
                    keys, values, bufs = list(v), None, []
                    items, depth, mode, dest = iter(keys), depth + tags, _OWN, o
                    break
            else:
                # Everything rarer: views, tags, subclasses and pickles. A value
                # that stands for another is re-dispatched as a one-item frame.
                replacement = _replacement(v, o, depth, allow_pickle)
                if replacement is None:
                    continue
                r, r_depth = replacement
                if type(r) is _SetItems:
                    # Tagged(TAG_SET, [...]): a set whose elements are all kept.
                    o.append(_head(0x80, len(r.items)))
                    if not r.items:
                        continue
                    stack.append((items, depth, mode, dest, bufs, keys, values))
                    keys, values, bufs = list(r.items), None, []
                    items, depth, mode, dest = iter(keys), r_depth, _OWN, o
                else:
                    stack.append((items, depth, mode, dest, bufs, keys, values))
                    items, depth, mode, dest = iter((r,)), r_depth, _SEQ, o
                break
        else:
            # The frame is done.
            if mode == _OWN:
                encodings = [b"".join(chunks) for chunks in bufs]
                if values is None:
                    # Set elements: sorted, and distinct once encoded.
                    if len(set(encodings)) != len(encodings):
                        a, b = _same_encoding(encodings, keys)
                        raise EncodingError(
                            "duplicate-set-element",
                            f"two set elements encode to the same bytes: {a!r} and {b!r}",
                        )
                    encodings.sort()
                    dest.extend(encodings)
                else:
                    # Map keys: sort the entries, then write them, values in turn.
                    if len(set(encodings)) != len(encodings):
                        a, b = _same_encoding(encodings, keys)
                        raise EncodingError(
                            "duplicate-key",
                            f"two map keys encode to the same bytes: {a!r} and {b!r}",
                        )
                    pairs = sorted(zip(encodings, values, strict=True), key=_first)
                    items, mode, bufs, keys, values = iter(pairs), _PAIRS, [], [], None
                    continue
            if not stack:
                return
            items, depth, mode, dest, bufs, keys, values = stack.pop()


def _replacement(v: object, o: list[Any], depth: int, allow_pickle: bool) -> tuple[Any, int] | None:
    """Encodes the less common kinds of value into ``o``.

    Returns ``None`` when done, or ``(value, depth)`` for a value to encode
    next in its place at that depth (a tag's content, or a subclass instance
    as its base type).
    """
    if isinstance(v, (bytes, bytearray, memoryview)):
        if isinstance(v, bytearray):
            if depth >= MAX_DEPTH:
                raise _too_deep_to_encode()
            o.append(_BYTEARRAY_HEAD)
        size, data = _bytes_like(v)
        o.append(_head(0x40, size))
        o.append(data)
        return None
    t = type(v)
    if t is PythonObject:
        if depth >= MAX_DEPTH:
            raise _too_deep_to_encode()
        o.append(_PICKLE_HEAD)
        o.append(_head(0x40, len(v.data)))
        o.append(v.data)
        return None
    if t is Tagged:
        return _tagged(v, o, depth)
    # Subclasses of the built-in kinds, written as their base type.
    if isinstance(v, int):
        return int.__int__(v), depth
    if isinstance(v, float):
        return float.__float__(v), depth
    if isinstance(v, str):
        return str.__str__(v), depth
    if isinstance(v, list):
        return list.copy(v), depth
    if isinstance(v, tuple):
        return tuple(tuple.__iter__(v)), depth
    if isinstance(v, dict):
        return dict.copy(v), depth
    if isinstance(v, (set, frozenset)):
        return frozenset(v), depth
    if t.__name__ == "ndarray" and t.__module__ == "numpy":
        content = _ndarray_content(v)
        if content is not None:
            return _tagged(Tagged(TAG_NDARRAY, content), o, depth)
    if t.__name__ in ("DataFrame", "Series") and t.__module__.startswith("pandas"):
        ipc = _arrow.to_ipc(v)
        if ipc is not None:
            return _tagged(Tagged(TAG_ARROW, ipc), o, depth)
    if not allow_pickle:
        raise TypeError(
            f"cannot encode a {t.__qualname__}: only None, bool, int, float, str, bytes, list, "
            "tuple, dict and set cross languages"
        )
    return PythonObject(_pickle(v)), depth


def _ndarray_content(array: Any) -> list[Any] | None:
    """``[dtype, shape, data]`` of a numpy array, or ``None`` for a dtype
    that is pickled instead."""
    dtype = array.dtype
    if dtype.name not in NDARRAY_DTYPES:
        return None
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("<"))
    return [dtype.name, [int(n) for n in array.shape], array.tobytes(order="C")]


def _ndarray(content: Any) -> Any:
    """The numpy array a :data:`TAG_NDARRAY` item holds; the item itself
    (a :class:`Tagged`) where numpy is missing or the content is not an
    array's."""
    try:
        import numpy
    except ImportError:
        return Tagged(TAG_NDARRAY, content)
    if not (
        type(content) is list
        and len(content) == 3
        and content[0] in NDARRAY_DTYPES
        and type(content[1]) is list
        and all(type(n) is int and n >= 0 for n in content[1])
        and type(content[2]) is bytes
    ):
        return Tagged(TAG_NDARRAY, content)
    name, shape, data = content
    dtype = numpy.dtype(name).newbyteorder("<")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(data):
        return Tagged(TAG_NDARRAY, content)
    # A bytearray, so the array is writable like the one the step stored.
    return numpy.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


def _arrow_value(content: Any) -> Any:
    """The DataFrame or Series a :data:`TAG_ARROW` item holds; the item
    itself (a :class:`Tagged`) where pandas or nanoarrow is missing or the
    stream is not one mfw converts."""
    value = _arrow.from_ipc(content) if type(content) is bytes else None
    return Tagged(TAG_ARROW, content) if value is None else value


def _tagged(v: Tagged, o: list[Any], depth: int) -> tuple[Any, int] | None:
    """Encodes a :class:`Tagged`: the defined tags as what they stand for."""
    tag, content = v.tag, v.value
    is_bytes = isinstance(content, (bytes, bytearray, memoryview))
    if tag == _TAG_POS_BIGNUM or tag == _TAG_NEG_BIGNUM:
        if not is_bytes:
            raise _bad_tagged(tag, "bytes", content)
        m = int.from_bytes(_bytes_like(content)[1], "big")
        return (m if tag == _TAG_POS_BIGNUM else -1 - m), depth
    if tag == TAG_SET or tag == TAG_TUPLE:
        if not isinstance(content, (list, tuple)):
            raise _bad_tagged(tag, "a list", content)
        if tag == TAG_TUPLE:
            return tuple(content), depth
        # Like a set, but with every element kept (equal encodings are an error).
        if depth + 1 >= MAX_DEPTH:
            raise _too_deep_to_encode()
        o.append(_SET_HEAD)
        return _SetItems(content), depth + 2
    if tag == TAG_PICKLE:
        if not is_bytes:
            raise _bad_tagged(tag, "bytes", content)
        return PythonObject(_bytes_like(content)[1]), depth
    if depth >= MAX_DEPTH:
        raise _too_deep_to_encode()
    o.append(_head(0xC0, tag))
    return content, depth + 1


class _SetItems:
    """The elements of a ``Tagged(TAG_SET, [...])``, to be written as a set."""

    __slots__ = ("items",)

    def __init__(self, items: list[Any] | tuple[Any, ...]) -> None:
        self.items = items


def _bad_tagged(tag: int, expected: str, content: object) -> EncodingError:
    return EncodingError(
        "bad-tag-content",
        f"cannot encode Tagged({tag}, ...): tag {tag} must wrap {expected}, "
        f"not a {type(content).__qualname__}",
    )


def encode(value: object, *, allow_pickle: bool = True) -> bytes:
    """Encodes a value in its one canonical form.

    Map keys and set elements are sorted by their encodings; two keys (or
    elements) that encode the same raise :class:`EncodingError`
    (``"duplicate-key"``, ``"duplicate-set-element"``), as do values nested
    deeper than ``MAX_DEPTH`` (``"too-deep"``) and text with lone surrogates
    (``"invalid-utf8"``). Objects of other types are pickled when
    ``allow_pickle`` is true, else raise ``TypeError``.

    >>> encode({"b": 1, "a": 2}).hex()
    'a2616102616201'
    >>> encode([True, 1, 1.5, None]).hex()
    '84f501fb3ff8000000000000f6'
    >>> encode({3, 1, 2}).hex(), encode((1,)).hex()
    ('d9010283010203', 'da6d6600018101')
    >>> encode(2**64).hex()
    'c249010000000000000000'
    >>> encode(object(), allow_pickle=False)
    Traceback (most recent call last):
      ...
    TypeError: cannot encode a object: only None, bool, int, float, str, bytes, list, \
tuple, dict and set cross languages
    """
    return b"".join(encode_pieces(value, allow_pickle=allow_pickle))


def encode_pieces(value: object, *, allow_pickle: bool = True) -> list[Any]:
    """:func:`encode`'s bytes, not yet joined: the pieces, in order, of
    which large byte strings and array data are the value's own buffers,
    so a large value can be handed on without a second copy of it.

    >>> [bytes(p).hex() for p in encode_pieces([b"ab", 1])]
    ['82', '42', '6162', '01']
    """
    out: list[Any] = []
    _encode_into(value, out, allow_pickle)
    return out


def byte_string_head(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """``(head length, byte count)`` when ``data`` starts with the whole head
    of a byte string, else ``None``. A reader uses it to take a large
    top-level byte string without decoding a copy of it.

    >>> byte_string_head(bytes.fromhex("5a00000003"))
    (5, 3)
    >>> byte_string_head(bytes.fromhex("43")), byte_string_head(bytes.fromhex("83"))
    ((1, 3), None)
    """
    if not data or data[0] >> 5 != 2:
        return None
    info = data[0] & 0x1F
    if info < 24:
        return 1, info
    if info > 27:
        return None
    head = 1 + (1 << (info - 24))
    if len(data) < head:
        return None
    return head, int.from_bytes(data[1:head], "big")


# --------------------------------------------------------------------------
# Rendering: display() and to_json() walk the canonical encoding of a value,
# so maps and sets come out in canonical order, as the Rust ones do.


def _render(blob: bytes, as_json: bool) -> Any:
    """Walks a valid blob iteratively, giving display text or a JSON value."""
    n = len(blob)
    pos = 0
    pieces: list[str] = []
    # Frames: [kind, remaining, items, count]; kind is "list", "tuple", "set",
    # "map" (items are key, value, key, value...) or a tag number.
    stack: list[list[Any]] = []
    value: Any = None
    while True:
        start = pos
        initial = blob[pos]
        major = initial >> 5
        info = initial & 0x1F
        is_text = False
        if major == 7:
            if initial == 0xFB:
                x = _F64_AT(blob, pos + 1)[0]
                pos += 9
                if not as_json:
                    pieces.append(repr(x))
                elif x != x:
                    value = {"$float": "nan"}
                elif x in (float("inf"), float("-inf")):
                    value = {"$float": "inf" if x > 0 else "-inf"}
                else:
                    value = x
            else:
                pos += 1
                value = {0xF4: False, 0xF5: True, 0xF6: None}[initial]
                if not as_json:
                    pieces.append(repr(value))
        else:
            arg, pos = (info, pos + 1) if info < 24 else _long_arg(blob, n, start, major, info)
            kind: Any = None
            if major <= 1:
                value = _json_int(arg if major == 0 else -1 - arg, as_json, pieces)
            elif major <= 3:
                raw = blob[pos : pos + arg]
                pos += arg
                if major == 3:
                    is_text = True
                    value = raw.decode("utf-8")
                    if not as_json:
                        pieces.append(repr(value))
                elif as_json:
                    value = {"$bytes": raw.hex()}
                else:
                    pieces.append(repr(raw))
            elif major == 4:
                kind, count = "list", arg
            elif major == 5:
                kind, count = "map", 2 * arg
            elif arg in (_TAG_POS_BIGNUM, _TAG_NEG_BIGNUM, TAG_PICKLE):
                info = blob[pos] & 0x1F
                size, pos = (info, pos + 1) if info < 24 else _long_arg(blob, n, pos, 2, info)
                raw = blob[pos : pos + size]
                pos += size
                if arg == TAG_PICKLE:
                    if as_json:
                        value = {"$pickle": raw.hex()}
                    else:
                        pieces.append(f"<python object: {size} bytes of pickle>")
                else:
                    m = int.from_bytes(raw, "big")
                    value = _json_int(m if arg == _TAG_POS_BIGNUM else -1 - m, as_json, pieces)
            elif arg in (TAG_SET, TAG_TUPLE):
                info = blob[pos] & 0x1F
                count, pos = (info, pos + 1) if info < 24 else _long_arg(blob, n, pos, 4, info)
                kind = "set" if arg == TAG_SET else "tuple"
            else:
                kind, count = arg, 1
            if kind is not None:
                if count:
                    stack.append([kind, count, [], count])
                    if not as_json:
                        pieces.append(
                            {"list": "[", "map": "{", "set": "{", "tuple": "("}.get(kind)
                            or f"tag({kind}, "
                        )
                    continue
                if as_json:
                    value = {} if kind == "map" else []
                else:
                    pieces.append({"list": "[]", "map": "{}", "set": "set()", "tuple": "()"}[kind])
        # Hand the finished item to its container.
        while stack:
            frame = stack[-1]
            kind = frame[0]
            if as_json:
                frame[2].append((value, is_text) if kind == "map" else value)
            frame[1] -= 1
            if frame[1]:
                if not as_json:
                    odd = (frame[3] - frame[1]) % 2
                    pieces.append(": " if kind == "map" and odd else ", ")
                break
            stack.pop()
            is_text = False
            if as_json:
                items = frame[2]
                if kind == "map":
                    keys = items[0::2]
                    vals = [v for v, _ in items[1::2]]
                    if all(text for _, text in keys):
                        value = dict(
                            sorted(zip([k for k, _ in keys], vals, strict=True), key=_first)
                        )
                    else:
                        value = {"$map": [[k, v] for (k, _), v in zip(keys, vals, strict=True)]}
                elif isinstance(kind, int):
                    value = {"$tag": kind, "value": items[0]}
                else:
                    value = items
            elif kind == "tuple":
                pieces.append(",)" if frame[3] == 1 else ")")
            else:
                pieces.append({"list": "]", "map": "}", "set": "}"}.get(kind, ")"))
        else:
            return value if as_json else "".join(pieces)


def _json_int(i: int, as_json: bool, pieces: list[str]) -> Any:
    if not as_json:
        pieces.append(str(i))
        return i
    return i if _I64_MIN <= i <= _U64_MAX else {"$int": str(i)}


def display(value: object) -> str:
    """The text ``mfw dump`` shows for a value: Python ``repr`` of what a step sees.

    It renders the value as stored, that is ``encode(value)``: maps and sets
    in canonical order (by encoding), pickled objects as
    ``<python object: N bytes of pickle>``, other tags as ``tag(N, value)``.
    Scalars use Python's ``repr``, which the Rust ``Display`` imitates (exactly
    for floats, bytes and text up to U+00FF; for other characters Python's
    ``str.isprintable`` is exact where Rust's is an approximation).

    >>> display({"b": {3, 1, 2}, "a": (1,), "c": b"\\x00ab", "d": 1e300, "e": set()})
    "{'a': (1,), 'b': {1, 2, 3}, 'c': b'\\\\x00ab', 'd': 1e+300, 'e': set()}"
    >>> display([float("nan"), -0.0, Tagged(1, 17)])
    '[nan, -0.0, tag(1, 17)]'
    """
    return _render(encode(value), as_json=False)


def to_json(value: object) -> object:
    """A JSON-compatible rendering of a value, as ``mfw dump --json`` gives.

    ``None``, bools, text and numbers are native (ints in the i64 or u64
    range, finite floats); tuples and sets become lists (in canonical order);
    maps whose keys are all text become dicts (keys in code point order, as
    serde_json orders them). What JSON cannot hold is a one-key object:
    ``{"$int": "digits"}``, ``{"$float": "nan" | "inf" | "-inf"}``,
    ``{"$bytes": "hex"}``, ``{"$pickle": "hex"}``, ``{"$map": [[k, v], ...]}``
    for other maps, ``{"$tag": n, "value": v}`` for other tags.

    >>> to_json({"data": b"\\x00\\xff", "pair": (1, float("nan"))})
    {'data': {'$bytes': '00ff'}, 'pair': [1, {'$float': 'nan'}]}
    >>> to_json({1: "one", "k": 2**64})
    {'$map': [[1, 'one'], ['k', {'$int': '18446744073709551616'}]]}
    """
    return _render(encode(value), as_json=True)
