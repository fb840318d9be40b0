"""Read runs back, as with Metaflow's client: in a notebook or script, or
inside a step (through the host, which records what the step read).

    >>> from mfw import Flow                                  # doctest: +SKIP
    >>> Flow("HelloFlow").latest_run["end"].task.data.x      # doctest: +SKIP
    2

The datastore is the one `mfw run` writes to: `MFW_DATASTORE`, else the
config file's `datastore`, else `.mfw` in the working directory, unless
`set_datastore` says otherwise: a directory, or `s3://bucket/prefix` (read
with the usual AWS environment variables).
"""

from __future__ import annotations

import datetime
import functools
import io
import json
import os
import re
import sys
import tomllib
import zlib
from collections.abc import Iterator
from typing import Any

from . import _encoding
from ._alias import metaflow_as_mfw
from ._errors import MfwError

_datastore: str | None = None

# The namespace runs are read in: a tag (`user:NAME`), None for every run,
# or _DEFAULT for `user:` the current user, as in Metaflow.
_DEFAULT = object()
_namespace: Any = _DEFAULT


def _username() -> str:
    """Who runs flows here, read as the `mfw` binary reads it."""
    for var in ("MFW_USER", "LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return "unknown"


def namespace(ns: str | None) -> str | None:
    """Reads runs tagged `ns` from now on (`user:alice`, a project's tag),
    or every run with ``None``; returns it.

    >>> namespace(None) is None
    True
    >>> namespace("user:alice")
    'user:alice'
    >>> _ = default_namespace()
    """
    global _namespace
    _namespace = ns
    return ns


def get_namespace() -> str | None:
    """The namespace runs are read in (``None``: every run). By default
    `user:` whoever runs this; in a step, whoever started the run (as in
    Metaflow)."""
    if _namespace is not _DEFAULT:
        return _namespace
    if _in_step():
        # Asked of the host, which records it with the task's other reads:
        # the runs a step sees depend on who started its run.
        return _reader().default_namespace()
    return f"user:{_username()}"


def default_namespace() -> str:
    """Back to the default namespace, `user:` whoever runs this; returns it."""
    global _namespace
    _namespace = _DEFAULT
    return str(get_namespace())


def get_metadata() -> str:
    """Where runs are read from, as Metaflow names it: `local@DIR` or
    `s3@s3://bucket/prefix` (mfw keeps metadata in the datastore)."""
    if _in_step():
        return "mfw@the run's datastore"
    location = get_datastore()
    return f"s3@{location}" if location.startswith("s3://") else f"local@{location}"


def metadata(ms: str) -> str:
    """Reads runs from `ms` from now on: what `get_metadata` gives, a
    directory or an s3:// URL; returns `get_metadata()`."""
    location = ms.split("@", 1)[1] if ms.startswith(("local@", "s3@")) else ms
    set_datastore(location)
    return get_metadata()


def default_metadata() -> str:
    """Back to reading runs from the default place (`MFW_DATASTORE`, the
    config file's, else `.mfw` here), forgetting `metadata` and
    `set_datastore`; returns `get_metadata()`.

    >>> _ = metadata("/tmp/elsewhere")
    >>> default_metadata() == metadata(get_datastore())
    True
    """
    global _datastore
    _datastore = None
    return get_metadata()


def set_datastore(location: str) -> None:
    """Reads runs from `location` (a directory, file:// URL or s3:// URL)
    from now on."""
    global _datastore
    _datastore = location


def _config_datastore() -> str | None:
    """The `datastore` of mfw's config file, which `mfw run` writes to when
    neither `--datastore` nor `MFW_DATASTORE` says otherwise: the file
    `MFW_CONFIG` names, else `$XDG_CONFIG_HOME/mfw/config.toml`, else
    `~/.config/mfw/config.toml`."""
    path = os.environ.get("MFW_CONFIG")
    if not path:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        path = os.path.join(base, "mfw", "config.toml")
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise MfwError(f"{path} is not a readable mfw config: {e}") from None
    # Every read of the datastore asks where it is: parse the file only
    # when it changed, not once per record.
    key = (path, stat.st_mtime_ns, stat.st_size)
    if _config_cache[0] != key:
        try:
            with open(path, "rb") as f:
                config = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise MfwError(f"{path} is not a readable mfw config: {e}") from None
        location = config.get("datastore")
        if location is not None and not isinstance(location, str):
            raise MfwError(f'{path}: `datastore` must be text, such as "s3://bucket/prefix"')
        _config_cache[:] = [key, location]
    return _config_cache[1]


# The config file last read, as (path, mtime, size), and its `datastore`.
_config_cache: list[Any] = [None, None]


def get_datastore() -> str:
    """Where runs are read from: a directory or an s3:// URL. As for `mfw`:
    `set_datastore`'s, else `MFW_DATASTORE`, else the config file's, else
    `.mfw` in the working directory."""
    location = (
        _datastore
        or os.environ.get("MFW_DATASTORE")
        or _config_datastore()
        or os.path.join(os.getcwd(), ".mfw")
    )
    if location.startswith("file://"):
        location = location[len("file://") :]
    elif "://" in location and not location.startswith("s3://"):
        raise MfwError(f"the client reads directories and s3:// datastores, not {location!r}")
    return location


class _Local:
    """A datastore directory."""

    def __init__(self, root: str):
        self.root = root

    def read(self, path: str) -> bytes | None:
        try:
            with open(os.path.join(self.root, path), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read_range(self, path: str, start: int, end: int) -> bytes | None:
        """Bytes `start` to `end` (excluded) of the file at `path`, or None."""
        try:
            with open(os.path.join(self.root, path), "rb") as f:
                f.seek(start)
                return f.read(end - start)
        except FileNotFoundError:
            return None

    def dirs(self, path: str) -> list[str]:
        full = os.path.join(self.root, path)
        if not os.path.isdir(full):
            return []
        return [d for d in os.listdir(full) if os.path.isdir(os.path.join(full, d))]

    def files(self, path: str) -> list[str]:
        full = os.path.join(self.root, path)
        if not os.path.isdir(full):
            return []
        return [f for f in os.listdir(full) if os.path.isfile(os.path.join(full, f))]


def _store() -> Any:
    location = get_datastore()
    if location.startswith("s3://"):
        from ._s3 import S3

        return S3(location)
    return _Local(location)


def _read_json(path: str, what: str, missing_ok: bool = False) -> Any:
    """The JSON object at `path`; None when it is missing and `missing_ok`."""
    data = _store().read(path)
    if data is None:
        if missing_ok:
            return None
        raise MfwError(f"{what} not found in datastore {get_datastore()}")
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise MfwError(f"{what} in datastore {get_datastore()} is damaged: {e}") from None


def _packs(base: str, files: list[str]) -> Iterator[list[dict]]:
    """The task records of each pack in the step folder `base`: a run keeps
    the tasks it took from the cache, or cloned on resume, several to a
    `.pack` object (docs/datastore.md)."""
    for name in sorted(f for f in files if f.endswith(".pack")):
        yield _pack(get_datastore(), f"{base}/{name}")


@functools.lru_cache(maxsize=32)
def _pack(location: str, path: str) -> list[dict]:
    """One pack's records, read once: a pack is named by the tasks it holds
    and never changes, and listing a step of a thousand cached tasks reads
    it for each of them. (`location` keys the cache by datastore.)"""
    pack = _read_json(path, f"task pack {path}")
    if pack.get("format") != "mfw task pack v1":
        raise MfwError(
            f"task pack {path} in datastore {location} has format "
            f"{pack.get('format')!r}: this client reads 'mfw task pack v1'; upgrade mfw"
        )
    return pack.get("tasks", [])


def _blake3() -> Any:
    try:
        from blake3 import blake3
    except ImportError:
        raise MfwError(
            "reading a run needs the blake3 package, which checks every value against its "
            "name: pip install blake3"
        ) from None
    return blake3


def _blob(sha: str) -> bytes:
    """The bytes of blob `sha`, checked against their name: a damaged blob
    is an error naming it, never a wrong value. A large value is stored as
    chunks (docs/datastore.md), each checked, then the whole."""
    blake3, store = _blake3(), _store()
    data = store.read(f"blobs/{sha[:2]}/{sha}")
    if data is not None:
        _check_whole(sha, blake3(data))
        return data
    chunks = _manifest(store, sha)
    # One buffer of the final size, written in place: getvalue() hands it
    # over without a second copy of the value.
    out = io.BytesIO()
    total = sum(chunk[1] for chunk in chunks)
    if total:
        out.seek(total - 1)
        out.write(b"\0")
        out.seek(0)
    for piece in _chunks(store, sha, chunks, blake3):
        out.write(piece)
    return out.getvalue()


def _check_whole(sha: str, hasher: Any) -> None:
    actual = hasher.hexdigest()
    if actual != sha:
        raise MfwError(
            f"blob {sha} in datastore {get_datastore()} is corrupt: its content hashes to "
            f"{actual}; `mfw doctor` lists every damaged object"
        )


# A chunk of a large value: its hash and size; in an object store, the
# pack holding its stored bytes and where in the pack they start; and, for
# a chunk stored as its difference from an earlier value, that difference
# (docs/datastore.md).
_Chunk = tuple[str, int, str | None, int, "_Delta | None"]
# A difference: the earlier value, where in it the chunk's bytes are
# compared, the stored bytes' hash and size, and how many differences
# deep it is.
_Delta = tuple[str, int, str, int, int]

# Adjacent chunks of one pack are read together, up to this many bytes.
_SPAN = 4 << 20

# A chunk is at most this many differences away from stored bytes: what
# mfw writes (chunked.rs's MAX_DELTA_DEPTH), and so a damaged store that
# loops cannot recurse without end.
_MAX_DELTA_DEPTH = 4


def _manifest(store: Any, sha: str) -> list[_Chunk]:
    """The chunks, in order, of the chunked value `sha`."""
    chunks = _manifest_or_none(store, sha)
    if chunks is None:
        raise MfwError(f"blob {sha} is missing from datastore {get_datastore()}")
    return chunks


def _manifest_or_none(store: Any, sha: str) -> list[_Chunk] | None:
    """The chunks of the chunked value `sha`; None when it has no manifest."""
    manifest = store.read(f"chunked/{sha[:2]}/{sha}.json")
    if manifest is None:
        return None
    try:
        chunks = json.loads(manifest)["chunks"]
        return [
            (
                c["hash"],
                int(c["size"]),
                c["pack"]["hash"] if "pack" in c else None,
                int(c["pack"]["offset"]) if "pack" in c else 0,
                _delta(c["delta"]) if "delta" in c else None,
            )
            for c in chunks
        ]
    except (ValueError, KeyError, TypeError) as e:
        raise MfwError(
            f"blob {sha} in datastore {get_datastore()} cannot be read: its manifest is "
            f"damaged ({e})"
        ) from None


def _delta(d: dict) -> _Delta:
    return (d["base"], int(d["offset"]), d["hash"], int(d["size"]), int(d["depth"]))


def _stored_size(chunk: _Chunk) -> int:
    """How many bytes hold `chunk` in its blob or pack."""
    delta = chunk[4]
    return delta[3] if delta is not None else chunk[1]


def _spans(chunks: list[_Chunk]) -> Iterator[list[_Chunk]]:
    """The chunks in the groups one read fetches: a chunk stored as its own
    blob, or chunks adjacent in one pack."""
    span: list[_Chunk] = []
    for chunk in chunks:
        if span:
            first, last = span[0], span[-1]
            same_pack = chunk[2] is not None and chunk[2] == last[2]
            adjacent = same_pack and chunk[3] == last[3] + _stored_size(last)
            if not adjacent or chunk[3] + _stored_size(chunk) > first[3] + _SPAN:
                yield span
                span = []
        span.append(chunk)
        if chunk[2] is None:
            yield span
            span = []
    if span:
        yield span


def _span_pieces(store: Any, span: list[_Chunk]) -> list[bytes | None]:
    """The stored bytes of each chunk of `span` (None where there are none):
    the chunk's, or its difference's."""
    first, last = span[0], span[-1]
    if first[2] is None:
        blob = first[4][2] if first[4] is not None else first[0]
        return [store.read(f"blobs/{blob[:2]}/{blob}")]
    pack, start = first[2], first[3]
    data = store.read_range(f"blobs/{pack[:2]}/{pack}", start, last[3] + _stored_size(last))
    if data is None:
        return [None] * len(span)
    view = memoryview(data)
    return [bytes(view[c[3] - start : c[3] - start + _stored_size(c)]) for c in span]


class _Unreadable(Exception):
    """Why a chunk cannot be read (its value's error names it)."""


class _Chunks:
    """Reads one value's chunks, applying differences: keeps the manifests
    of the earlier values read and their last few chunks, since neighbouring
    chunks of a value are differences from the same earlier chunks."""

    _KEPT = 4

    def __init__(self, store: Any, blake3: Any):
        self._store, self._blake3 = store, blake3
        self._manifests: dict[str, list[_Chunk] | None] = {}
        self._kept: dict[str, bytes] = {}

    def bytes_of(self, chunk: _Chunk, stored: bytes | None, depth: int) -> bytes:
        """Chunk `chunk`'s bytes from what stores it, checked against its
        hash: a difference is checked, then applied to the earlier value's
        bytes. Raises `_Unreadable` saying what is wrong."""
        if chunk[0] in self._kept:
            return self._kept[chunk[0]]
        if stored is None:
            raise _Unreadable("missing")
        blake3, delta = self._blake3, chunk[4]
        if delta is not None:
            base, offset, stored_hash, _, _ = delta
            if blake3(stored).hexdigest() != stored_hash:
                raise _Unreadable("damaged (its difference from an earlier value)")
            if depth >= _MAX_DELTA_DEPTH:
                raise _Unreadable(f"more than {_MAX_DELTA_DEPTH} differences from stored bytes")
            size = chunk[1]
            inflate = zlib.decompressobj()
            try:
                diff = inflate.decompress(stored, size + 1)
            except zlib.error:
                raise _Unreadable("damaged (its difference does not inflate)") from None
            if len(diff) != size or inflate.unconsumed_tail or not inflate.eof:
                raise _Unreadable("damaged (its difference is not its size)")
            earlier = self._range(base, offset, size, depth + 1)
            earlier = earlier + bytes(size - len(earlier))
            stored = (int.from_bytes(diff, "little") ^ int.from_bytes(earlier, "little")).to_bytes(
                size, "little"
            )
        if len(stored) != chunk[1] or blake3(stored).hexdigest() != chunk[0]:
            raise _Unreadable("damaged")
        if len(self._kept) >= self._KEPT:
            del self._kept[next(iter(self._kept))]
        self._kept[chunk[0]] = stored
        return stored

    def _range(self, sha: str, start: int, size: int, depth: int) -> bytes:
        """Up to `size` bytes of the value `sha` from `start`, each chunk
        they come from checked (fewer at the value's end)."""
        if sha not in self._manifests:
            try:
                self._manifests[sha] = _manifest_or_none(self._store, sha)
            except MfwError as e:
                raise _Unreadable(f"based on value {sha}, which cannot be read ({e})") from None
        chunks = self._manifests[sha]
        if chunks is None:
            data = self._store.read(f"blobs/{sha[:2]}/{sha}")
            if data is None:
                raise _Unreadable(f"based on value {sha}, which is missing")
            if self._blake3(data).hexdigest() != sha:
                raise _Unreadable(f"based on value {sha}, which is damaged")
            return data[start : start + size]
        out = bytearray()
        at = 0
        for index, chunk in enumerate(chunks):
            end = at + chunk[1]
            if end > start and at < start + size:
                try:
                    stored = (
                        None if chunk[0] in self._kept else _span_pieces(self._store, [chunk])[0]
                    )
                    piece = self.bytes_of(chunk, stored, depth)
                except _Unreadable as e:
                    raise _Unreadable(
                        f"based on value {sha}, whose chunk {index} ({chunk[0]}) is {e}"
                    ) from None
                out += piece[max(start - at, 0) : start + size - at]
            at = end
            if at >= start + size:
                break
        return bytes(out)


def _chunks(store: Any, sha: str, chunks: list[_Chunk], blake3: Any) -> Iterator[bytes]:
    """A chunked value's chunks in order, each checked; the whole is checked
    before the last one is given."""
    whole = blake3()
    index = 0
    reading = _Chunks(store, blake3)
    for span in _spans(chunks):
        for chunk, stored in zip(span, _span_pieces(store, span), strict=True):
            try:
                piece = reading.bytes_of(chunk, stored, 0)
            except _Unreadable as e:
                raise MfwError(
                    f"blob {sha} in datastore {get_datastore()} cannot be read: its chunk "
                    f"{index} of {len(chunks)} ({chunk[0]}) is {e}; `mfw doctor` lists every "
                    "damaged object"
                ) from None
            whole.update(piece)
            if index == len(chunks) - 1:
                _check_whole(sha, whole)
            index += 1
            yield piece


def _pieces(sha: str) -> tuple[int, Iterator[bytes]]:
    """Blob `sha`'s size and its bytes a piece at a time (a chunked value's
    chunks, or the blob whole), each checked as it is read."""
    blake3, store = _blake3(), _store()
    data = store.read(f"blobs/{sha[:2]}/{sha}")
    if data is not None:
        _check_whole(sha, blake3(data))
        return len(data), iter((data,))
    chunks = _manifest(store, sha)
    return sum(chunk[1] for chunk in chunks), _chunks(store, sha, chunks, blake3)


class _ByteStringFile(io.RawIOBase):
    """The bytes of an artifact that is one byte string (a `bytes` or a
    `bytearray`), read from the datastore a chunk at a time."""

    def __init__(self, pathspec: str, sha: str):
        size, self._pieces = _pieces(sha)
        self._piece, self._at = b"", 0
        # The head: a bytearray's tag, then the byte string's length.
        first = bytearray()
        while len(first) < 9 + len(_BYTEARRAY_TAG):
            piece = next(self._pieces, None)
            if piece is None:
                break
            first += piece
        skip = len(_BYTEARRAY_TAG) if first.startswith(_BYTEARRAY_TAG) else 0
        found = _encoding.byte_string_head(first[skip:])
        if found is None or skip + found[0] + found[1] != size:
            major = first[0] >> 5 if first else 7
            what = (
                ("an int", "an int", "bytes", "a str", "a list", "a dict")[major]
                if major < 6
                else (
                    "a tagged value (a tuple, set, array, data frame or object)"
                    if major == 6
                    else "a float, bool or None"
                )
            )
            raise MfwError(
                f"artifact {pathspec} is {what}, not bytes: only a bytes or bytearray value "
                "opens as a file; read it with .data"
            )
        self._piece, self._at = bytes(first), skip + found[0]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._at >= len(self._piece):
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._piece, self._at = piece, 0
        n = min(len(buffer), len(self._piece) - self._at)
        buffer[:n] = self._piece[self._at : self._at + n]
        self._at += n
        return n


_BYTEARRAY_TAG = bytes.fromhex("da") + _encoding.TAG_BYTEARRAY.to_bytes(4, "big")


def _time(ms: int | None) -> datetime.datetime | None:
    if ms is None:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


def _run_key(run_id: str) -> tuple[int, str]:
    return (len(run_id), run_id)


def _in_step() -> bool:
    """Whether this is a sandboxed step (componentize-py's bindings)."""
    return "wit_world" in sys.modules


class _Files:
    """Runs as the datastore's layout holds them (docs/datastore.md): what
    a notebook or script reads. Records are turned into the plain form
    both readers give (the keys of the `runs` interface's records)."""

    def flow_names(self) -> list[str]:
        return sorted(_store().dirs("flows"))

    def run_ids(self, flow: str) -> list[str]:
        ids = _store().dirs(f"flows/{flow}/runs")
        if not ids:
            raise MfwError(f"flow {flow!r} has no runs in datastore {get_datastore()}")
        return sorted(ids, key=_run_key, reverse=True)

    def run(self, flow: str, run_id: str) -> dict:
        base = f"flows/{flow}/runs/{run_id}"
        record = _read_json(f"{base}/run.json", f"run {flow}/{run_id}")
        changed = _store().read(f"{base}/tags.json")
        tags = json.loads(changed).get("tags", []) if changed else record.get("tags", [])
        return {
            "status": record["status"],
            "started_ms": record.get("started_at"),
            "finished_ms": record.get("finished_at"),
            "user_tags": sorted(tags),
            "system_tags": sorted(record.get("system_tags", [])),
            "error": record.get("error"),
            "origin_run_id": record.get("origin_run_id"),
            "steps": [s["name"] for s in (record.get("graph") or {}).get("steps", [])],
            "parameters": dict(record.get("parameters", {})),
        }

    def steps(self, flow: str, run_id: str) -> set[str]:
        return set(_store().dirs(f"flows/{flow}/runs/{run_id}/tasks"))

    def task_ids(self, flow: str, run_id: str, step: str) -> list[str]:
        base = f"flows/{flow}/runs/{run_id}/tasks/{step}"
        files = _store().files(base)
        ids = {f[: -len(".json")] for f in files if f.endswith(".json")}
        for pack in _packs(base, files):
            ids.update(task["task_id"] for task in pack)
        return sorted(ids, key=_task_key)

    def task(self, flow: str, run_id: str, step: str, task_id: str) -> dict:
        base = f"flows/{flow}/runs/{run_id}/tasks/{step}"
        what = f"task {flow}/{run_id}/{step}/{task_id}"
        record = _read_json(f"{base}/{task_id}.json", what, missing_ok=True)
        if record is None:
            packed = (t for p in _packs(base, _store().files(base)) for t in p)
            record = next((t for t in packed if t.get("task_id") == task_id), None)
        if record is None:
            raise MfwError(f"{what} not found in datastore {get_datastore()}")
        attempts = record.get("attempts", [])
        last = attempts[-1] if attempts else {}
        frames = record.get("foreach", [])
        return {
            "status": record["status"],
            "artifacts": dict(record.get("artifacts", {})),
            "objects": dict(record.get("objects", {})),
            "foreach_index": frames[-1]["index"] if frames else None,
            "cloned_from": record.get("cloned_from"),
            "cached": bool(record.get("cached", False)),
            "stdout": last.get("stdout"),
            "stderr": last.get("stderr"),
            "exception": (last.get("error") or {}).get("message"),
        }

    def blob(self, sha: str) -> bytes:
        return _blob(sha)


class _Host:
    """Runs as a sandboxed step reads them: through the host's `runs`
    interface, which records each answer with the task (so the cache and
    replay stay sound). One per task; it keeps each answer it was given,
    so the task sees one consistent picture."""

    def __init__(self) -> None:
        from wit_world.imports import runs  # type: ignore[import-not-found]

        self._runs = runs
        self._answers: dict[tuple, Any] = {}

    def _ask(self, key: tuple, call: Any) -> Any:
        if key not in self._answers:
            from componentize_py_types import Err  # type: ignore[import-not-found]

            try:
                self._answers[key] = call()
            except Err as e:
                raise MfwError(str(getattr(e.value, "value", e.value))) from None
        return self._answers[key]

    def flow_names(self) -> list[str]:
        raise MfwError(
            "Metaflow().flows lists every flow of the datastore, which a step is not "
            "shown: name the flow, as in Flow('TrainFlow')"
        )

    def default_namespace(self) -> str:
        return str(self._ask(("namespace",), lambda: self._runs.default_namespace()))

    def run_ids(self, flow: str) -> list[str]:
        return list(self._ask(("run-ids", flow), lambda: self._runs.run_ids(flow)))

    def run(self, flow: str, run_id: str) -> dict:
        r = self._ask(("run", flow, run_id), lambda: self._runs.run(flow, run_id))
        return {
            "status": r.status,
            "started_ms": r.started_ms,
            "finished_ms": r.finished_ms,
            "user_tags": list(r.user_tags),
            "system_tags": list(r.system_tags),
            "error": r.error,
            "origin_run_id": r.origin_run_id,
            "steps": list(r.steps),
            "parameters": dict(r.parameters),
        }

    def _tasks(self, flow: str, run_id: str, step: str) -> list[Any]:
        key = ("tasks", flow, run_id, step)
        return self._ask(key, lambda: self._runs.tasks(flow, run_id, step))

    def steps(self, flow: str, run_id: str) -> set[str]:
        graph = self.run(flow, run_id)["steps"]
        return {step for step in graph if self._tasks(flow, run_id, step)}

    def task_ids(self, flow: str, run_id: str, step: str) -> list[str]:
        return [t.id for t in self._tasks(flow, run_id, step)]

    def task(self, flow: str, run_id: str, step: str, task_id: str) -> dict:
        for t in self._tasks(flow, run_id, step):
            if t.id == task_id:
                return {
                    "status": t.status,
                    "artifacts": dict(t.artifacts),
                    "objects": {},
                    "foreach_index": t.foreach_index,
                    "cloned_from": t.cloned_from,
                    "cached": t.cached,
                    "stdout": t.stdout,
                    "stderr": t.stderr,
                    "exception": t.exception,
                }
        raise MfwError(f"task {flow}/{run_id}/{step}/{task_id} not found")

    def blob(self, sha: str) -> bytes:
        return bytes(self._ask(("value", sha), lambda: self._runs.value_by_hash(sha)))


_host: _Host | None = None


def _reader() -> Any:
    """Where runs are read: the host inside a step, else the datastore."""
    global _host
    if not _in_step():
        return _Files()
    if _host is None:
        _host = _Host()
    return _host


class Metaflow:
    """Every flow with a run in the current namespace: Metaflow's entry
    point to the client.

    ```python
    from mfw import Metaflow, namespace
    namespace(None)
    print([flow.id for flow in Metaflow().flows])
    ```
    """

    def __init__(self, _current_metadata: str | None = None):
        # One datastore: get_datastore() says which (Metaflow's metadata).
        del _current_metadata

    @property
    def flows(self) -> list[Flow]:
        """The flows, by name."""
        return list(self)

    def __iter__(self) -> Iterator[Flow]:
        for name in _reader().flow_names():
            try:
                flow = Flow(name)
            except MfwError:
                continue  # a directory without runs is not a flow
            if flow.latest_run is not None:
                yield flow

    def __getitem__(self, name: str) -> Flow:
        return Flow(name)

    def __repr__(self) -> str:
        return "Metaflow()"


class Flow:
    """Every run of one flow.

    Inside a step, reads go through the host, which records what the task
    read: the cache reuses the task only while those runs read the same,
    and `mfw replay` gives it what it read then.
    """

    def __init__(self, name: str):
        self.id = name
        self.pathspec = name
        self._ids = _reader().run_ids(name)

    def _runs(self, *tags: str) -> Iterator[Run]:
        """The runs in the current namespace with every tag in `tags`,
        newest first, each read only when it is reached."""
        for run_id in self._ids:
            try:
                run = Run(f"{self.id}/{run_id}", _any_namespace=True)
            except MfwError:
                continue  # a directory without a run record is not a run
            if run._in_namespace() and all(t in run.tags for t in tags):
                yield run

    def runs(self, *tags: str) -> list[Run]:
        """The runs in the current namespace that have every tag in `tags`,
        newest first."""
        return list(self._runs(*tags))

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str) -> Run:
        return Run(f"{self.id}/{run_id}")

    @property
    def latest_run(self) -> Run | None:
        """The newest run."""
        return next(self._runs(), None)

    @property
    def latest_successful_run(self) -> Run | None:
        """The newest run that succeeded."""
        return next((r for r in self._runs() if r.successful), None)

    def __repr__(self) -> str:
        return f"Flow('{self.id}')"


class Run:
    """One run: its steps, status and parameters."""

    def __init__(self, pathspec: str, _any_namespace: bool = False):
        parts = pathspec.strip("/").split("/")
        if len(parts) != 2:
            raise MfwError(f"{pathspec!r} is not a run pathspec (Flow/run_id)")
        self.flow_name, self.id = parts
        self.pathspec = pathspec
        self._record = _reader().run(self.flow_name, self.id)
        self._user_tags: list[str] = list(self._record["user_tags"])
        if not _any_namespace and not self._in_namespace():
            raise MfwError(
                f"run {pathspec} is not in namespace {get_namespace()!r}: call namespace(None) "
                "to read every run, or namespace('user:NAME') for another user's"
            )

    def _in_namespace(self) -> bool:
        ns = get_namespace()
        # Runs recorded before mfw tagged runs belong to every namespace.
        return ns is None or not self.system_tags or ns in self.tags

    @property
    def user_tags(self) -> frozenset[str]:
        """The tags users gave: `mfw run --tag`, then `mfw tag add`/`remove`."""
        return frozenset(self._user_tags)

    @property
    def system_tags(self) -> frozenset[str]:
        """The tags mfw gave the run: `user:NAME`, `runtime:mfw`, ..."""
        return frozenset(self._record["system_tags"])

    @property
    def tags(self) -> frozenset[str]:
        """Every tag of the run, the user's and mfw's."""
        return self.user_tags | self.system_tags

    def add_tag(self, tag: str) -> None:
        """Tags the run (as `mfw tag add`)."""
        self.add_tags([tag])

    def add_tags(self, tags: list[str]) -> None:
        self._write_tags(self.user_tags | set(tags))

    def remove_tag(self, tag: str) -> None:
        """Untags the run (its system tags stay)."""
        self.remove_tags([tag])

    def remove_tags(self, tags: list[str]) -> None:
        self._write_tags(self.user_tags - set(tags))

    def replace_tag(self, old: str, new: str) -> None:
        self._write_tags((self.user_tags - {old}) | {new})

    def _write_tags(self, tags: Any) -> None:
        if _in_step():
            raise MfwError(
                f"a step reads other runs but does not change them: tag run {self.pathspec} "
                f"with `mfw tag add {self.pathspec} TAG`, or from a notebook"
            )
        for tag in tags:
            if not isinstance(tag, str) or not tag.strip() or len(tag) > 500:
                raise MfwError(f"{tag!r} is not a tag: give 1 to 500 characters of text")
        location = get_datastore()
        if location.startswith("s3://"):
            raise MfwError(
                f"the client reads s3:// datastores; tag runs there with `mfw --datastore "
                f"{location} tag add {self.pathspec} TAG`"
            )
        path = os.path.join(location, "flows", self.flow_name, "runs", self.id, "tags.json")
        staging = f"{path}.{os.getpid()}.tmp"
        with open(staging, "w", encoding="utf-8") as f:
            json.dump({"tags": sorted(tags)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(staging, path)
        self._user_tags = sorted(tags)

    @property
    def status(self) -> str:
        """running, succeeded, failed or interrupted."""
        return self._record["status"]

    @property
    def successful(self) -> bool:
        return self.status == "succeeded"

    @property
    def finished(self) -> bool:
        return self.status != "running"

    @property
    def created_at(self) -> datetime.datetime | None:
        return _time(self._record["started_ms"])

    @property
    def finished_at(self) -> datetime.datetime | None:
        return _time(self._record["finished_ms"])

    @property
    def error(self) -> str | None:
        return self._record["error"]

    @property
    def parameters(self) -> dict[str, Any]:
        """The run's parameter values."""
        return {
            name: _encoding.decode(_reader().blob(sha))
            for name, sha in self._record["parameters"].items()
        }

    def steps(self) -> list[Step]:
        """Steps that ran, in the graph's order."""
        present = _reader().steps(self.flow_name, self.id)
        order = self._record["steps"]
        names = [s for s in order if s in present] + sorted(present - set(order))
        return [Step(f"{self.pathspec}/{name}") for name in names]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, step: str) -> Step:
        if not _reader().task_ids(self.flow_name, self.id, step):
            raise KeyError(f"run {self.pathspec} has no step {step!r}")
        return Step(f"{self.pathspec}/{step}")

    @property
    def end_task(self) -> Task | None:
        try:
            return self["end"].task
        except KeyError:
            return None

    @property
    def data(self) -> Any:
        """The artifacts of the end task (as Metaflow's `run.data`)."""
        task = self.end_task
        if task is None:
            raise MfwError(f"run {self.pathspec} has no end task")
        return task.data

    def __repr__(self) -> str:
        return f"Run('{self.pathspec}')"


def _task_key(task_id: str) -> list[int]:
    # `2.1` is item 1 of a foreach in item 2 of another; `0_3` is the fourth
    # task of a step that loops (a recursive switch).
    return [int(p) if p.isdigit() else -1 for p in re.split(r"[._]", task_id)]


class Step:
    """The tasks of one step of a run."""

    def __init__(self, pathspec: str):
        self.pathspec = pathspec
        self._flow, self._run, self.id = pathspec.split("/")

    def tasks(self) -> list[Task]:
        """Every task, in foreach order."""
        ids = _reader().task_ids(self._flow, self._run, self.id)
        return [Task(f"{self.pathspec}/{task_id}") for task_id in ids]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __getitem__(self, task_id: str) -> Task:
        return Task(f"{self.pathspec}/{task_id}")

    @property
    def task(self) -> Task:
        """The first task (the only one outside a foreach)."""
        tasks = self.tasks()
        if not tasks:
            raise MfwError(f"step {self.pathspec} has no tasks")
        return tasks[0]

    def __repr__(self) -> str:
        return f"Step('{self.pathspec}')"


class DataArtifact:
    """One artifact of a task."""

    def __init__(self, pathspec: str, sha: str):
        self.pathspec = pathspec
        self.sha = sha

    @property
    def data(self) -> Any:
        """The value, decoded. An object of a class the flow's code defines
        needs that code importable here, as in Metaflow."""
        blob = _reader().blob(self.sha)
        try:
            try:
                return _encoding.decode(blob)
            except ModuleNotFoundError as e:
                if e.name != "metaflow":
                    raise
            # The flow's code imports `metaflow`, which this Python lacks:
            # mfw's objects stand in, as in the component.
            with metaflow_as_mfw():
                return _encoding.decode(blob)
        except ModuleNotFoundError as e:
            raise MfwError(
                f"artifact {self.pathspec} is an object of a class defined in module "
                f"{e.name!r} (the flow's code), which this Python cannot import: run it "
                "in the flow's directory, or add that directory to sys.path "
                "(sys.path.insert(0, '/path/to/flow')), then read it again"
            ) from None

    def open(self) -> io.BufferedReader:
        """The artifact's bytes as a read-only binary file, for a `bytes` or
        `bytearray` value too large to hold twice: the datastore is read a
        chunk at a time, each chunk checked against its hash, and the whole
        value before the end of the file. A value of any other kind is read
        with `.data`.

        >>> with Flow("BigFlow").latest_run["start"].task["blob"].open() as f:  # doctest: +SKIP
        ...     header = f.read(16)
        """
        if _in_step():
            # Inside a step the host hands a value over whole.
            value = self.data
            if not isinstance(value, (bytes, bytearray)):
                raise MfwError(
                    f"artifact {self.pathspec} is a {type(value).__name__}, not bytes: only a "
                    "bytes or bytearray value opens as a file; read it with .data"
                )
            return io.BufferedReader(io.BytesIO(value))
        return io.BufferedReader(_ByteStringFile(self.pathspec, self.sha), 1 << 20)

    def __repr__(self) -> str:
        return f"DataArtifact('{self.pathspec}')"


class _Data:
    """A task's artifacts as attributes: `task.data.x`."""

    def __init__(self, task: Task):
        self._task = task
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            try:
                self._cache[name] = self._task[name].data
            except KeyError:
                raise AttributeError(
                    f"task {self._task.pathspec} has no artifact {name!r}"
                ) from None
        return self._cache[name]

    def __dir__(self) -> list[str]:
        return sorted(self._task.artifacts)


class Task:
    """One task: its artifacts, status and output."""

    def __init__(self, pathspec: str):
        self.pathspec = pathspec
        flow, run, step, self.id = pathspec.split("/")
        self._record = _reader().task(flow, run, step, self.id)
        self._all: dict[str, str] | None = None

    @property
    def successful(self) -> bool:
        return self._record["status"] == "succeeded"

    @property
    def finished(self) -> bool:
        return True  # a task record is written when the task ends

    @property
    def data(self) -> _Data:
        return _Data(self)

    def _shas(self) -> dict[str, str]:
        """The task's artifacts and, as in Metaflow, the run's parameters
        (by their attribute names: `typed-int` as `typed_int`)."""
        if self._all is None:
            flow, run = self.pathspec.split("/")[:2]
            parameters = _reader().run(flow, run)["parameters"]
            params = {n.replace("-", "_"): s for n, s in parameters.items()}
            self._all = {**params, **self._record["artifacts"]}
        return self._all

    @property
    def artifacts(self) -> dict[str, DataArtifact]:
        return {
            name: DataArtifact(f"{self.pathspec}/{name}", sha) for name, sha in self._shas().items()
        }

    def __getitem__(self, name: str) -> DataArtifact:
        sha = self._shas().get(name)
        if sha is None:
            raise KeyError(name)
        return DataArtifact(f"{self.pathspec}/{name}", sha)

    def __contains__(self, name: str) -> bool:
        return name in self._shas()

    def _log(self, stream: str) -> str:
        sha = self._record[stream]
        return _reader().blob(sha).decode("utf-8", "replace") if sha else ""

    @property
    def stdout(self) -> str:
        return self._log("stdout")

    @property
    def stderr(self) -> str:
        return self._log("stderr")

    @property
    def exception(self) -> str | None:
        return self._record["exception"]

    @property
    def index(self) -> int | None:
        return self._record["foreach_index"]

    @property
    def cached(self) -> bool:
        """Whether the task was taken from the cache instead of running
        (an earlier task, in `origin_pathspec`, had the same task key)."""
        return bool(self._record["cached"])

    @property
    def origin_pathspec(self) -> str | None:
        """Where the task actually ran, when it was reused by resume or
        taken from the cache (as Metaflow's `origin_pathspec`); else None."""
        origin = self._record["cloned_from"]
        if origin is None:
            return None
        flow, _, step, task = self.pathspec.split("/")
        return f"{flow}/{origin}/{step}/{task}"

    def __repr__(self) -> str:
        return f"Task('{self.pathspec}')"
