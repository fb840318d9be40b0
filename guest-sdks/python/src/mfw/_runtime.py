"""Inside the component: the bridge between a flow's steps and the host.

Only imported in the component, where componentize-py provides `wit_world`.
"""

from __future__ import annotations

import inspect
import io
import json
import linecache
import os
import sys
import traceback
from typing import Any

from componentize_py_types import Err  # type: ignore[import-not-found]

# Every import interface, so all are in the snapshot: a step cannot import
# modules at run time (the component has no file system).
from wit_world.imports import (  # type: ignore[import-not-found]
    artifacts,
    control,
    logging,  # noqa: F401
    objects,
    runs,  # noqa: F401
    streams,
    task_info,  # noqa: F401
    types,
)

from . import _encoding
from ._errors import CaughtFailure, MfwError
from .cards import card_objects  # imported now: a step can import nothing later

_ERROR_KINDS = {
    "ArtifactError_NotFound": "ArtifactNotFound",
    "ArtifactError_InvalidName": "InvalidArtifactName",
    "ArtifactError_InvalidValue": "InvalidArtifactValue",
    "ArtifactError_TooLarge": "ArtifactTooLarge",
    "ArtifactError_NoSuchInput": "NoSuchInput",
    "ArtifactError_Storage": "StorageError",
}


class ArtifactError(MfwError):
    """The host refused an artifact operation."""

    def __init__(self, error: Any):
        self.kind = _ERROR_KINDS.get(type(error).__name__, "ArtifactError")
        value = getattr(error, "value", error)
        if self.kind == "ArtifactTooLarge":
            value = f"the value is larger than the limit of {value} bytes"
        elif self.kind == "NoSuchInput":
            value = f"this join has {value} inputs"
        super().__init__(str(value))


def _host_error(e: Err) -> ArtifactError:
    return ArtifactError(e.value)


def object_put(key: str, data: bytes) -> None:
    """Keeps `data` under `key` with the run (`S3(run=self).put`)."""
    try:
        objects.put(key, data)
    except Err as e:
        raise _host_error(e) from None


def object_get(key: str) -> bytes | None:
    """The object `key` this task sees, or None."""
    try:
        return objects.get(key)
    except Err as e:
        raise _host_error(e) from None


def object_keys(prefix: str) -> list[str]:
    """The keys this task sees starting with `prefix`, sorted."""
    return list(objects.keys(prefix))


class StepRef:
    """A step defined in another component of the flow, as `self.train`
    gives it in a step that goes there."""

    _mfw_step_ref = True

    def __init__(self, name: str):
        self.__name__ = name

    def __repr__(self) -> str:
        return f"<step {self.__name__}>"


# Steps the local steps go to that other components define (a manifest).
_EXTERNAL_STEPS: set[str] = set()


# The artifacts `@catch(var=...)` of the running flow's steps store.
_CATCH_VARS: set[str] = set()


def _catch_vars(flow_cls: type) -> set[str]:
    names = set()
    for klass in flow_cls.__mro__:
        for attr in vars(klass).values():
            for decorator, options in getattr(attr, "_mfw_decorators", []):
                var = json.loads(dict(options).get("var", "null")) if decorator == "catch" else None
                if isinstance(var, str):
                    names.add(var)
    return names


def _artifact(name: str, data: bytes) -> Any:
    """An artifact's value as a step sees it: a caught failure as the
    object Metaflow gives, everything else as decoded."""
    value = _encoding.decode(data)
    if name in _CATCH_VARS and type(value) is dict and {"type", "message"} <= value.keys():
        return CaughtFailure(value)
    return value


# Values this large or larger go to the host a piece at a time, so the host
# stores them as they come instead of holding a copy (contract 0.1.5), and
# through stdout (0.1.6; see _set_value).
_STREAM_FROM = 4 << 20
_PIECE = 1 << 20
# What one `read` of a value reader asks for (the host gives at most
# 16 MiB). Each read is in the step's memory twice for a moment (the
# lowered list and the `bytes` made of it): a MiB costs little and a read
# of 16 MiB grew a 100 MiB step by 45 MiB.
_MAX_READ = 1 << 20


