"""The Runner: a run's output kept and shown as it comes, `async_run`
returning once the run started, `stream_log`, `wait`'s timeout, and
NBRunner's flow file made of a notebook cell. A fake `mfw` (below) stands
for the binary; tests/metaflow.rs runs real flows through both."""

import asyncio
import os
import sys
import types

import pytest

from mfw import MfwError, NBRunner, Runner, _runner
from mfw._runner import notebook_flow_source

# A fake `mfw`: records its arguments, then does what FAKE_MFW says.
#   ok:      prints "first", waits for FAKE_GATE if set, prints "second"
#   broken:  fails before any run starts, as a flow that does not build
#   forever: starts a run, then waits until interrupted (exits 130)
#   silent:  never starts a run
FAKE_MFW = r"""#!{python}
import os, signal, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_ARGS"], "w") as f:
    f.write("\n".join(args))
mode = os.environ.get("FAKE_MFW", "ok")
print("building", file=sys.stderr, flush=True)
if mode == "broken":
    print("error: the flow does not build", file=sys.stderr, flush=True)
    sys.exit(2)
if mode == "silent":
    time.sleep(60)
    sys.exit(0)
id_file = args[args.index("--run-id-file") + 1]
flow = next(a for a in args if a.endswith(".py"))
if os.path.exists(flow) and os.environ.get("FAKE_COPY"):
    with open(flow) as src, open(os.environ["FAKE_COPY"], "w") as dst:
        dst.write(src.read())
with open(id_file + ".partial", "w") as f:
    f.write("FakeFlow/7")
os.replace(id_file + ".partial", id_file)
print("started", file=sys.stderr, flush=True)
if mode == "forever":
    def interrupted(*_):
        print("interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    signal.signal(signal.SIGINT, interrupted)
    while True:
        time.sleep(0.01)
print("first", flush=True)
gate = os.environ.get("FAKE_GATE")
deadline = time.monotonic() + 20
while gate and not os.path.exists(gate):
    if time.monotonic() > deadline:
        sys.exit(3)
    time.sleep(0.01)
print("second", flush=True)
"""


@pytest.fixture
def fake_mfw(tmp_path, monkeypatch):
    """Puts the fake mfw in MFW_BIN; returns a reader of its arguments."""
    binary = tmp_path / "mfw"
    binary.write_text(FAKE_MFW.replace("{python}", sys.executable))
    binary.chmod(0o755)
    monkeypatch.setenv("MFW_BIN", str(binary))
    monkeypatch.setenv("FAKE_ARGS", str(tmp_path / "args"))
    for name in ("FAKE_GATE", "FAKE_MFW", "FAKE_COPY"):
        monkeypatch.delenv(name, raising=False)

    def args():
        return (tmp_path / "args").read_text().split("\n")

    return args


class MarkingSink:
    """A stdout that creates `marker` when it is handed `first`."""

    def __init__(self, marker):
        self.marker = marker
        self.lines = []

    def write(self, text):
        self.lines.append(text)
        if text == "first\n":
            open(self.marker, "w").close()

    def flush(self):
        pass


def test_a_blocking_run_shows_its_output_as_it_comes(tmp_path, monkeypatch, fake_mfw):
    # The fake prints "second" only once "first" was shown: it exits 3 if
    # the line were passed on only at the end.
    marker = tmp_path / "seen"
    monkeypatch.setenv("FAKE_GATE", str(marker))
    sink = MarkingSink(str(marker))
    monkeypatch.setattr(sys, "stdout", sink)
    running = Runner(str(tmp_path / "flow.py")).run(alpha=0.5, tags=["a", "b"], dry=True)
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)
    assert running.returncode == 0, running.stderr
    assert running.status == "successful"
    assert sink.lines == ["first\n", "second\n"]
    assert running.stdout == "first\nsecond\n"
    assert running.stderr == "building\nstarted\n"
    assert "FakeFlow/7" in repr(running)
    args = fake_mfw()
    assert args[:2] == ["run", "--run-id-file"]
    flow = str(tmp_path / "flow.py")
    assert args[3:] == [flow, "--alpha", "0.5", "--tag", "a", "--tag", "b", "--dry", "true"]


