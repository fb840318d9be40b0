"""`Runner`: run a flow from Python (a notebook, a test, a script) and get
its `Run`, as with Metaflow's Runner API.

    with Runner("train.py").run(alpha=0.5) as running:
        print(running.status, running.run.data.rmse)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from typing import Any

from ._entry import mfw_binary
from ._errors import MfwError


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
            import json

            args += [flag, json.dumps(value)]
        else:
            args += [flag, str(value)]
    return args


def _run_teeing(
    cmd: list[str], cwd: str | None, env: dict[str, str], timeout: float, show: bool
) -> tuple[int, str, str]:
    """Runs `cmd`, keeping its output and, with `show`, printing each line
    as it comes (a notebook sees a long run progress), as Metaflow's Runner
    does. Past `timeout` seconds the run is killed."""
    process = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        bufsize=1,
    )
    kept: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def pump(name: str, source: Any, sink: Any) -> None:
        for line in source:
            kept[name].append(line)
            if show:
                sink.write(line)
                sink.flush()
        source.close()

    pumps = [
        threading.Thread(target=pump, args=("stdout", process.stdout, sys.stdout), daemon=True),
        threading.Thread(target=pump, args=("stderr", process.stderr, sys.stderr), daemon=True),
    ]
    for pump_thread in pumps:
        pump_thread.start()
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    finally:
        for pump_thread in pumps:
            pump_thread.join()
    return returncode, "".join(kept["stdout"]), "".join(kept["stderr"])


class ExecutingRun:
    """A finished run started by a :class:`Runner`: its `Run`, status and
    output. A context manager, as Metaflow's."""

    def __init__(self, pathspec: str | None, returncode: int, stdout: str, stderr: str):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.status = "successful" if returncode == 0 else "failed"
        self._pathspec = pathspec

    @property
    def run(self) -> Any:
        """The run, read with the client (`running.run.data.x`)."""
        if self._pathspec is None:
            raise MfwError(f"the run did not start:\n{self.stderr.strip()}")
        from ._client import Run

        return Run(self._pathspec, _any_namespace=True)

    def __enter__(self) -> ExecutingRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __repr__(self) -> str:
        return f"ExecutingRun({self._pathspec!r}, {self.status})"


class Runner:
    """Runs `flow_file` with the `mfw` binary and reads the result back.

    Keyword arguments of `run` and `resume` are the flow's parameters and
    run options (`tags=[...]`, `max_workers=4`); `env` adds environment
    variables, `cwd` is where it runs (its `.mfw` datastore, unless
    `MFW_DATASTORE` says otherwise), `show_output` streams the run's output.
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
        self.timeout = file_read_timeout
        # Options Metaflow takes before the command (no-ops for mfw but
        # datastore, which mfw takes as --datastore).
        self.top_level: list[str] = []
        if kwargs.get("datastore") not in (None, "local"):
            self.top_level += ["--datastore", str(kwargs["datastore"])]

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(self, **kwargs: Any) -> ExecutingRun:
        """Runs the flow to its end; returns the finished run."""
        return self._execute("run", [self.flow_file, *_options(kwargs)])

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """Resumes the flow's latest run (`origin_run_id=...` for another,
        `step_to_rerun=...` to re-run from a step)."""
        args = [self.flow_file]
        origin = kwargs.pop("origin_run_id", None)
        if origin is not None:
            args.append(str(origin))
        step = kwargs.pop("step_to_rerun", None)
        if step is not None:
            args += ["--from-step", str(step)]
        return self._execute("resume", args + _options(kwargs))

    def _execute(self, command: str, args: list[str]) -> ExecutingRun:
        with tempfile.TemporaryDirectory(prefix="mfw-runner-") as tmp:
            id_file = os.path.join(tmp, "run-id")
            cmd = [mfw_binary(), *self.top_level, command, "--run-id-file", id_file, *args]
            returncode, stdout, stderr = _run_teeing(
                cmd, self.cwd, self.env, self.timeout, self.show_output
            )
            pathspec = None
            if os.path.exists(id_file):
                with open(id_file, encoding="utf-8") as f:
                    pathspec = f.read().strip() or None
        if self.cwd is not None and "MFW_DATASTORE" not in self.env:
            # The client reads where the run was stored.
            from ._client import _datastore, set_datastore

            if _datastore is None:
                set_datastore(os.path.join(self.cwd, ".mfw"))
        return ExecutingRun(pathspec, returncode, stdout, stderr)