def _fill(reader: Any, view: memoryview) -> None:
    """Fills ``view`` from ``reader``, which must have that many bytes."""
    at = 0
    while at < len(view):
        piece = reader.read(min(_MAX_READ, len(view) - at))
        if not piece:
            raise MfwError("a value ended before its size")
        view[at : at + len(piece)] = piece
        at += len(piece)


class _Loaded:
    """What ``load`` read: the encoded value, or, for a large value that is
    one byte string, the ``bytes`` it decoded to without a second copy."""

    def __init__(self, data: bytes | bytearray | None, value: bytes | None = None) -> None:
        self.data = data
        self.value = value

    def decoded(self, name: str) -> Any:
        """The artifact's value as the step sees it."""
        return self.value if self.data is None else _artifact(name, self.data)

    def same(self, value: object, pieces: list[Any], size: int) -> bool:
        """Whether ``value``, encoded as ``pieces`` (``size`` bytes), is
        what was read: then it keeps its stored hash and is not set again."""
        if self.data is None:
            return type(value) is bytes and value == self.value
        if len(self.data) != size:
            return False
        at = 0
        for piece in pieces:
            view = memoryview(piece).cast("B")
            # Compared a slice at a time, as bytes (memcmp), never joined.
            for start in range(0, len(view), _PIECE):
                part = view[start : start + _PIECE]
                if self.data[at : at + len(part)] != bytes(part):
                    return False
                at += len(part)
        return True


def _read_value(reader: Any) -> _Loaded:
    """A value reader's value: a large value that is one byte string is read
    straight into the ``bytes`` the step gets (one copy in memory, not
    three)."""
    with reader:
        size = reader.size()
        first = bytearray(min(size, 9) if size >= _STREAM_FROM else size)
        _fill(reader, memoryview(first))
        found = _encoding.byte_string_head(first) if size >= _STREAM_FROM else None
        if found is not None and found[0] + found[1] == size:
            head = found[0]
            # A buffer of the final size, written in place: getvalue() hands
            # it over without a copy.
            buffer = io.BytesIO()
            buffer.write(first[head:])
            buffer.seek(size - head - 1)
            buffer.write(b"\0")
            buffer.seek(len(first) - head)
            left = size - len(first)
            while left:
                piece = reader.read(min(_MAX_READ, left))
                if not piece:
                    raise MfwError("a value ended before its size")
                buffer.write(piece)
                left -= len(piece)
            loaded = _Loaded(None, buffer.getvalue())
        else:
            data = first
            if len(first) < size:
                data = bytearray(size)
                data[: len(first)] = first
                _fill(reader, memoryview(data)[len(first) :])
            loaded = _Loaded(data)
        if reader.read(1):
            raise MfwError("a value is longer than its size")
    return loaded


def _set_value(name: str, pieces: list[Any], size: int) -> None:
    """Hands the host an artifact's encoded value, the pieces of
    :func:`_encoding.encode_pieces` adding up to ``size`` bytes: whole when
    small, else through stdout, from the pieces' own buffers.

    A large value goes through stdout (contract 0.1.6) because
    componentize-py 0.25 keeps a copy of every ``bytes`` passed to the host
    until the task ends: 100 MiB written a piece at a time would cost the
    step 100 MiB more. ``os.write`` hands the host the buffer itself."""
    if size < _STREAM_FROM:
        artifacts.set(name, b"".join(pieces))
        return
    _flush_output()
    writer = streams.start_set_from_stdout(name)
    try:
        pending: list[Any] = []
        held = 0
        for piece in pieces:
            view = memoryview(piece).cast("B")
            if held + len(view) < _PIECE:
                # Small pieces (heads, short items) go together.
                pending.append(view)
                held += len(view)
                continue
            if pending:
                _write_all(b"".join(pending))
                pending, held = [], 0
            _write_all(view)
        if pending:
            _write_all(b"".join(pending))
    except OSError:
        pass  # the host refused the bytes: finish_set says why
    except BaseException:
        writer.__exit__(None, None, None)  # drops it: stdout is output again
        raise
    streams.finish_set(writer)


