"""`python flow.py run ...`: Metaflow users type this, so the flow file's
`HelloFlow()` hands the command to the `mfw` binary."""

from __future__ import annotations

import os
import shutil
import sys


def mfw_binary() -> str:
    """`MFW_BIN`, else `mfw` on PATH."""
    explicit = os.environ.get("MFW_BIN")
    if explicit:
        return explicit
    found = shutil.which("mfw")
    if found:
        return found
    raise SystemExit(
        "mfw: cannot find the mfw binary: put it on PATH or set MFW_BIN "
        "(build it with `cargo build --release -p mfw-cli`)"
    )


def main(flow_cls: type) -> None:
    """Replaces this process with `mfw <command> <this file> <args...>`."""
    module = sys.modules.get(flow_cls.__module__)
    path = getattr(module, "__file__", None) or sys.argv[0]
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        print(f"usage: python {os.path.basename(path)} run|show|check|build [options]")
        print("       (each is `mfw <command> <this flow>`; see `mfw --help`)")
        raise SystemExit(0)
    # Metaflow puts some options before the command; mfw's run options
    # come after it, so pass everything through in order.
    command, rest = args[0], args[1:]
    binary = mfw_binary()
    os.execv(binary, [binary, command, os.path.abspath(path), *rest])
