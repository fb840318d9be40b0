"""Build time, run by `mfw build` in the host's CPython: read a flow's
pinned packages from its source (without running it), resolve them, and
stage what componentize-py turns into a component (mfw runs
componentize-py itself, as a library). The flow's graph is derived inside
the component while it is snapshotted (see `APP`): the flow's own code
never runs here.

    python -m mfw._build stage --flow FLOW.py --code-package FILES.json \\
        --sdk DIR --work DIR [--partial]
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

from ._alias import METAFLOW_SOURCES
from ._config import CONFIGS_FILE
from ._errors import FlowDefinitionError
from ._graph import decorator_pins, normalized, pin, shown_path, source_pins

# Inside the component runs componentize-py 0.25.1's CPython 3.14, so wheels
# are resolved for it (pure-Python ones only). tests/python.rs checks this
# against the interpreter a built step reports.
TARGET_PYTHON = "3.14"


def _fail(message: str) -> None:
    print(f"mfw: error: {message}", file=sys.stderr)
    sys.exit(1)


def _requirements(pins: dict, flow_path: str) -> dict[str, str]:
    """Pinned packages: those the flow's decorators pin (`pins`, read from
    its source) and requirements.txt's."""
    wanted = decorator_pins(pins)
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
                pin(wanted, m.group(1), m.group(2), "requirements.txt")
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