def _flush_output() -> None:
    """Writes out what the step printed, before stdout carries a value."""
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                pass


def _write_all(data: Any) -> None:
    """Writes ``data`` to file descriptor 1 (stdout), all of it."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(1, view) :]


class _State:
    """One task's view of its artifacts and controls."""

    def __init__(self, flow_cls: type):
        self.flow_cls = flow_cls
        self.loaded: dict[str, _Loaded] = {}
        self.removed: set[str] = set()
        self.parameters: dict[str, Any] = {}

    def load(self, name: str) -> Any:
        if name in _EXTERNAL_STEPS:
            return StepRef(name)
        try:
            loaded = _read_value(streams.open_get(name))
        except Err as e:
            if type(e.value).__name__ == "ArtifactError_NotFound":
                raise AttributeError(
                    f"{self.flow_cls.__name__!r} object has no attribute {name!r}"
                ) from None
            raise _host_error(e) from None
        self.loaded[name] = loaded
        return loaded.decoded(name)

    def exists(self, name: str) -> bool:
        return name in artifacts.names()

    def parameter(self, parameter: Any) -> Any:
        if parameter.name not in self.parameters:
            data = control.parameter(parameter.name)
            value = None if data is None else _encoding.decode(data)
            self.parameters[parameter.name] = parameter.convert(value)
        return self.parameters[parameter.name]

    def next(self, names: list[str], foreach: str | None) -> None:
        try:
            if foreach is not None:
                if len(names) != 1:
                    raise MfwError("a foreach goes to exactly one step")
                control.next_foreach(names[0], foreach)
            else:
                control.next(names)
        except Err as e:
            raise MfwError(str(e.value)) from None

    def foreach_input(self) -> Any:
        data = control.foreach_input()
        if data is None:
            raise MfwError("self.input is only set in a step inside a foreach")
        return _encoding.decode(data)

    def foreach_index(self) -> int | None:
        return control.foreach_index()

    def foreach_stack(self) -> list[tuple[int, int, str]]:
        return [(f.index, f.count, f.over) for f in control.foreach_stack()]

    def persist_pending(self, flow: Any) -> None:
        """Sends what the step set so far, so merge_artifacts sees it."""
        persist(flow, self)

    def merge(self, exclude: list[str], include: list[str] | None) -> None:
        if include:
            names = set()
            for index in range(artifacts.input_count()):
                names.update(artifacts.input_names(index))
            exclude = exclude + sorted(n for n in names if n not in include)
        try:
            artifacts.merge_artifacts(exclude)
        except Err as e:
            raise MfwError(str(e.value)) from None


def persist(flow: Any, state: _State) -> None:
    """Stores every public attribute the step set or changed."""
    for name in sorted(state.removed):
        if name not in flow.__dict__:
            try:
                artifacts.remove(name)
            except Err as e:
                raise _host_error(e) from None
    for name, value in list(flow.__dict__.items()):
        if name.startswith("_"):
            continue
        pieces = _encoding.encode_pieces(value)
        size = sum(memoryview(p).nbytes for p in pieces)
        loaded = state.loaded.get(name)
        if loaded is not None and loaded.same(value, pieces, size):
            continue  # read and unchanged: keeps its stored hash
        try:
            _set_value(name, pieces, size)
        except Err as e:
            raise _host_error(e) from None
        if size < _STREAM_FROM:
            state.loaded[name] = _Loaded(b"".join(pieces))
        else:
            state.loaded.pop(name, None)


