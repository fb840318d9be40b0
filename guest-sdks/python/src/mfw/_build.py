"""Build time, run by `mfw build` in the host's CPython: derive a flow's
graph, resolve its pinned packages, and stage what componentize-py turns
into a component (mfw runs componentize-py itself, as a library).

    python -m mfw._build graph FLOW.py
    python -m mfw._build stage --flow FLOW.py --graph G.json \\
        --code-package FILES.json --sdk DIR --work DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

from ._errors import FlowDefinitionError

# Inside the component runs componentize-py 0.25.1's CPython 3.14, so wheels
# are resolved for it (pure-Python ones only). tests/python.rs checks this
# against the interpreter a built step reports.
TARGET_PYTHON = "3.14"


def _fail(message: str) -> None:
    print(f"mfw: error: {message}", file=sys.stderr)
    sys.exit(1)


def _requirements(graph: dict, flow_path: str) -> dict[str, str]:
    """Pinned packages: @pypi_base, every @pypi, and requirements.txt."""
    wanted: dict[str, tuple[str, str]] = {}

    def add(name: str, spec: str, origin: str) -> None:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in wanted and wanted[key][0] != spec:
            _fail(
                f"package {name} is pinned twice, to {wanted[key][0]!r} ({wanted[key][1]}) "
                f"and {spec!r} ({origin}); one component holds one version"
            )
        wanted[key] = (spec, origin)

    def from_decorator(options: list, origin: str) -> None:
        for key, value in options:
            if key == "packages":
                for name, version in json.loads(value).items():
                    add(name, str(version), origin)

    for d in graph["decorators"]:
        if d["name"] == "pypi_base":
            from_decorator(d["options"], "@pypi_base")
    for step in graph["steps"]:
        for d in step["decorators"]:
            if d["name"] == "pypi":
                from_decorator(d["options"], f"@pypi on step {step['name']}")
    req = os.path.join(os.path.dirname(os.path.abspath(flow_path)), "requirements.txt")
    if os.path.exists(req):
        with open(req, encoding="utf-8") as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
                if not m:
                    _fail(
                        f"requirements.txt: {line!r} is not pinned; write name==version so the "
                        "component is reproducible"
                    )
                add(m.group(1), m.group(2), "requirements.txt")
    return {name: spec for name, (spec, _) in sorted(wanted.items())}


def _pip(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )


def _has_native_only(name: str, spec: str, wheels: str) -> bool:
    """Whether `name` exists for this machine but not as a pure-Python wheel."""
    probe = _pip(
        ["download", "--no-deps", "-q", "-d", os.path.join(wheels, "probe"), f"{name}=={spec}"]
    )
    return probe.returncode == 0


def _wheel_name_version(file: str) -> tuple[str, str]:
    # {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl
    parts = file[: -len(".whl")].split("-")
    return parts[0].replace("_", "-"), parts[1]


def resolve(packages: dict[str, str], wheels: str) -> list[dict]:
    """Downloads pure-Python wheels for `packages` and their dependencies
    into the empty directory `wheels`; returns the lock: name, version,
    file, sha256."""
    if not packages:
        return []
    if _pip(["--version"]).returncode != 0:
        _fail(
            f"pinned packages are downloaded with pip, which {sys.executable} does not have: "
            "install it (`python3 -m ensurepip`, or your system's python3-pip), "
            "or set MFW_PYTHON to a Python that has it"
        )
    dest = os.path.join(wheels, "pure")
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    pins = [f"{name}=={spec}" for name, spec in packages.items()]
    pure = [
        "--only-binary=:all:",
        "--platform",
        "any",
        "--implementation",
        "py",
        "--python-version",
        TARGET_PYTHON,
        "--abi",
        "none",
    ]
    done = _pip(["download", "-q", "-d", dest, *pure, *pins])
    if done.returncode != 0:
        for name, spec in packages.items():
            single = _pip(["download", "-q", "--no-deps", "-d", dest, *pure, f"{name}=={spec}"])
            if single.returncode != 0:
                if _has_native_only(name, spec, wheels):
                    _fail(
                        f"package {name}=={spec} has native code and no WASI build; steps can "
                        "only use pure-Python packages"
                    )
                _fail(f"cannot download {name}=={spec}: {single.stderr.strip()[-400:]}")
        _fail(f"cannot resolve {' '.join(pins)}: {done.stderr.strip()[-600:]}")
    lock = []
    for file in sorted(os.listdir(dest)):
        if not file.endswith(".whl"):
            continue
        with open(os.path.join(dest, file), "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        name, version = _wheel_name_version(file)
        lock.append({"name": name, "version": version, "file": file, "sha256": sha})
    lock.sort(key=lambda p: p["name"].lower())
    return lock


def _copy_tree(src: str, dst: str) -> None:
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in sorted(files):
            if name.endswith(".pyc"):
                continue
            shutil.copyfile(os.path.join(root, name), os.path.join(dst, rel, name))


def _pin_times(root: str) -> None:
    """Fixed mtimes, so nothing time-dependent leaks into the snapshot."""
    for base, dirs, files in os.walk(root):
        for name in files + dirs:
            os.utime(os.path.join(base, name), (0, 0))
    os.utime(root, (0, 0))


APP = """\
# Generated by mfw build: the component's entry point.
#
# A component has no file system at run time: only modules imported now,
# while componentize-py snapshots the interpreter, can be imported by a
# step. So import everything the flow may need up front.
import importlib