def _recipe(sdk: str):
    """The native-wheel recipe mfw carries (`sdk`/wheels/recipe.py)."""
    import importlib.util

    path = os.path.join(sdk, "wheels", "recipe.py")
    spec = importlib.util.spec_from_file_location("mfw_wheel_recipe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _split_pin(requirement: str) -> tuple[str, str]:
    name, _, version = requirement.partition("==")
    return name.strip(), version.strip()


def resolve_native(
    packages: dict[str, str], sdk: str, wheel_cache: str, share: list[str] | None = None
) -> tuple[list[dict], list[str], dict[str, str]]:
    """Builds (or takes from the cache, or from the team's datastore through
    the `share` command) the packages in `packages` that mfw's recipe
    builds, and the native packages they need. Returns their lock entries,
    their wheels' paths, and the pure-Python packages still to resolve: the
    rest of `packages` plus what the native ones require."""
    recipe = _recipe(sdk)
    known = recipe.known()
    pure: dict[str, str] = {}
    native: dict[str, str] = {}
    pending = list(packages.items())
    while pending:
        name, version = pending.pop(0)
        key = normalized(name)
        chosen = native if key in known else pure
        if key in chosen:
            if chosen[key] != version:
                _fail(
                    f"package {name} is needed at {chosen[key]} and at {version}; one "
                    "component holds one version (pin the one the native package requires)"
                )
            continue
        chosen[key] = version
        if key in known:
            try:
                requires = recipe.entry(key, version).get("requires", [])
            except recipe.RecipeError as e:
                _fail(f"package {name}=={version}: {e}")
            pending.extend(_split_pin(r) for r in requires)
    lock, paths = [], []
    target = os.path.join(sdk, "wheels", "target")
    for name, version in sorted(native.items()):
        try:
            path = recipe.build(name, version, wheel_cache, target, share=share)
        except recipe.RecipeError as e:
            _fail(f"cannot build the native package {name}=={version} for the component: {e}")
        e = recipe.entry(name, version)
        with open(path, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        lock.append(
            {
                "name": name,
                "version": version,
                "file": os.path.basename(path),
                "sha256": sha,
                "source_sha256": e["sha256"],
                "recipe": recipe.wheel_key(name, version),
            }
        )
        paths.append(path)
    return lock, paths, pure


def resolve(
    packages: dict[str, str],
    wheels: str,
    native: tuple[str, str, list[str] | None] | None = None,
) -> list[dict]:
    """Downloads pure-Python wheels for `packages` and their dependencies
    into the empty directory `wheels`; returns the lock: name, version,
    file, sha256. With `native` (the SDK directory and the wheel cache),
    packages mfw's recipe builds are built for the component instead, and
    their wheels copied into `wheels`/native (`native` also names the
    command that shares them through a remote datastore, if any)."""
    if not packages:
        return []
    native_lock: list[dict] = []
    if native is not None:
        native_lock, paths, packages = resolve_native(packages, *native)
        dest = os.path.join(wheels, "native")
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.makedirs(dest)
        for path in paths:
            shutil.copyfile(path, os.path.join(dest, os.path.basename(path)))
        if not packages:
            return native_lock
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
                    builds = ", ".join(_recipe_known(native))
                    _fail(
                        f"package {name}=={spec} has native code, and mfw's wheel recipe does "
                        f"not build it for components (it builds {builds}): pin a package "
                        "it builds or a pure-Python one, or add a recipe for it "
                        "(runtime/python-build/wheels, see docs/python.md)"
                    )
                _fail(f"cannot download {name}=={spec}: {single.stderr.strip()[-400:]}")
        _fail(f"cannot resolve {' '.join(pins)}: {done.stderr.strip()[-600:]}")
    lock = list(native_lock)
    for file in sorted(os.listdir(dest)):
        if not file.endswith(".whl"):
            continue
        with open(os.path.join(dest, file), "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        name, version = _wheel_name_version(file)
        lock.append({"name": name, "version": version, "file": file, "sha256": sha})
    lock.sort(key=lambda p: p["name"].lower())
    return lock


def _recipe_known(native: tuple[str, str] | None) -> list[str]:
    if native is None:
        return ["nothing here"]
    return [f"{n} {' '.join(v)}" for n, v in _recipe(native[0]).known().items()]


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


# Imports every module of `packages` but their tests: native packages import
# their own modules lazily, which a component cannot do later.
def _mfw_preload_whole(packages, errors):
    import pkgutil

    skip = ("tests", "test", "conftest", "__main__", "setup", "_pyinstaller")
    for top in packages:
        try:
            package = importlib.import_module(top)
        except Exception as error:  # noqa: BLE001 - the step that imports it reports it
            errors[top] = f"{{type(error).__name__}}: {{error}}"
            continue
        if not hasattr(package, "__path__"):
            continue  # a module, not a package: nothing more to import
        found = pkgutil.walk_packages(package.__path__, top + ".", onerror=lambda _name: None)
        for info in sorted(found, key=lambda i: i.name):
            if any(part in skip for part in info.name.split(".")):
                continue
            try:
                importlib.import_module(info.name)
            except Exception:  # noqa: BLE001 - optional parts need absent packages
                pass

import mfw._runtime as _mfw_runtime

for _name in {preload!r}:
    try:
        importlib.import_module(_name)
    except Exception as _error:  # noqa: BLE001 - the step that needs it reports it
        # A module that is simply absent gets the usual hint (pin it); one
        # that exists but failed to import is remembered with its error.
        if not (isinstance(_error, ModuleNotFoundError) and _error.name == _name):
            _mfw_runtime.BUILD_IMPORT_ERRORS[_name] = f"{{type(_error).__name__}}: {{_error}}"

_mfw_preload_whole({whole!r}, _mfw_runtime.BUILD_IMPORT_ERRORS)

# The flow's graph, derived here, in the sandbox componentize-py snapshots
# in: the flow's module-level code sees only the code package, no file,
# variable or socket of the machine that builds it. The host reads the
# graph (or the error) from a file beside the flow, in the staging copy.
def _mfw_derive(name, file, shown, partial, pins, code):
    import importlib.util
    import json
    import os

    from mfw import _graph
    from mfw._errors import FlowDefinitionError

    inside = importlib.util.find_spec(name).origin
    root = os.path.dirname(inside)
    shown_root = os.path.dirname(shown)
    try:
        module = _graph.load_module(inside, file=file)
        graph = _graph.derive_flow(module, inside, shown, partial)
        _graph.check_pins(graph, pins, shown)
    except FlowDefinitionError as error:
        # Name the user's file, not the mount it is read from here.
        where = error.path or ""
        if where == root or where.startswith(root + "/"):
            where = os.path.join(shown_root, os.path.relpath(where, root))
        message = str(FlowDefinitionError(error.message, where or None, error.line))
        with open(os.path.join(root, {error_file!r}), "w", encoding="utf-8") as f:
            f.write(message)
        raise
    with open(os.path.join(root, {graph_file!r}), "w", encoding="utf-8") as f:
        json.dump(_graph.host_json(graph), f, sort_keys=True)
    # The flow's own source lines, for its tracebacks: a task cannot read files.
    _mfw_runtime.keep_source(root, code)
    return getattr(module, graph["class"]), json.dumps(graph, sort_keys=True)


_mfw_flow_class, _mfw_graph_json = _mfw_derive(
    {module!r}, {file!r}, {shown!r}, {partial!r}, {pins!r}, {code!r}
)
_GRAPH = _mfw_runtime.graph_from_json(_mfw_graph_json)


class Flow(exports.Flow):
    def graph(self):
        return _GRAPH

    def run_step(self, step):
        _mfw_runtime.run_step(_mfw_flow_class, step)


class ParameterDefaults(exports.ParameterDefaults):
    def compute(self, names, start):
        return _mfw_runtime.compute_defaults(_mfw_flow_class, names, start)
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


# What packages read their data files with: standard modules that import
# their parts lazily (zoneinfo reads tzdata through importlib.resources;
# importlib.metadata's version() reads dist-info). Imported whole.
DATA_MODULES = [
    "email",  # importlib.metadata parses METADATA as a message
    "encodings.cp437",  # zipfile decodes member names with it (np.load of a .npz: scipy's qmc)
    "importlib.abc",
    "importlib.metadata",
    "importlib.readers",
    "importlib.resources",
    "zoneinfo",
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
    if any(n == "socket" or n.startswith(("socket.", "http", "urllib")) for n in names):
        # Connecting by host name encodes it with the idna codec (in the
        # standard library, not in the flow's code).
        names.add("encodings.idna")
    if "encodings.idna" in names:
        # idna encodes each label with the punycode codec, looked up by name.
        names.add("encodings.punycode")
    return sorted(n for n in names if all(p.isidentifier() for p in n.split(".")))


# Standard modules the component's CPython lacks but native packages import
# at their top level (pandas imports mmap for memory-mapped reads, which it
# uses only when asked): stand-ins that fail when used, saying why.
SHIMS = {
    "mmap": """\
# mfw: a component has no memory-mapped files. This stand-in lets packages
# that import mmap load; using it raises.
ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE, ACCESS_COPY = 0, 1, 2, 3
PAGESIZE = ALLOCATIONGRANULARITY = 65536


class mmap:  # noqa: N801 - the standard module's name
    def __init__(self, *args, **kwargs):
        raise OSError("mmap is not available in an mfw step: read the data instead")
""",
}


# Suffixes of what a package's code is (imported into the snapshot, or only
# for building); every other file of a bundled wheel is data it may read.
_NOT_DATA = (".py", ".pyc", ".so", ".pyi", ".pxd", ".pyx", ".pxi", ".h", ".hpp", ".c", ".cpp")


def data_files(work: str, lock: list[dict]) -> dict[str, bytes]:
    """The data files of the bundled wheels (zone files, metadata), by their
    path under the app directory: the component carries them, and mfw gives
    each task a read-only view of them where the packages expect them."""
    files: dict[str, bytes] = {}
    for package in lock:
        kind = "native" if "recipe" in package else "pure"
        with zipfile.ZipFile(os.path.join(work, "wheels", kind, package["file"])) as wheel:
            for info in wheel.infolist():
                name = info.filename
                parts = name.split("/")
                if info.is_dir() or name.endswith(_NOT_DATA) or "tests" in parts[:-1]:
                    continue
                if ".data" in parts[0]:
                    continue  # installed elsewhere than the app directory
                files[name] = wheel.read(info)
    return files


def _drop_metaflow(packages: dict[str, str]) -> dict[str, str]:
    """`packages` without Metaflow itself, which a flow's requirements may
    list: in a component `metaflow` is mfw."""
    kept = {}
    for name, spec in packages.items():
        if normalized(name) == "metaflow":
            print(
                f"mfw: note: {name}=={spec} is not installed in the component: there "
                "`metaflow` is mfw",
                file=sys.stderr,
            )
        else:
            kept[name] = spec
    return kept


def _write_metaflow_alias(app: str) -> None:
    """A Metaflow flow runs unchanged: in a component, `metaflow` is mfw
    (`_alias`). Only components carry this package: the mfw wheel a
    notebook installs does not, so it never hides a real Metaflow."""
    os.makedirs(os.path.join(app, "metaflow"), exist_ok=True)
    for name, text in METAFLOW_SOURCES.items():
        with open(os.path.join(app, "metaflow", name), "w", encoding="utf-8") as f:
            f.write(text)


def _write_shims(app: str) -> None:
    for name, text in SHIMS.items():
        with open(os.path.join(app, f"{name}.py"), "w", encoding="utf-8") as f:
            f.write(text)


def _installed_by(work: str, package: dict) -> set[str]:
    """The top-level names the wheel of `package` (a lock entry) installed."""
    names = set()
    kind = "native" if "recipe" in package else "pure"
    wheel = os.path.join(work, "wheels", kind, package["file"])
    with zipfile.ZipFile(wheel) as z:
        for item in z.namelist():
            first = item.split("/", 1)[0]
            if "/" in item and not first.endswith((".dist-info", ".data")):
                names.add(first)  # a package
            elif item.endswith(".py") and "/" not in item:
                names.add(item[: -len(".py")])  # a single-file module (six.py)
    return {name for name in names if name.isidentifier()}


# Where the component's start-up leaves the graph it derived, or why it
# could not, in the staged app (the host reads them after componentize-py).
GRAPH_FILE = ".mfw-graph.json"
ERROR_FILE = ".mfw-build-error.txt"


def stage(
    flow: str,
    sdk: str,
    work: str,
    code: list[str],
    wheel_cache: str | None = None,
    wheel_share: list[str] | None = None,
    partial: bool = False,
    configs: dict[str, str] | None = None,
) -> tuple[str, list[dict]]:
    """Lays out what componentize-py snapshots, in `work`/app: the pinned
    wheels, the SDK, the flow's code package (`code`: paths relative to the
    flow's directory, as mfw found them) and the generated entry point that
    derives the graph and preloads what steps import. Returns the directory
    and the lock. The flow is read here, never run.

    `partial`: the flow's other steps live in other components (a manifest).
    `configs`: the texts given for the flow's Configs (`run --config`).

    Everything here is a function of the sources and the lock, down to file
    times, so two builds hand componentize-py the same tree.
    """
    flow_path = os.path.abspath(flow)
    shown = shown_path(flow_path)
    pins = source_pins(flow_path, shown)
    app = os.path.join(work, "app")
    if os.path.exists(app):
        shutil.rmtree(app)
    os.makedirs(app)
    native = (sdk, wheel_cache, wheel_share) if wheel_cache else None
    packages = _drop_metaflow(_requirements(pins, flow_path))
    lock = resolve(packages, os.path.join(work, "wheels"), native)
    for package in lock:
        kind = "native" if "recipe" in package else "pure"
        with zipfile.ZipFile(os.path.join(work, "wheels", kind, package["file"])) as wheel:
            wheel.extractall(app)
    _copy_tree(os.path.join(sdk, "mfw"), os.path.join(app, "mfw"))
    _write_metaflow_alias(app)
    if configs:
        with open(os.path.join(app, CONFIGS_FILE), "w", encoding="utf-8") as f:
            json.dump(configs, f, sort_keys=True)
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
    files = data_files(work, lock)
    preload = sorted(set(COMMON_MODULES) | set(modules_to_preload(sorted(scanned), app)))
    if any("recipe" in package for package in lock):
        _write_shims(app)
    # Bundled packages import their own modules lazily, inside functions,
    # through C code or by computed names (tzdata's zone packages) the scan
    # cannot read: import all of them.
    whole = sorted(
        {name for package in lock for name in _installed_by(work, package)}
        | (set(DATA_MODULES) if files else set())
    )
    with open(os.path.join(app, "mfw_app.py"), "w", encoding="utf-8") as f:
        f.write(
            APP.format(
                module=os.path.splitext(os.path.basename(flow_path))[0],
                file=flow_path,
                shown=shown,
                partial=partial,
                pins={key: spec for key, (spec, _) in decorator_pins(pins).items()},
                graph_file=GRAPH_FILE,
                error_file=ERROR_FILE,
                preload=preload,
                whole=whole,
                code=sorted(p for p in code if p.endswith(".py")),
            )
        )
    _pin_times(app)
    if files:
        from ._encoding import encode

        with open(os.path.join(work, "files.cbor"), "wb") as f:
            f.write(encode(files))
    return app, lock


def stage_command(args: argparse.Namespace) -> None:
    with open(args.code_package, encoding="utf-8") as f:
        code = json.load(f)
    share = json.loads(args.wheel_share) if args.wheel_share else None
    configs = None
    if args.configs:
        with open(args.configs, encoding="utf-8") as f:
            configs = json.load(f)
    app, lock = stage(
        args.flow,
        args.sdk,
        args.work,
        code,
        args.wheel_cache,
        share,
        partial=args.partial,
        configs=configs,
    )
    files = os.path.join(args.work, "files.cbor")
    print(json.dumps({"app": app, "lock": lock, "files": files if os.path.exists(files) else None}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mfw._build")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("stage")
    for name in ("flow", "code-package", "sdk", "work"):
        c.add_argument(f"--{name}", required=True)
    c.add_argument(
        "--partial",
        action="store_true",
        help="the flow's other steps live in other components (a manifest)",
    )
    c.add_argument("--wheel-cache", help="where native wheels are built and cached")
    c.add_argument("--configs", help="JSON file: the texts given for the flow's Configs, by name")
    c.add_argument(
        "--wheel-share",
        help="JSON list: the command that fetches and shares wheels through the datastore",
    )
    args = parser.parse_args(argv)
    try:
        stage_command(args)
    except FlowDefinitionError as e:
        _fail(str(e))


if __name__ == "__main__":
    main()