class InputView:
    """One input of a join: its artifacts, read as attributes."""

    def __init__(self, index: int, step: str):
        self._index = index
        self._step = step
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            try:
                loaded = _read_value(streams.open_input_get(self._index, name))
            except Err as e:
                if type(e.value).__name__ == "ArtifactError_NotFound":
                    raise AttributeError(
                        f"input {self._index} (step {self._step!r}) has no artifact {name!r}"
                    ) from None
                raise _host_error(e) from None
            self._cache[name] = loaded.decoded(name)
        return self._cache[name]

    def __repr__(self) -> str:
        return f"<input {self._index} from step {self._step!r}>"


class Inputs:
    """A join's inputs: iterate them, index them, or name a branch's step
    (`inputs.train.x`)."""

    def __init__(self) -> None:
        self._views = [
            InputView(i, artifacts.input_step(i)) for i in range(artifacts.input_count())
        ]

    def __len__(self) -> int:
        return len(self._views)

    def __iter__(self) -> Any:
        return iter(self._views)

    def __getitem__(self, index: int) -> InputView:
        return self._views[index]

    def __getattr__(self, step: str) -> InputView:
        if step.startswith("_"):
            raise AttributeError(step)
        for view in self._views:
            if view._step == step:
                return view
        steps = ", ".join(v._step for v in self._views)
        raise AttributeError(f"no input comes from step {step!r} (inputs come from: {steps})")


def _is_join(func: Any) -> bool:
    params = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(params) >= 2


def run_step(flow_cls: type, step: str) -> None:
    """Runs `step` of `flow_cls` as the current task."""
    func = getattr(flow_cls, step, None)
    if func is None or not getattr(func, "_mfw_step", False):
        raise Err(types.StepError("UnknownStep", f"this component has no step {step!r}", ""))
    flow = object.__new__(flow_cls)
    from ._current import _RUNNING

    _RUNNING["flow"] = flow_cls
    _CATCH_VARS.clear()
    _CATCH_VARS.update(_catch_vars(flow_cls))
    state = _State(flow_cls)
    flow.__dict__["_mfw_state"] = state
    try:
        if _is_join(func):
            func(flow, Inputs())
        else:
            func(flow)
        persist(flow, state)
        _store_cards(func)
    except Exception as e:  # noqa: BLE001 - every step failure goes to the host
        kind = getattr(e, "kind", None) or type(e).__name__
        message = str(e) + _hint(e)
        raise Err(types.StepError(kind, message, _traceback(e))) from None


def compute_defaults(flow_cls: type, names: list[str], start: Any) -> list[tuple[str, bytes]]:
    """The parameter-defaults export: runs the function defaults among
    `names` with Metaflow's ParameterContext, before any task of the run."""
    from ._parameters import Parameter, ParameterContext

    wanted = set(names)
    computed = []
    for _attribute, parameter in inspect.getmembers(flow_cls):
        if not isinstance(parameter, Parameter) or not parameter.computed:
            continue
        if parameter.name not in wanted:
            continue
        context = ParameterContext(
            flow_name=start.flow,
            user_name=start.user,
            parameter_name=parameter.name,
            logger=lambda *args, **_kw: print(*args, file=sys.stderr),
            ds_type=start.datastore,
            configs=None,
        )
        try:
            value = parameter.compute_default(context)
            computed.append((parameter.name, _encoding.encode(value, allow_pickle=False)))
        except Exception as e:  # noqa: BLE001 - the host reports it and does not start the run
            kind = getattr(e, "kind", None) or type(e).__name__
            message = f"the default of parameter {parameter.name!r} failed: {e}"
            raise Err(types.StepError(kind, message, _traceback(e))) from None
    return computed


def _store_cards(func: Any) -> None:
    """Hands the host the step's cards (see `cards.card_objects`); the host
    keeps them with the task and does not pass them on."""
    from ._current import _CARDS

    for key, document in card_objects(getattr(func, "_mfw_decorators", []), _CARDS._take_all()):
        object_put(key, document)