from wit_world import exports

for _name in {preload!r}:
    try:
        importlib.import_module(_name)
    except Exception:  # noqa: BLE001 - the step that needs it reports it
        pass

import mfw._runtime as _mfw_runtime
import {module} as _mfw_flow_module

_GRAPH = _mfw_runtime.graph_from_json({graph!r})


class Flow(exports.Flow):
    def graph(self):
        return _GRAPH

    def run_step(self, step):
        _mfw_runtime.run_step(_mfw_flow_module.{cls}, step)
"""


# Standard modules steps commonly import lazily, kept in every snapshot.
COMMON_MODULES = [
    "collections",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "io",
    "itertools",
    "json",
    "math",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "textwrap",
    "traceback",
    "typing",
]


def _codec_modules() -> dict[str, str]:
    """Encoding names (as `codecs.lookup` normalizes them) to the
    `encodings` module that implements each."""
    import encodings
    import encodings.aliases
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(encodings.__path__)}
    names = {name: name for name in modules}
    for alias, module in encodings.aliases.aliases.items():
        if module in modules:
            names.setdefault(alias, module)
    return names


def _module_of(path: str, root: str) -> list[str]:
    """The dotted package `path` (a file under `root`) belongs to."""
    parts = os.path.relpath(path, root).split(os.sep)[:-1]
    return parts if all(p.isidentifier() for p in parts) else []


def modules_to_preload(paths: list[str], root: str) -> list[str]:
    """What the code in `paths` (files under `root`, the import root) may
    import at run time, when the component has no file system: every module
    it imports anywhere, functions included, with relative imports resolved;
    `_strptime`, which `datetime` and `time` import on the first
    `strptime` call; and the codecs its string literals name, which
    `codecs.lookup` imports on first use.
    """
    import ast
    import encodings

    codecs = _codec_modules()
    names: set[str] = set()
    for path in paths:
        with open(path, "rb") as f:
            try:
                tree = ast.parse(f.read(), path)
            except (SyntaxError, ValueError):
                continue
        package = _module_of(path, root)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    base = node.module or ""
                else:
                    # Level 1 is the package the file is in (for an
                    # __init__.py, the package itself); each level more, its
                    # parent.
                    up = node.level - 1
                    if up >= len(package):
                        continue
                    parts = package[: len(package) - up]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                if not base:
                    continue
                names.add(base)
                # `from package import submodule` imports the submodule.
                names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
            elif (isinstance(node, ast.Attribute) and node.attr == "strptime") or (
                isinstance(node, ast.Name) and node.id == "strptime"
            ):
                names.add("_strptime")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.strip().lower()
                if 0 < len(text) <= 32:
                    normal = encodings.normalize_encoding(text.replace(" ", "-"))
                    module = codecs.get(normal) or codecs.get(normal.replace(".", "_"))
                    if module:
                        names.add(f"encodings.{module}")
    if "encodings.idna" in names:
        # idna encodes each label with the punycode codec, looked up by name.
        names.add("encodings.punycode")
    return sorted(n for n in names if all(p.isidentifier() for p in n.split(".")))


def _top_level_modules(app: str, lock: list[dict]) -> list[str]:
    """The importable top-level names the bundled wheels installed."""
    names = set()
    for entry in os.listdir(app):
        if entry.endswith(".dist-info"):
            top = os.path.join(app, entry, "top_level.txt")
            if os.path.exists(top):
                with open(top, encoding="utf-8") as f:
                    names.update(line.strip() for line in f if line.strip())
                continue
            record = os.path.join(app, entry, "RECORD")
            if os.path.exists(record):
                with open(record, encoding="utf-8") as f:
                    for line in f:
                        first = line.split(",", 1)[0].split("/", 1)[0]
                        if first.endswith(".py"):
                            names.add(first[:-3])
                        elif "." not in first and first != "__pycache__":
                            names.add(first)
    return sorted(n for n in names if n.isidentifier())


def stage(flow: str, graph: dict, sdk: str, work: str, code: list[str]) -> tuple[str, list[dict]]:
    """Lays out what componentize-py snapshots, in `work`/app: the pinned
    wheels, the SDK, the flow's code package (`code`: paths relative to the
    flow's directory, as mfw found them) and the generated entry point that
    preloads what steps import. Returns the directory and the lock.

    Everything here is a function of the sources and the lock, down to file
    times, so two builds hand componentize-py the same tree.
    """
    flow_path = os.path.abspath(flow)
    app = os.path.join(work, "app")
    if os.path.exists(app):
        shutil.rmtree(app)
    os.makedirs(app)
    lock = resolve(_requirements(graph, flow_path), os.path.join(work, "wheels"))
    for package in lock:
        pure = os.path.join(work, "wheels", "pure")
        with zipfile.ZipFile(os.path.join(pure, package["file"])) as wheel:
            wheel.extractall(app)
    _copy_tree(os.path.join(sdk, "mfw"), os.path.join(app, "mfw"))
    # The flow's directory is its code package: the flow and its modules.
    flow_dir = os.path.dirname(flow_path)
    for relative in code:
        target = os.path.join(app, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(flow_dir, relative), target)
    # The flow's code and the bundled packages, scanned where they will be
    # imported from (the SDK's own imports are in COMMON_MODULES or static).
    scanned = [
        os.path.join(root, name)
        for root, _dirs, files in os.walk(app)
        for name in files
        if name.endswith(".py") and os.path.relpath(root, app).split(os.sep)[0] != "mfw"
    ]
    preload = sorted(
        set(COMMON_MODULES)
        | set(modules_to_preload(sorted(scanned), app))
        | set(_top_level_modules(app, lock))
    )
    graph_json = json.dumps(
        {k: graph[k] for k in ("name", "steps", "parameters", "decorators", "doc", "sdk")},
        sort_keys=True,
    )
    with open(os.path.join(app, "mfw_app.py"), "w", encoding="utf-8") as f:
        f.write(
            APP.format(
                module=graph["module"], cls=graph["class"], graph=graph_json, preload=preload
            )
        )
    _pin_times(app)
    return app, lock


def stage_command(args: argparse.Namespace) -> None:
    with open(args.graph, encoding="utf-8") as f:
        graph = json.load(f)
    with open(args.code_package, encoding="utf-8") as f:
        code = json.load(f)
    app, lock = stage(args.flow, graph, args.sdk, args.work, code)
    print(json.dumps({"app": app, "lock": lock}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mfw._build")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("graph")
    g.add_argument("flow")
    g.add_argument(
        "--partial",
        action="store_true",
        help="the flow's other steps live in other components (a manifest)",
    )
    c = sub.add_parser("stage")
    for name in ("flow", "graph", "code-package", "sdk", "work"):
        c.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "graph":
            from ._graph import derive

            print(json.dumps(derive(args.flow, partial=args.partial)))
        else:
            stage_command(args)
    except FlowDefinitionError as e:
        _fail(str(e))


if __name__ == "__main__":
    main()
