"""Metaflow's `S3` client, for a run's own objects: `S3(run=self)` in a step
keeps bytes by key with the run, and `S3(run=Run(...))` reads them back in a
notebook. Objects are stored content-addressed in the run's datastore (local
or S3) beside its artifacts; a task sees what it put and what the tasks it
comes from ended with, so a resumed or replayed task sees what it saw."""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from ._errors import MfwError


class MetaflowS3NotFound(MfwError):
    """The key names no object the client sees (Metaflow's name)."""


class MetaflowS3URLException(MfwError):
    """A URL or key the client cannot take (Metaflow's name)."""


_OUTSIDE_RUN = (
    "mfw's S3 keeps objects with a run: use S3(run=self) in a step, or S3(run=Run('Flow/id')) "
    "to read a run's objects. Buckets of your own (S3(s3root=...), S3(bucket=...), full "
    "s3:// URLs) are outside the sandbox: keep such data as artifacts (self.x = ...), pass "
    "files with IncludeFile or @grant(read=...), or grant the step the network with "
    "@grant(network=['BUCKET.s3.amazonaws.com:443']) and use a client of its own"
)


class S3Object:
    """One object: its key, URL and, once downloaded, its bytes.

    >>> obj = S3Object("mfw://HelloFlow/1", "a/b.txt", b"hi")
    >>> obj.url, obj.text, obj.size, obj.exists
    ('mfw://HelloFlow/1/a/b.txt', 'hi', 2, True)
    """

    def __init__(
        self,
        root: str,
        key: str,
        blob: bytes | None,
        tmpdir: str | None = None,
        load: Callable[[], bytes | None] | None = None,
    ):
        self._root = root
        self._key = key
        self._blob = blob
        self._tmpdir = tmpdir
        # A listed object exists but is read only when its bytes are used.
        self._load = load
        self._path: str | None = None

    def _bytes(self) -> bytes | None:
        if self._blob is None and self._load is not None:
            self._blob = self._load()
            self._load = None
        return self._blob

    @property
    def key(self) -> str:
        """The key, relative to the run."""
        return self._key

    @property
    def url(self) -> str:
        """`mfw://Flow/run_id/key`."""
        return f"{self._root}/{self._key}"

    @property
    def prefix(self) -> str:
        """The run's root: `mfw://Flow/run_id`."""
        return self._root

    @property
    def exists(self) -> bool:
        return self._blob is not None or self._load is not None

    @property
    def downloaded(self) -> bool:
        return self._blob is not None

    @property
    def has_info(self) -> bool:
        return self.exists

    @property
    def blob(self) -> bytes | None:
        """The object's bytes (None if it does not exist)."""
        return self._bytes()

    @property
    def text(self) -> str | None:
        """The bytes as UTF-8 text."""
        blob = self._bytes()
        return None if blob is None else blob.decode("utf-8")

    @property
    def size(self) -> int | None:
        blob = self._bytes()
        return None if blob is None else len(blob)

    @property
    def content_type(self) -> str | None:
        return None

    @property
    def metadata(self) -> dict[str, str] | None:
        return None

    @property
    def last_modified(self) -> int | None:
        return None

    @property
    def range_info(self) -> None:
        return None

    @property
    def path(self) -> str | None:
        """A local file holding the bytes, valid until the client closes.
        A sandboxed step has no file system of its own: read `.blob` or
        `.text` there."""
        blob = self._bytes()
        if blob is None:
            return None
        if self._path is None:
            if self._tmpdir is None:
                raise MfwError(
                    f"S3Object {self._key!r}: .path needs a local file, and a sandboxed step "
                    "has no file system; read .blob or .text (or io.BytesIO(obj.blob)) instead"
                )
            fd, self._path = tempfile.mkstemp(dir=self._tmpdir)
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
        return self._path

    def __repr__(self) -> str:
        return f"<S3Object {self.url}>" if self.exists else f"<S3Object {self.url} (missing)>"


class S3PutObject:
    """A key and a value for `put_many` (Metaflow's name)."""

    def __init__(self, key: str, value: Any, content_type: str | None = None, metadata: Any = None):
        self.key = key
        self.value = value
        self.content_type = content_type
        self.metadata = metadata

    def __iter__(self) -> Any:
        return iter((self.key, self.value))


def _in_step() -> bool:
    return "wit_world" in sys.modules


