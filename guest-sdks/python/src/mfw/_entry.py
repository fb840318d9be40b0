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


# Metaflow's options before the command that mean nothing for mfw, with
# why; they are accepted (with a note) so Metaflow command lines work.
_NO_OP_FLAGS = {
    "--no-pylint": "mfw checks the graph when it builds the flow",
    "--pylint": "mfw checks the graph when it builds the flow",
}
_NO_OP_OPTIONS = {
    "--metadata": "mfw keeps metadata in the datastore",
    "--environment": "pinned packages are always built into the component",
    "--event-logger": "mfw has no event logger",
    "--monitor": "mfw has no monitor",
    "--package-suffixes": "the flow's code package is every .py file beside it",
}


_VALUE_OPTIONS = ("--datastore", "--datastore-root", "--with")


def _split_globals(args: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Metaflow's options before the command: (mfw's global options,
    options for the command, the rest from the command on)."""
    mfw_globals: list[str] = []
    command_opts: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        if name in ("--config", "--config-value"):
            # Metaflow's `--config NAME FILE`: the run builds with it.
            command_opts += args[i : i + 3]
            i += 3
            continue
        takes_value = name in _NO_OP_OPTIONS or name in (
            "--datastore",
            "--datastore-root",
            "--with",
        )
        if takes_value and not eq:
            value = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        i += 1
        if name in _NO_OP_FLAGS:
            print(f"mfw: {name} has no effect: {_NO_OP_FLAGS[name]}", file=sys.stderr)
        elif name in _NO_OP_OPTIONS:
            print(f"mfw: {name}={value} has no effect: {_NO_OP_OPTIONS[name]}", file=sys.stderr)
        elif name == "--datastore":
            if value not in ("local", "s3"):
                mfw_globals += ["--datastore", value]
        elif name == "--datastore-root":
            mfw_globals += ["--datastore", value]
        elif name == "--with":
            command_opts += ["--with", value]
        elif name == "--quiet":
            command_opts.append("--quiet")
        else:
            mfw_globals.append(args[i - 1] if not takes_value else f"{name}={value}")
    return mfw_globals, command_opts, args[i:]


def _parameters_help(flow_cls: type, path: str) -> None:
    """`python flow.py run --help`: the flow's parameters, as Metaflow
    lists them, then where mfw's run options are described."""
    from ._parameters import Parameter

    print(f"Usage: python {os.path.basename(path)} run [OPTIONS]\n")
    print(f"  Runs {flow_cls.__name__} with mfw, each step sandboxed.\n")
    params = [
        v for k in reversed(flow_cls.__mro__) for v in vars(k).values() if isinstance(v, Parameter)
    ]
    if params:
        print("Parameters:")
    for p in params:
        if p.computed:
            default = "  [default: computed when the run starts]"
        elif p.default is None or not p.show_default:
            default = ""
        else:
            default = f"  [default: {p.default!r}]"
        required = "  [required]" if p.required else ""
        print(f"  --{p.name} {p.kind.upper()}  {p.help}{default}{required}")
    print("\nRun options (--tag, --with, --max-workers, ...): mfw run --help")


def main(flow_cls: type) -> None:
    """Replaces this process with `mfw <command> <this file> <args...>`,
    translating Metaflow's command lines: its options before the command,
    `resume STEP`, `logs RUN/STEP`, `dump RUN/STEP`, `run --help`."""
    module = sys.modules.get(flow_cls.__module__)
    path = os.path.abspath(getattr(module, "__file__", None) or sys.argv[0])
    mfw_globals, command_opts, args = _split_globals(sys.argv[1:])
    if not args or args[0] in ("-h", "--help", "help"):
        print(f"usage: python {os.path.basename(path)} run|resume|show|check|build|logs|dump")
        print("       (each is `mfw <command> <this flow>`; see `mfw --help`)")
        raise SystemExit(0)
    command, rest = args[0], args[1:]
    if command == "run" and any(a in ("-h", "--help") for a in rest):
        _parameters_help(flow_cls, path)
        raise SystemExit(0)
    if command in ("logs", "dump"):
        # Metaflow names a run of this flow: RUN/STEP[/TASK].
        target = [a for a in rest if not a.startswith("-")]
        options = [a for a in rest if a.startswith("-")]
        specs = [f"{flow_cls.__name__}/{t.strip('/')}" for t in target]
        argv = [*mfw_globals, command, *options, *specs]
    elif command == "resume":
        # Metaflow: resume [STEP] [--origin-run-id ID]; mfw: resume FLOW [ID] --from-step STEP
        step = next((a for a in rest if not a.startswith("-")), None)
        options = [a for a in rest if a != step]
        origin: list[str] = []
        for at, option in enumerate(options):
            if option.startswith("--origin-run-id="):
                origin = [option.partition("=")[2]]
                del options[at]
                break
            if option == "--origin-run-id":
                origin = options[at + 1 : at + 2]
                del options[at : at + 2]
                break
        from_step = ["--from-step", step] if step else []
        argv = [*mfw_globals, "resume", *command_opts, path, *origin, *from_step, *options]
    else:
        argv = [*mfw_globals, command, *command_opts, path, *rest]
    binary = mfw_binary()
    os.execv(binary, [binary, *argv])