def _traceback(e: BaseException) -> str:
    """The step's traceback, from the step's own code down: the frames of
    mfw's runtime that called it are left out."""
    tb = e.__traceback__
    here = os.path.dirname(os.path.abspath(__file__))
    while tb is not None and os.path.dirname(tb.tb_frame.f_code.co_filename) == here:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def keep_source(root: str, code: list[str]) -> None:
    """Keeps the source lines of the flow's code package (paths relative to
    its directory, `root` in the component) where tracebacks look for them.
    Called when the component is built; the entries have no time stamp, so
    the cache keeps them though the files are gone when a task runs."""
    for relative in code:
        path = os.path.join(root, relative)
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
        except (OSError, UnicodeDecodeError):
            continue
        linecache.cache[path] = (sum(map(len, lines)), None, lines, path)


BUILD_IMPORT_ERRORS: dict[str, str] = {}
"""Modules the component's entry point imported at build time and that
failed, with the error: the component does not hold them, and a step that
imports them is told why."""


def _hint(e: Exception) -> str:
    """How to fix what a component cannot do at run time: it has no file
    system, so it holds only the modules and codecs loaded when it was built."""
    if isinstance(e, ModuleNotFoundError) and e.name:
        failed = BUILD_IMPORT_ERRORS.get(e.name) or BUILD_IMPORT_ERRORS.get(e.name.split(".")[0])
        if failed:
            return f": importing it failed when the component was built: {failed}"
        if e.name.split(".")[0] in getattr(sys, "stdlib_module_names", ()):
            return (
                f": {e.name} is in the standard library, but a component holds only the"
                " modules its code imports by name: write `import "
                f"{e.name}` in the flow's code"
            )
        return (
            ": a step can import the standard library, the flow's code package and"
            " pinned packages (pin it with @pypi, @pypi_base or requirements.txt)"
        )
    if isinstance(e, OSError) and getattr(e, "filename", None):
        return (
            ": a step has no file system unless it is granted one. Pass a file as a"
            " parameter, IncludeFile('data', default='table.csv'), which the host reads"
            " when the run starts; or grant a directory, @grant(read={'/data': 'data'}),"
            " and open '/data/table.csv'"
        )
    if isinstance(e, LookupError) and str(e).startswith("unknown encoding"):
        return (
            ": a component holds only the codecs named in its code: write the"
            " encoding's name as a string in the flow's code"
        )
    return ""


def graph_from_json(text: str) -> Any:
    """The WIT graph record from the JSON the build step derived."""
    g = json.loads(text)
    local = {s["name"] for s in g["steps"]}
    _EXTERNAL_STEPS.clear()
    _EXTERNAL_STEPS.update(t for s in g["steps"] for t in s["next"] if t not in local)

    def decorators(items: list) -> list:
        return [types.Decorator(d["name"], [tuple(o) for o in d["options"]]) for d in items]

    def step_decorators(step: dict) -> list:
        # The contract's step record has no switch field: a switch is the
        # decorator `switch` (wit/flow.wit, `Switch::to_decorator` in Rust).
        own = decorators(step["decorators"])
        switch = step.get("switch")
        if switch:
            options = [
                ("condition", json.dumps(switch["condition"])),
                ("cases", json.dumps(switch["cases"])),
            ]
            own.append(types.Decorator("switch", options))
        return own

    return types.FlowGraph(
        name=g["name"],
        steps=[
            types.Step(
                name=s["name"],
                next=s["next"],
                foreach=s.get("foreach"),
                join=s["join"],
                decorators=step_decorators(s),
                doc=s["doc"],
                source=s["source"],
            )
            for s in g["steps"]
        ],
        parameters=[
            types.Parameter(
                name=p["name"],
                kind=p["kind"],
                default=bytes.fromhex(p["default"]) if p.get("default") is not None else None,
                required=p["required"],
                help=p["help"],
            )
            for p in g["parameters"]
        ],
        decorators=decorators(g["decorators"]),
        doc=g["doc"],
        sdk=g["sdk"],
    )