def _to_bytes(key: str, obj: Any) -> bytes:
    if isinstance(obj, str):
        return obj.encode("utf-8")
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, io.IOBase) or hasattr(obj, "read"):
        data = obj.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    raise MfwError(
        f"S3.put({key!r}, ...) takes str or bytes (or a file object), not "
        f"{type(obj).__name__}: store other values as artifacts (self.{_suggest(key)} = ...) "
        "or pickle.dumps them first"
    )


def _suggest(key: str) -> str:
    name = "".join(c if c.isalnum() else "_" for c in key.rsplit("/", 1)[-1].split(".")[0])
    return name if name and not name[0].isdigit() else "value"


class _StepObjects:
    """The running task's objects, through the host."""

    def __init__(self) -> None:
        from . import _runtime

        self._rt = _runtime

    def get(self, key: str) -> bytes | None:
        return self._rt.object_get(key)

    def put(self, key: str, data: bytes) -> None:
        self._rt.object_put(key, data)

    def keys(self, prefix: str) -> list[str]:
        return self._rt.object_keys(prefix)


class _RunObjects:
    """A run's objects, read from its task records: those its end task
    ended with (every branch's, settled by the joins) or, for a run that did
    not finish, every object its successful tasks ended with."""

    def __init__(self, run: Any) -> None:
        from . import _client

        self._client = _client
        self._pathspec = run.pathspec
        self._shas: dict[str, str] = {}
        self._clashes: dict[str, list[str]] = {}
        end = run.end_task
        tasks = [end] if end is not None and end.successful else []
        if not tasks:
            tasks = [t for step in run.steps() for t in step.tasks() if t.successful]
        for task in tasks:
            for key, sha in task._record.get("objects", {}).items():
                held = self._shas.setdefault(key, sha)
                if held != sha:
                    self._clashes.setdefault(key, []).append(task.pathspec)

    def get(self, key: str) -> bytes | None:
        if key in self._clashes:
            raise MfwError(
                f"run {self._pathspec} has different objects under {key!r} (tasks "
                f"{', '.join(self._clashes[key])} and others): read it through one task's "
                "lineage, or put the one to keep under a key of its own"
            )
        sha = self._shas.get(key)
        return None if sha is None else self._client._blob(sha)

    def put(self, key: str, data: bytes) -> None:
        raise MfwError(
            f"S3(run={self._pathspec!r}) is read-only outside the run's steps: a finished run's "
            "objects do not change. Put objects from a step with S3(run=self)"
        )

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self._shas if k.startswith(prefix))


