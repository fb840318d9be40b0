"""Shared fixtures: write a flow file into a temporary directory."""

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


@pytest.fixture
def flow_file(tmp_path):
    """Writes `source` as a flow file and returns its path."""

    def write(source: str, name: str = "flow.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        # Each test's flow is a fresh module.
        sys.modules.pop(path.stem, None)
        return path

    return write