def test_output_is_kept_but_not_shown_without_show_output(tmp_path, capsys, fake_mfw):
    running = Runner(str(tmp_path / "flow.py"), show_output=False).run()
    assert running.stdout == "first\nsecond\n"
    shown = capsys.readouterr()
    assert shown.out == "" and shown.err == ""
    # The log files went; their text stays.
    assert not os.path.exists(running._command.dir)
    assert running.stderr == "building\nstarted\n"


def test_resume_takes_metaflows_names_for_the_origin_and_the_step(tmp_path, fake_mfw):
    flow = str(tmp_path / "flow.py")
    Runner(flow, show_output=False).resume(origin_run_id="12", step_to_rerun="train", alpha=1)
    args = fake_mfw()
    assert args[0] == "resume"
    assert args[3:] == [flow, "12", "--from-step", "train", "--alpha", "1"]


def test_an_async_run_returns_once_started_and_streams_its_lines(tmp_path, monkeypatch, fake_mfw):
    gate = tmp_path / "gate"
    monkeypatch.setenv("FAKE_GATE", str(gate))

    async def scenario():
        runner = Runner(str(tmp_path / "flow.py"))
        running = await runner.async_run()
        # Started, and waiting at the gate: still running.
        assert running.status == "running" and running.returncode is None
        assert "FakeFlow/7" in repr(running)
        lines = []
        async for position, line in running.stream_log("stdout"):
            lines.append((position, line))
            if line == "first":
                gate.touch()
        await running.wait()
        assert running.status == "successful"
        # Seen to end: its files went, their text stays.
        assert not os.path.exists(running._command.dir)
        # From a position: only what follows it.
        again = [line async for line in running.stream_log("stdout", position=lines[0][0])]
        runner.cleanup()
        # Cleaned up: the same lines, from the text kept.
        kept = [line async for line in running.stream_log("stdout")]
        return lines, again, kept

    lines, again, kept = asyncio.run(scenario())
    assert lines == [(6, "first"), (13, "second")]
    assert again == [(13, "second")]
    assert kept == lines


def test_wait_prints_the_stream_it_names(tmp_path, capsys, fake_mfw):
    async def scenario():
        running = await Runner(str(tmp_path / "flow.py")).async_run()
        return await running.wait(stream="stdout")

    running = asyncio.run(scenario())
    assert running.status == "successful"
    assert capsys.readouterr().out == "first\nsecond\n"
    with pytest.raises(ValueError, match="'stdout' or 'stderr'"):
        asyncio.run(running.wait(stream="logs"))


def test_wait_past_its_timeout_stops_the_run_as_ctrl_c_does(tmp_path, monkeypatch, fake_mfw):
    monkeypatch.setenv("FAKE_MFW", "forever")

    async def scenario():
        running = await Runner(str(tmp_path / "flow.py")).async_run()
        return await running.wait(timeout=0.2)

    running = asyncio.run(scenario())
    assert running.status == "timeout"
    # Interrupted, not killed: mfw stops its tasks, and `resume` continues.
    assert running.returncode == 130
    assert running.stderr.endswith("interrupted\n")


def test_interrupting_a_blocking_run_stops_it(tmp_path, monkeypatch, fake_mfw):
    monkeypatch.setenv("FAKE_MFW", "forever")
    runner = Runner(str(tmp_path / "flow.py"), show_output=False)
    pause = _runner.time.sleep
    interrupted = []

    def sleep_until_started(seconds):
        # (time.sleep is the module's: stopping the run sleeps too.)
        if not interrupted and runner._commands[0].pathspec():
            interrupted.append(True)
            raise KeyboardInterrupt
        pause(seconds)

    monkeypatch.setattr(_runner.time, "sleep", sleep_until_started)
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    monkeypatch.undo()
    assert runner._commands[0].process.returncode == 130


def test_a_run_that_never_starts_fails_and_says_why(tmp_path, monkeypatch, fake_mfw):
    monkeypatch.setenv("FAKE_MFW", "broken")
    running = Runner(str(tmp_path / "flow.py"), show_output=False).run()
    assert running.status == "failed" and running.returncode == 2
    said = "the run did not start:\nbuilding\nerror: the flow does not build"
    with pytest.raises(MfwError, match=said):
        _ = running.run
    started = asyncio.run(Runner(str(tmp_path / "flow.py")).async_run())
    assert started.status == "failed"
    with pytest.raises(MfwError, match="does not build"):
        _ = started.run


