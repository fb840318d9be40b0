"""`Runner` and `NBRunner`: run a flow from Python (a notebook, a test, a
script) and get its `Run`, as with Metaflow's Runner API.

    with Runner("train.py").run(alpha=0.5) as running:
        print(running.status, running.run.data.rmse)

    # Several runs at once (in a notebook, `await` works at the top level):
    runs = [await Runner("train.py").async_run(alpha=a) for a in (0.1, 0.5)]
    for running in runs:
        await running.wait()
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

from ._entry import mfw_binary
from ._errors import MfwError

# How often a waiting Runner looks at the mfw it started: a task takes
# milliseconds, so a run's lines and its end are seen without delay.
_POLL_SECONDS = 0.05
_STREAMS = ("stdout", "stderr")
# How long a run asked to stop (as Ctrl-C does) has before it is killed.
_STOP_GRACE_SECONDS = 2.0


def _options(kwargs: dict[str, Any]) -> list[str]:
    """`alpha=0.5, tags=["x"]` as `--alpha 0.5 --tag x`: Metaflow's
    spelling of parameters and run options as keyword arguments."""
    args: list[str] = []
    for name, value in kwargs.items():
        if name in ("tags", "tag"):
            for tag in [value] if isinstance(value, str) else value:
                args += ["--tag", str(tag)]
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args += [flag, "true" if value else "false"]
        elif isinstance(value, (dict, list)):
            args += [flag, json.dumps(value)]
        else:
            args += [flag, str(value)]
    return args


class _Command:
    """One `mfw` process. Its output goes to two log files, read while it
    runs (a run's lines shown as they come, `stream_log`) and after."""

    def __init__(self, command: list[str], args: list[str], cwd: str | None, env: dict[str, str]):
        self.dir = tempfile.mkdtemp(prefix="mfw-runner-")
        self.log_files = {name: os.path.join(self.dir, f"{name}.log") for name in _STREAMS}
        self.run_id_file = os.path.join(self.dir, "run-id")
        self.timed_out = False
        # The logs and the pathspec, read once the process ended and its
        # files went (nothing is left behind in the temporary directory).
        self._kept: dict[str, bytes] | None = None
        self._kept_pathspec: str | None = None
        # (`mfw run --run-id-file FILE FLOW ...`: the option is the command's.)
        self.cmd = [*command, "--run-id-file", self.run_id_file, *args]
        try:
            with (
                open(self.log_files["stdout"], "wb") as out,
                open(self.log_files["stderr"], "wb") as err,
            ):
                # A session of its own: stopping the run reaches whatever
                # mfw started (a flow's build), and a notebook's interrupt
                # reaches the run only through this Runner.
                self.process = subprocess.Popen(
                    self.cmd,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def done(self) -> bool:
        """Whether mfw ended; once it has, its files are read and removed."""
        if self.process.poll() is None:
            return False
        self.cleanup()
        return True

    def pathspec(self) -> str | None:
        """`Flow/run_id` once mfw started the run (it writes the file whole)."""
        if self._kept is not None:
            return self._kept_pathspec
        try:
            with open(self.run_id_file, encoding="utf-8") as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def read(self, stream: str) -> str:
        return self.bytes_from(stream, 0).decode("utf-8", errors="replace")

    def bytes_from(self, stream: str, offset: int) -> bytes:
        """What `stream` holds past `offset`, from its file or, once cleaned
        up, from the text kept."""
        if self._kept is not None:
            return self._kept[stream][offset:]
        try:
            with open(self.log_files[stream], "rb") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return b""

    def pass_on(self, stream: str, offset: int, sink: Any, whole: bool) -> int:
        """Writes the lines of `stream` past `offset` to `sink`, one write
        a line; a line still being written waits unless `whole`. Returns
        the new offset."""
        data = self.bytes_from(stream, offset)
        if not whole:
            data = data[: data.rfind(b"\n") + 1]
        for line in data.decode("utf-8", errors="replace").splitlines(keepends=True):
            sink.write(line)
        if data:
            sink.flush()
        return offset + len(data)

    def stop(self) -> None:
        """Asks the run to stop as Ctrl-C does (mfw ends its running tasks;
        `resume` continues the run), then kills it after a grace period."""
        if self.done():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.cleanup()

    def cleanup(self) -> None:
        """Removes the log files, keeping their text if the run ended."""
        if self._kept is None and self.process.poll() is not None:
            self._kept_pathspec = self.pathspec()
            self._kept = {stream: self.bytes_from(stream, 0) for stream in self.log_files}
        shutil.rmtree(self.dir, ignore_errors=True)


class ExecutingRun:
    """A run started by a :class:`Runner`: its `Run`, status and output,
    while it goes on (`async_run`) or once it ended (`run`). A context
    manager, as Metaflow's: leaving it cleans up the Runner's files.

    >>> running = await Runner("train.py").async_run(alpha=0.5)  # doctest: +SKIP
    >>> async for _, line in running.stream_log("stderr"):  # doctest: +SKIP
    ...     print(line)
    >>> (await running.wait()).status  # doctest: +SKIP
    'successful'
    """

    def __init__(self, runner: Runner, command: _Command, pathspec: str | None):
        self.runner = runner
        self._command = command
        self._pathspec = pathspec

    @property
    def run(self) -> Any:
        """The run, read with the client (`running.run.data.x`); while the
        run goes on, it shows what has finished."""
        pathspec = self._pathspec or self._command.pathspec()
        if pathspec is None:
            raise MfwError(f"the run did not start:\n{self.stderr.strip()}")
        self._pathspec = pathspec
        from ._client import Run

        return Run(pathspec, _any_namespace=True)

    @property
    def returncode(self) -> int | None:
        """mfw's exit code: 0 when the run succeeded, None while it runs."""
        return self._command.process.poll()

    @property
    def status(self) -> str:
        """`running`, `successful`, `failed`, or `timeout` when `wait`'s
        timeout stopped it."""
        if self._command.timed_out:
            return "timeout"
        code = self.returncode
        if code is None:
            return "running"
        return "successful" if code == 0 else "failed"

    @property
    def stdout(self) -> str:
        """What the run printed to stdout so far (its tasks' lines)."""
        return self._command.read("stdout")

    @property
    def stderr(self) -> str:
        """What mfw printed to stderr so far (the run's progress, errors)."""
        return self._command.read("stderr")

    async def wait(self, timeout: float | None = None, stream: str | None = None) -> ExecutingRun:
        """Waits for the run to end, printing `stream` (`stdout` or
        `stderr`) as it comes if named. Past `timeout` seconds the run is
        stopped and its status is `timeout`. Returns this object."""
        _check_stream(stream, optional=True)
        command = self._command
        deadline = None if timeout is None else time.monotonic() + timeout
        offset = 0
        while True:
            # Looked at before reading, so nothing written before the end
            # is missed.
            ended = command.done()
            if stream is not None:
                offset = command.pass_on(stream, offset, sys.stdout, whole=ended)
            if ended:
                return self
            if deadline is not None and time.monotonic() > deadline:
                command.timed_out = True
                await asyncio.get_running_loop().run_in_executor(None, command.stop)
                print(f"Timeout: the run ({' '.join(command.cmd)}) did not end within {timeout} s")
                return self
            await asyncio.sleep(_POLL_SECONDS)

    async def stream_log(
        self, stream: str, position: int | None = None
    ) -> AsyncIterator[tuple[int, str]]:
        """Yields `(position, line)` for each line of `stream` (`stdout` or
        `stderr`) as the run writes it, until the run ends; `position`
        resumes where an earlier `stream_log` stopped."""
        _check_stream(stream)
        command = self._command
        if command._kept is not None:
            # Cleaned up: the kept text, with the same positions.
            at = position or 0
            for line in command.bytes_from(stream, at).splitlines(keepends=True):
                at += len(line)
                yield at, line.decode("utf-8", errors="replace").rstrip()
            return
        with open(command.log_files[stream], "rb") as f:
            if position:
                f.seek(position)
            while True:
                ended = command.done()
                line = f.readline()
                if line.endswith(b"\n") or (line and ended):
                    yield f.tell(), line.decode("utf-8", errors="replace").rstrip()
                    continue
                if ended:
                    return
                # Half a line, or none yet: look again soon.
                f.seek(f.tell() - len(line))
                await asyncio.sleep(_POLL_SECONDS)

    def __enter__(self) -> ExecutingRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.runner.cleanup()

    async def __aenter__(self) -> ExecutingRun:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.runner.cleanup()

    def __repr__(self) -> str:
        return f"ExecutingRun({self._pathspec!r}, {self.status})"


def _check_stream(stream: str | None, optional: bool = False) -> None:
    if stream is None and optional:
        return
    if stream not in _STREAMS:
        raise ValueError(f"stream must be 'stdout' or 'stderr', not {stream!r}")


class Runner:
    """Runs `flow_file` with the `mfw` binary and reads the result back.

    Keyword arguments of `run`, `resume` and their `async_` forms are the
    flow's parameters and run options (`tags=[...]`, `max_workers=4`); `env`
    adds environment variables, `cwd` is where it runs (its `.mfw`
    datastore, unless `MFW_DATASTORE` says otherwise), `show_output`
    streams a blocking run's output, and `file_read_timeout` is how long an
    `async_run` waits for the run to start (its build included).

    >>> with Runner("train.py").run(alpha=0.5) as running:  # doctest: +SKIP
    ...     print(running.status, running.run.data.rmse)
    """

    def __init__(
        self,
        flow_file: str,
        show_output: bool = True,
        profile: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        file_read_timeout: int = 3600,
        **kwargs: Any,
    ):
        self.flow_file = os.path.abspath(flow_file)
        self.show_output = show_output
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.file_read_timeout = file_read_timeout
        # Options Metaflow takes before the command (no-ops for mfw but
        # datastore, which mfw takes as --datastore).
        self.top_level: list[str] = []
        if kwargs.get("datastore") not in (None, "local"):
            self.top_level += ["--datastore", str(kwargs["datastore"])]
        self._commands: list[_Command] = []

    def run(self, **kwargs: Any) -> ExecutingRun:
        """Runs the flow to its end; returns the finished run."""
        return self._to_the_end(self._start("run", [self.flow_file, *_options(kwargs)]))

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """Resumes the flow's latest run (`origin_run_id=...` for another,
        `step_to_rerun=...` to re-run from a step); returns it ended."""
        return self._to_the_end(self._start("resume", _resume_args(self.flow_file, kwargs)))

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """Starts the flow and returns once its run has started (its build
        done): `wait()` for the end, `stream_log()` to follow it."""
        return await self._started(self._start("run", [self.flow_file, *_options(kwargs)]))

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        """`resume`, returning once the resumed run has started."""
        return await self._started(self._start("resume", _resume_args(self.flow_file, kwargs)))

    def cleanup(self) -> None:
        """Removes the runs' log files (an ended run keeps their text)."""
        for command in self._commands:
            command.cleanup()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    async def __aenter__(self) -> Runner:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cleanup()

    def _start(self, command: str, args: list[str]) -> _Command:
        started = _Command([mfw_binary(), *self.top_level, command], args, self.cwd, self.env)
        self._commands.append(started)
        return started

    def _to_the_end(self, command: _Command) -> ExecutingRun:
        """Waits for `command`, passing its output on as it comes; an
        interrupt (Ctrl-C in a notebook) stops the run too."""
        offsets = {"stdout": 0, "stderr": 0}
        try:
            while True:
                ended = command.done()
                if self.show_output:
                    for stream, sink in (("stdout", sys.stdout), ("stderr", sys.stderr)):
                        offset = offsets[stream]
                        offsets[stream] = command.pass_on(stream, offset, sink, whole=ended)
                if ended:
                    break
                time.sleep(_POLL_SECONDS)
        except BaseException:
            command.stop()
            raise
        pathspec = command.pathspec()
        command.cleanup()
        self._point_the_client_at_the_run()
        return ExecutingRun(self, command, pathspec)

    async def _started(self, command: _Command) -> ExecutingRun:
        deadline = time.monotonic() + self.file_read_timeout
        while True:
            ended = command.done()
            pathspec = command.pathspec()
            if pathspec is not None or ended:
                break
            if time.monotonic() > deadline:
                await asyncio.get_running_loop().run_in_executor(None, command.stop)
                raise MfwError(
                    f"the run did not start within {self.file_read_timeout} s "
                    "(Runner's file_read_timeout; a first build of native packages "
                    f"can take longer):\n{command.read('stderr').strip()}"
                )
            await asyncio.sleep(_POLL_SECONDS)
        self._point_the_client_at_the_run()
        return ExecutingRun(self, command, pathspec)

    def _point_the_client_at_the_run(self) -> None:
        if self.cwd is not None and "MFW_DATASTORE" not in self.env:
            # The client reads where the run was stored.
            from ._client import _datastore, set_datastore

            if _datastore is None:
                set_datastore(os.path.join(self.cwd, ".mfw"))


def _resume_args(flow_file: str, kwargs: dict[str, Any]) -> list[str]:
    """`resume`'s arguments: `origin_run_id=...` and `step_to_rerun=...`
    are Metaflow's names for mfw's run id and `--from-step`."""
    kwargs = dict(kwargs)
    args = [flow_file]
    origin = kwargs.pop("origin_run_id", None)
    if origin is not None:
        args.append(str(origin))
    step = kwargs.pop("step_to_rerun", None)
    if step is not None:
        args += ["--from-step", str(step)]
    return args + _options(kwargs)


# The flow files NBRunners of this process wrote, and how many use each:
# two runners of one cell share a file, which goes with the last.
_notebook_files: dict[str, int] = {}


class NBRunner:
    """Runs the flow defined in the notebook cell it is called from, as
    Metaflow's NBRunner: the cell, up to the end of the flow's class, is
    written beside the notebook (`base_dir`) as the flow's file. The same
    cell makes the same file, so running it again reuses its build.

    >>> class TrainFlow(FlowSpec):  # doctest: +SKIP
    ...     ...
    >>> run = NBRunner(TrainFlow).nbrun(alpha=0.5)  # doctest: +SKIP
    >>> run.data.rmse  # doctest: +SKIP
    """

    def __init__(
        self,
        flow: Any,
        show_output: bool = True,
        profile: str | None = None,
        env: dict[str, str] | None = None,
        base_dir: str | None = None,
        file_read_timeout: int = 3600,
        **kwargs: Any,
    ):
        name = flow if isinstance(flow, str) else getattr(flow, "__name__", None)
        if not isinstance(name, str):
            raise MfwError(f"NBRunner takes the flow's class (NBRunner(TrainFlow)), not {flow!r}")
        source = notebook_flow_source(_current_cell(), name)
        self.base_dir = os.path.abspath(base_dir if base_dir is not None else os.getcwd())
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
        self.flow_file = os.path.join(self.base_dir, f"{name}_{digest}.py")
        staging = f"{self.flow_file}.{os.getpid()}.partial"
        with open(staging, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(staging, self.flow_file)
        _notebook_files[self.flow_file] = _notebook_files.get(self.flow_file, 0) + 1
        self._holds_file = True
        self.runner = Runner(
            self.flow_file,
            show_output=show_output,
            profile=profile,
            env=env,
            cwd=self.base_dir,
            file_read_timeout=file_read_timeout,
            **kwargs,
        )

    def nbrun(self, **kwargs: Any) -> Any:
        """Runs the flow to its end and returns its `Run`; cleans up."""
        result = self.runner.run(**kwargs)
        self.cleanup()
        return result.run

    def nbresume(self, **kwargs: Any) -> Any:
        """Resumes the flow's latest run and returns the new `Run`; cleans up."""
        result = self.runner.resume(**kwargs)
        self.cleanup()
        return result.run

    def run(self, **kwargs: Any) -> ExecutingRun:
        """`Runner.run` of the cell's flow; call `cleanup()` after."""
        return self.runner.run(**kwargs)

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """`Runner.resume` of the cell's flow; call `cleanup()` after."""
        return self.runner.resume(**kwargs)

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """`Runner.async_run` of the cell's flow; call `cleanup()` after."""
        return await self.runner.async_run(**kwargs)

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        """`Runner.async_resume` of the cell's flow; call `cleanup()` after."""
        return await self.runner.async_resume(**kwargs)

    def cleanup(self) -> None:
        """Removes the flow's file (unless another NBRunner of the same
        cell still uses it) and the runs' log files."""
        if self._holds_file:
            self._holds_file = False
            left = _notebook_files.get(self.flow_file, 1) - 1
            if left > 0:
                _notebook_files[self.flow_file] = left
            else:
                _notebook_files.pop(self.flow_file, None)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.flow_file)
        self.runner.cleanup()


def _current_cell() -> str:
    """The source of the notebook cell being run, from IPython's history."""
    try:
        from IPython import get_ipython  # type: ignore[import-not-found]
    except ImportError:
        raise MfwError(
            "NBRunner runs a flow defined in a notebook cell, and needs IPython "
            "(Jupyter); outside a notebook, run the flow's file with Runner('flow.py')"
        ) from None
    shell = get_ipython()
    if shell is None:
        raise MfwError(
            "NBRunner runs a flow defined in a notebook cell, and this is not a "
            "notebook (get_ipython() is None): run the flow's file with Runner('flow.py')"
        )
    history = shell.history_manager.input_hist_raw
    return history[-1] if history else ""


def notebook_flow_source(cell: str, flow_name: str) -> str:
    """A flow file made of a notebook cell: the cell up to the end of the
    class `flow_name` (its imports and helpers above it included, the
    NBRunner call after it left out), run as a script would be.

    >>> cell = "from mfw import *\\nclass F(FlowSpec):\\n    pass\\nNBRunner(F).nbrun()"
    >>> print(notebook_flow_source(cell, "F"))
    from mfw import *
    class F(FlowSpec):
        pass
    <BLANKLINE>
    <BLANKLINE>
    if __name__ == "__main__":
        F()
    <BLANKLINE>
    """
    try:
        tree = ast.parse(cell)
    except SyntaxError as e:
        raise MfwError(
            f"NBRunner({flow_name}): the cell is not plain Python ({e.msg}, line {e.lineno}); "
            "define the flow in a cell of its own, without IPython magics"
        ) from None
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == flow_name]
    if not classes:
        raise MfwError(
            f"NBRunner({flow_name}): the cell it is called from does not define class "
            f"{flow_name}; call NBRunner in the cell that defines the flow, after the class"
        )
    end = classes[-1].end_lineno or len(cell.splitlines())
    lines = cell.splitlines()[:end]
    return "\n".join([*lines, "", "", 'if __name__ == "__main__":', f"    {flow_name}()", ""])