class S3:
    """Metaflow's S3 client over a run's own objects.

    In a step, `S3(run=self)` puts and gets bytes by key; the objects pass
    to the next steps with the artifacts. Outside, `S3(run=Run('Flow/id'))`
    reads a run's objects. Buckets of your own are refused with what to do.

    >>> try:
    ...     S3(s3root="s3://bucket/data")
    ... except MfwError as e:
    ...     print("S3(run=self)" in str(e))
    True
    """

    def __init__(
        self,
        tmproot: str = ".",
        bucket: str | None = None,
        prefix: str | None = None,
        run: Any = None,
        s3root: str | None = None,
        **kwargs: Any,
    ):
        if run is None or bucket is not None or prefix is not None or s3root is not None:
            raise MfwError(_OUTSIDE_RUN)
        self._tmpdir: str | None = None
        if _in_step():
            from ._current import current
            from ._flowspec import FlowSpec

            if not isinstance(run, FlowSpec):
                raise MfwError(
                    "in a step, S3(run=...) takes the running flow (S3(run=self)); reading "
                    "another run's objects is not available in a sandboxed step yet: pass what "
                    "the step needs as a Parameter or read it in a notebook"
                )

            self._root = f"mfw://{current.flow_name}/{current.run_id}"
            self._objects: Any = _StepObjects()
        else:
            if not hasattr(run, "pathspec") or not hasattr(run, "steps"):
                raise MfwError(
                    f"S3(run=...) takes a Run outside a step (Run('Flow/id')), not "
                    f"{type(run).__name__}"
                )
            self._root = f"mfw://{run.pathspec}"
            self._objects = _RunObjects(run)
            self._tmpdir = tempfile.mkdtemp(prefix="metaflow.s3.", dir=tmproot)

    # -- keys ---------------------------------------------------------------

    def _key(self, key: Any) -> str:
        if isinstance(key, S3PutObject):
            key = key.key
        if not isinstance(key, str):
            raise MetaflowS3URLException(f"an S3 key is a str, not {type(key).__name__}")
        if "://" in key:
            if not key.startswith(self._root + "/"):
                raise MetaflowS3URLException(
                    f"{key!r} is not an object of this run: {_OUTSIDE_RUN}"
                )
            key = key[len(self._root) + 1 :]
        return key.lstrip("/")

    def _object(self, key: str, blob: bytes | None) -> S3Object:
        return S3Object(self._root, key, blob, self._tmpdir)

    def _listed(self, key: str) -> S3Object:
        """An object that exists, read when its bytes are used."""
        return S3Object(self._root, key, None, self._tmpdir, lambda: self._objects.get(key))

    # -- reads --------------------------------------------------------------

    def get(
        self, key: str | None = None, return_missing: bool = False, return_info: bool = True
    ) -> S3Object:
        """The object `key`; a missing one raises MetaflowS3NotFound unless
        `return_missing`, which returns it with `exists == False`."""
        if key is None:
            raise MetaflowS3URLException(
                "S3.get() needs a key in mfw: a run's root is not an object"
            )
        name = self._key(key)
        blob = self._objects.get(name)
        if blob is None and not return_missing:
            raise MetaflowS3NotFound(
                f"no object {name!r} in {self._root}: a task sees the objects it put and those of "
                "the tasks it comes from"
            )
        return self._object(name, blob)

    def get_many(
        self, keys: Iterable[str], return_missing: bool = False, return_info: bool = True
    ) -> list[S3Object]:
        return [self.get(k, return_missing, return_info) for k in keys]

    def get_recursive(self, keys: Iterable[str], return_info: bool = False) -> list[S3Object]:
        """Every object under each of the prefixes `keys`."""
        return [self._listed(k) for p in keys for k in self._objects.keys(self._key(p))]

    def get_all(self, return_info: bool = False) -> list[S3Object]:
        """Every object this client sees."""
        return [self._listed(k) for k in self._objects.keys("")]

    def info(self, key: str | None = None, return_missing: bool = False) -> S3Object:
        return self.get(key, return_missing)

    def info_many(self, keys: Iterable[str], return_missing: bool = False) -> list[S3Object]:
        return self.get_many(keys, return_missing)

    def list_paths(self, keys: Iterable[str] | None = None) -> list[S3Object]:
        """The objects and `prefix/`es directly under each of `keys` (the
        run's root by default); a prefix does not `exist`."""
        out: list[S3Object] = []
        for given in keys or [""]:
            base = self._key(given) if given else ""
            if base and not base.endswith("/"):
                base += "/"
            seen: set[str] = set()
            for key in self._objects.keys(base):
                child, slash, _ = key[len(base) :].partition("/")
                entry = base + child + slash
                if entry not in seen:
                    seen.add(entry)
                    out.append(self._object(entry, None) if slash else self._listed(key))
        return out

    def list_recursive(self, keys: Iterable[str] | None = None) -> list[S3Object]:
        """Every object under each of `keys` (the run's root by default)."""
        return self.get_recursive(keys or [""])

    # -- writes -------------------------------------------------------------

    def put(
        self,
        key: str,
        obj: Any,
        overwrite: bool = True,
        content_type: str | None = None,
        metadata: Any = None,
    ) -> str:
        """Keeps `obj` (str, bytes or a file object) under `key`; returns
        its URL. With `overwrite=False` an existing object is kept."""
        name = self._key(key)
        if not overwrite and self._objects.get(name) is not None:
            return f"{self._root}/{name}"
        self._objects.put(name, _to_bytes(name, obj))
        return f"{self._root}/{name}"

    def put_many(self, key_objs: Iterable[Any], overwrite: bool = True) -> list[tuple[str, str]]:
        """`put` for each (key, value) pair or S3PutObject."""
        out = []
        for item in key_objs:
            key, value = tuple(item)
            out.append((key, self.put(key, value, overwrite)))
        return out

    def put_files(self, key_paths: Iterable[Any], overwrite: bool = True) -> list[tuple[str, str]]:
        """`put` of each (key, local path); in a step the path must be in a
        granted directory (`@grant(read=...)`)."""
        out = []
        for item in key_paths:
            key, path = tuple(item)
            with open(path, "rb") as f:
                out.append((key, self.put(key, f.read(), overwrite)))
        return out

    # -- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Removes the local copies `.path` made."""
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> S3:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