def test_an_async_run_waits_for_the_start_no_longer_than_file_read_timeout(
    tmp_path, monkeypatch, fake_mfw
):
    monkeypatch.setenv("FAKE_MFW", "silent")
    runner = Runner(str(tmp_path / "flow.py"), file_read_timeout=0.3)
    with pytest.raises(MfwError, match=r"did not start within 0.3 s \(Runner's file_read_timeout"):
        asyncio.run(runner.async_run())
    # And it was stopped.
    assert runner._commands[0].process.returncode is not None


CELL = """from mfw import FlowSpec, step, NBRunner

def helper():
    return 2

class CellFlow(FlowSpec):
    @step
    def start(self):
        self.x = helper()
        self.next(self.end)

    @step
    def end(self):
        pass

NBRunner(CellFlow).nbrun()
"""


@pytest.fixture
def notebook(monkeypatch):
    """A stand-in for IPython; its last cell is the last of the list returned."""
    shell = types.SimpleNamespace(history_manager=types.SimpleNamespace(input_hist_raw=["x = 1"]))
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", module)
    return shell.history_manager.input_hist_raw


def test_a_cells_flow_file_ends_with_its_class_and_runs_as_a_script():
    source = notebook_flow_source(CELL, "CellFlow")
    assert source.startswith("from mfw import FlowSpec, step, NBRunner\n\ndef helper():")
    assert "NBRunner(CellFlow)" not in source
    assert source.endswith('        pass\n\n\nif __name__ == "__main__":\n    CellFlow()\n')
    namespace = {"__name__": "cell"}
    exec(compile(source, "cell.py", "exec"), namespace)
    assert namespace["CellFlow"].__name__ == "CellFlow"


def test_nbrunner_runs_the_cells_flow_from_a_file_beside_the_notebook(
    tmp_path, monkeypatch, notebook, fake_mfw
):
    notebook.append(CELL)
    copy = tmp_path / "copy.py"
    monkeypatch.setenv("FAKE_COPY", str(copy))

    class CellFlow:
        pass

    first = NBRunner(CellFlow, base_dir=str(tmp_path), show_output=False)
    second = NBRunner(CellFlow, base_dir=str(tmp_path), show_output=False)
    # The same cell, the same file: its build is reused.
    assert first.flow_file == second.flow_file
    assert os.path.basename(first.flow_file).startswith("CellFlow_")
    running = first.run(alpha=3)
    assert running.status == "successful"
    assert copy.read_text() == notebook_flow_source(CELL, "CellFlow")
    assert fake_mfw()[3:] == [first.flow_file, "--alpha", "3"]
    # The file stays while another runner of the cell holds it.
    first.cleanup()
    assert os.path.exists(second.flow_file)
    second.cleanup()
    assert not os.path.exists(second.flow_file)
    # Another cell, another file.
    notebook.append(CELL.replace("return 2", "return 3"))
    other = NBRunner(CellFlow, base_dir=str(tmp_path))
    assert other.flow_file != first.flow_file
    other.cleanup()


def test_nbrunner_outside_a_notebook_or_its_flows_cell_says_what_to_do(monkeypatch, notebook):
    class CellFlow:
        pass

    with pytest.raises(MfwError, match="does not define class CellFlow; call NBRunner in the cell"):
        NBRunner(CellFlow)
    notebook.append("%%time\n" + CELL)
    with pytest.raises(MfwError, match="not plain Python .* without IPython magics"):
        NBRunner(CellFlow)
    with pytest.raises(MfwError, match="takes the flow's class"):
        NBRunner(3)
    # A Python without a notebook's shell.
    sys.modules["IPython"].get_ipython = lambda: None
    with pytest.raises(MfwError, match=r"not a notebook \(get_ipython\(\) is None\)"):
        NBRunner(CellFlow)
    monkeypatch.setitem(sys.modules, "IPython", None)
    with pytest.raises(MfwError, match="needs IPython"):
        NBRunner(CellFlow)


def test_metaflows_config_options_before_the_command_go_to_the_run():
    from mfw._entry import _split_globals

    mfw_globals, command_opts, rest = _split_globals(
        ["--no-pylint", "--config", "settings", "prod.json", "--config-value", "x", "{}", "run"]
    )
    assert mfw_globals == []
    assert command_opts == ["--config", "settings", "prod.json", "--config-value", "x", "{}"]
    assert rest == ["run"]
