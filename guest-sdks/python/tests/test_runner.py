"""The Runner's output: kept for `ExecutingRun`, and shown while the run
goes on rather than when it ends."""

import os
import sys

from mfw import _runner

# A child that prints a line, then waits for the parent to have seen it
# (the marker file) before printing the next: it exits 3 if the line was
# only passed on at the end.
CHILD = """
import os, sys, time
print("first", flush=True)
print("to stderr", file=sys.stderr, flush=True)
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[1]):
    if time.monotonic() > deadline:
        sys.exit(3)
    time.sleep(0.01)
print("second", flush=True)
"""


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


def test_output_is_shown_while_the_run_goes_on(tmp_path, monkeypatch):
    marker = str(tmp_path / "seen")
    sink = MarkingSink(marker)
    monkeypatch.setattr(sys, "stdout", sink)
    code, out, err = _runner._run_teeing(
        [sys.executable, "-c", CHILD, marker], None, dict(os.environ), 60, True
    )
    monkeypatch.undo()
    assert code == 0, err
    assert sink.lines == ["first\n", "second\n"]
    assert out == "first\nsecond\n"
    assert err == "to stderr\n"


def test_output_is_kept_but_not_shown_without_show_output(tmp_path, capsys):
    marker = tmp_path / "seen"
    marker.touch()
    code, out, err = _runner._run_teeing(
        [sys.executable, "-c", CHILD, str(marker)], None, dict(os.environ), 60, False
    )
    assert code == 0
    assert out == "first\nsecond\n"
    assert err == "to stderr\n"
    shown = capsys.readouterr()
    assert shown.out == "" and shown.err == ""


def test_metaflows_config_options_before_the_command_go_to_the_run():
    from mfw._entry import _split_globals

    mfw_globals, command_opts, rest = _split_globals(
        ["--no-pylint", "--config", "settings", "prod.json", "--config-value", "x", "{}", "run"]
    )
    assert mfw_globals == []
    assert command_opts == ["--config", "settings", "prod.json", "--config-value", "x", "{}"]
    assert rest == ["run"]
