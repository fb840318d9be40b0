"""Builds native Python packages (numpy, pandas, ...) as wheels for the
CPython inside a component: wasm32-wasip2, linked when componentize-py
bundles them. mfw runs this in the host's Python:

    python recipe.py build numpy==2.3.5 --cache DIR --target DIR
    python recipe.py list --cache DIR
    python recipe.py known

`--target` holds what mfw knows of the component's CPython (its sysconfig
data, written from the copy mfw carries). Everything is read from
recipes.toml beside this file, pinned by sha256; built wheels are cached
under `--cache`, keyed by the hash of everything that went into them.
Native libraries packages build against (OpenBLAS) are built the same way
into install prefixes cached under `--cache`/libraries; `build
openblas==0.3.31` builds one alone.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SYSCONFIG_NAME = "_sysconfigdata__wasi_wasm32-wasi"
# Bumped whenever a change to this file changes what a build produces: the
# toolchain's cache key (and so every wheel's) covers it.
RECIPE_VERSION = 2
# The wheel tag mfw gives what it builds: CPython 3.14 for wasm32-wasip2.
TAG = "cp314-cp314-wasi_0_2_wasm32"


class RecipeError(Exception):
    """A build that cannot go on; the message says what to do."""


def recipes() -> dict:
    with open(os.path.join(HERE, "recipes.toml"), "rb") as f:
        return tomllib.load(f)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def known() -> dict[str, list[str]]:
    """Each package the recipe builds, with its versions."""
    return {normalize(n): sorted(v) for n, v in recipes()["package"].items()}


def entry(name: str, version: str) -> dict:
    packages = {normalize(n): v for n, v in recipes()["package"].items()}
    versions = packages.get(normalize(name))
    if versions is None:
        raise RecipeError(f"no recipe builds {name}")
    return _pick(name, version, versions)


def library_entry(name: str, version: str) -> dict:
    """A native library's entry (`[library.NAME."VERSION"]`): C code built
    with make into an install prefix that packages build against."""
    libraries = {normalize(n): v for n, v in recipes().get("library", {}).items()}
    versions = libraries.get(normalize(name))
    if versions is None:
        raise RecipeError(f"no recipe builds the library {name}")
    return _pick(name, version, versions)


def is_library(name: str) -> bool:
    """Whether a `build-with` name is a native library rather than a package."""
    r = recipes()
    libraries = {normalize(n) for n in r.get("library", {})}
    packages = {normalize(n) for n in r["package"]}
    if normalize(name) in libraries and normalize(name) in packages:
        raise RecipeError(f"{name} is both a package and a library in recipes.toml")
    return normalize(name) in libraries


def _pick(name: str, version: str, versions: dict) -> dict:
    if version not in versions:
        raise RecipeError(
            f"{name}=={version} has no recipe: it builds {name} "
            f"{', '.join(sorted(versions))}; pin one of those"
        )
    return versions[version]


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _file_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def toolchain_key() -> str:
    """Covers the toolchain pins and the files that drive every build."""
    r = recipes()
    # The patches build virtualenvs apply to their tools.
    patches = [
        _read(os.path.join(HERE, "patches", p))
        for t in r["toolchain"].values()
        if isinstance(t, dict)
        for p in t.get("patches", [])
    ]
    return _file_hash(
        json.dumps(r["toolchain"], sort_keys=True),
        _read(os.path.join(HERE, "toolchain", "wasi-cc")),
        _read(os.path.join(HERE, "toolchain", "no-exceptions.h")),
        str(RECIPE_VERSION),
        *patches,
    )[:16]


def _inputs(e: dict) -> list[str]:
    """The recipe files an entry names: its patch and scripts, and the
    include shims when it uses them."""
    parts = []
    if "patch" in e:
        parts.append(_read(os.path.join(HERE, "patches", e["patch"])))
    for script in e.get("scripts", []):
        parts.append(_read(os.path.join(HERE, "scripts", script[0])))
    if e.get("include-shims"):
        shims = os.path.join(HERE, "shims")
        for f in sorted(os.listdir(shims)):
            parts += [f, _read(os.path.join(shims, f))]
    return parts


def wheel_key(name: str, version: str) -> str:
    """What a wheel is a function of: its entry, its patch and scripts, the
    toolchain, and the keys of the native packages and libraries it builds
    against."""
    e = entry(name, version)
    parts = [toolchain_key(), normalize(name), version, json.dumps(e, sort_keys=True)]
    parts += _inputs(e)
    for dep, dep_version in sorted(e.get("build-with", {}).items()):
        if is_library(dep):
            parts.append(library_key(dep, dep_version))
        else:
            parts.append(wheel_key(dep, dep_version))
    return _file_hash(*parts)[:16]


def library_key(name: str, version: str) -> str:
    """What a library's install prefix is a function of, as for a wheel."""
    e = library_entry(name, version)
    parts = [toolchain_key(), "library", normalize(name), version, json.dumps(e, sort_keys=True)]
    return _file_hash(*parts, *_inputs(e))[:16]


def _publish(
    staging: str, final: str, log: str, what: dict, version: str, e: dict, key: str
) -> None:
    """Moves a finished build from `staging` to `final` in one rename, with
    its recipe.json (`what` was built: `{"name": ...}` for a wheel,
    `{"library": ...}` for a library; from which source and recipe key),
    and drops its build log."""
    manifest = {**what, "version": version, "sdist_sha256": e["sha256"], "recipe": key}
    with open(os.path.join(staging, "recipe.json"), "w") as f:
        json.dump(manifest, f, sort_keys=True)
    try:
        os.replace(staging, final)
    except OSError:
        shutil.rmtree(staging)  # another build got there first: same inputs
    with contextlib.suppress(FileNotFoundError):
        os.remove(log)


def _made_once(cache: str, what: str, find, make):
    """`find()` if `what` (a toolchain, a build virtualenv, a library or a
    wheel) is made already, else `make()` under `cache`'s lock on it: two
    builds at once (two `mfw build`s, or a test beside `mfw wheels build`)
    would otherwise make the same thing in the same directories, and one
    would delete what the other is using. The second waits, then finds it
    made. The lock goes with the process (flock), so a killed build leaves
    none behind."""
    found = find()
    if found:
        return found
    path = os.path.join(cache, "locks", re.sub(r"[^A-Za-z0-9_.-]+", "-", what) + ".lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"waiting for another build of {what} in {cache}")
            fcntl.flock(f, fcntl.LOCK_EX)
        return find() or make()


# ninja's progress lines: "[123/328] Compiling C object ...".
_STEP = re.compile(rb"^\s*\[(\d+)/(\d+)\] ")


def _run(cmd: list[str], log: str | None = None, progress: str | None = None, **kw) -> None:
    """Runs `cmd`; its output goes to `log` (kept on failure) or through.
    With `progress` (what is being built), ninja's steps are reported on
    the terminal every tenth of the way."""
    if log is None:
        code = subprocess.run(cmd, check=False, **kw).returncode
    else:
        with open(log, "ab") as out:
            child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
            shown = -1
            for line in child.stdout:
                out.write(line)
                step = _STEP.match(line) if progress else None
                if step:
                    done, total = int(step.group(1)), int(step.group(2))
                    tenth = done * 10 // max(total, 1)
                    if tenth > shown:
                        shown = tenth
                        _say(f"{progress}: {done}/{total} compile steps")
            code = child.wait()
    if code != 0:
        where = f"; its output is in {log}" if log else ""
        raise RecipeError(f"`{' '.join(cmd[:4])} ...` failed (exit {code}){where}")


def _say(message: str) -> None:
    print(f"mfw wheels: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- toolchain


def _check_llvm(llvm: str, packages: list[str]) -> None:
    wanted = [
        os.path.join(llvm, "bin", "clang"),
        os.path.join(llvm, "bin", "wasm-ld"),
        os.path.join(llvm, "include", "wasm32-wasi", "c++", "v1"),
    ]
    missing = [p for p in wanted if not os.path.exists(p)]
    builtins = os.path.join(llvm, "lib", "clang")
    if not missing and not any(
        os.path.exists(os.path.join(builtins, v, "lib", "wasi", "libclang_rt.builtins-wasm32.a"))
        for v in (os.listdir(builtins) if os.path.isdir(builtins) else [])
    ):
        missing.append("libclang_rt.builtins-wasm32.a")
    if missing:
        raise RecipeError(
            f"the wasm32 compiler is not installed ({missing[0]} is missing): install it with "
            f"`apt-get install {' '.join(packages)}` (Debian bookworm-security)"
        )


def _fetch_deb(deb: dict, cache: str) -> str:
    """The pinned .deb, from the cache or `apt-get download`, checked."""
    debs = os.path.join(cache, "debs")
    os.makedirs(debs, exist_ok=True)
    arch = "all" if deb["name"] == "wasi-libc" else "amd64"
    path = os.path.join(debs, f"{deb['name']}_{deb['version'].split(':')[-1]}_{arch}.deb")
    if os.path.exists(path) and _sha256(path) == deb["sha256"]:
        return path
    _say(f"fetching {deb['name']} {deb['version']} from Debian {deb['suite']}")
    with tempfile.TemporaryDirectory() as apt:
        # A private apt configuration: the suite's index in a directory of
        # our own, so the machine's sources and package state are untouched.
        lists = os.path.join(apt, "lists")
        os.makedirs(os.path.join(lists, "partial"))
        os.makedirs(os.path.join(apt, "cache", "archives", "partial"))
        sources = os.path.join(apt, "sources.list")
        mirror = _debian_mirror()
        with open(sources, "w") as f:
            f.write(
                f"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                f"{mirror} {deb['suite']} main\n"
            )
        options = [
            f"-oDir::Etc::SourceList={sources}",
            "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={lists}",
            f"-oDir::Cache={os.path.join(apt, 'cache')}",
            "-oAPT::Sandbox::User=root",
            "-qq",
        ]
        _run(["apt-get", *options, "update"], cwd=apt)
        _run(["apt-get", *options, "download", f"{deb['name']}={deb['version']}"], cwd=apt)
        got = [f for f in os.listdir(apt) if f.endswith(".deb")]
        if len(got) != 1:
            raise RecipeError(f"apt-get download {deb['name']} gave {got}")
        fetched = os.path.join(apt, got[0])
        digest = _sha256(fetched)
        if digest != deb["sha256"]:
            raise RecipeError(
                f"{deb['name']} {deb['version']} has sha256 {digest}, not the pinned "
                f"{deb['sha256']}: the recipe's pin needs review"
            )
        shutil.move(fetched, path + ".part")
        os.replace(path + ".part", path)
    return path


def _debian_mirror() -> str:
    """The Debian mirror this machine's apt already uses."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if not os.path.exists(path):
            continue
        for line in _read(path).splitlines():
            line = line.strip()
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
            if line.startswith("deb ") and "security" not in line:
                return [w for w in line.split() if "://" in w][0]
    raise RecipeError("cannot find this machine's Debian mirror in /etc/apt")


def _pyconfig(template: str, variables: dict) -> str:
    """The component CPython's pyconfig.h: Debian's 3.14 header, every
    macro set as the component's sysconfig data says (sysconfig parsed its
    own pyconfig.h into those variables: defined ones with their value,
    undefined ones as 0)."""
    out = [
        "/* pyconfig.h of componentize-py's CPython 3.14 for wasm32-wasip2, made by\n"
        "   mfw's wheel recipe from Debian's header and the component's sysconfig. */"
    ]
    for line in template.splitlines():
        defined = re.match(r"#define ([A-Za-z_][A-Za-z0-9_]*)(?: (.*))?$", line)
        undefined = re.match(r"/\* #undef ([A-Za-z_][A-Za-z0-9_]*) \*/$", line)
        name = (defined or undefined).group(1) if (defined or undefined) else None
        if name is None or name not in variables or name == "Py_PYCONFIG_H":
            out.append(line)
            continue
        value = variables[name]
        if value == 0 and not (defined and defined.group(2) == "0"):
            out.append(f"/* #undef {name} */")
        else:
            text = str(value) if not isinstance(value, str) else value
            out.append(f"#define {name} {text}".rstrip())
    return "\n".join(out) + "\n"


def toolchain(cache: str, target: str) -> dict:
    """The sysroot, build virtualenv and tool files, made once per
    toolchain key under `cache`/toolchain."""
    r = recipes()["toolchain"]
    _check_llvm(r["llvm"], r["debian-packages"])
    key = toolchain_key()
    root = os.path.join(cache, "toolchain", key)
    paths = {
        "cache": cache,
        "root": root,
        "llvm": r["llvm"],
        "sysroot": os.path.join(root, "sysroot"),
        "venv": os.path.join(root, "venv"),
        "bin": os.path.join(root, "bin"),
        "headers": os.path.join(HERE, "toolchain"),
        "target": target,
    }
    return _made_once(
        cache,
        f"toolchain {key}",
        lambda: paths if os.path.exists(os.path.join(root, ".complete")) else None,
        lambda: _make_toolchain(r, paths),
    )


def _make_toolchain(r: dict, paths: dict) -> dict:
    """Makes the toolchain `paths` name, under its lock; returns `paths`."""
    root, cache, target = paths["root"], paths["cache"], paths["target"]
    _say("preparing the wasm32 toolchain (once)")
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    unpacked = os.path.join(root, "debs")
    for deb in r["deb"]:
        _run(["dpkg-deb", "-x", _fetch_deb(deb, cache), unpacked])
    sysroot = paths["sysroot"]
    usr = os.path.join(unpacked, "usr")
    shutil.copytree(
        os.path.join(usr, "include", "wasm32-wasip2"),
        os.path.join(sysroot, "include", "wasm32-wasip2"),
    )
    shutil.copytree(
        os.path.join(usr, "lib", "wasm32-wasip2"), os.path.join(sysroot, "lib", "wasm32-wasip2")
    )
    shutil.copytree(
        os.path.join(r["llvm"], "include", "wasm32-wasi", "c++"),
        os.path.join(sysroot, "include", "wasm32-wasip2", "c++"),
    )
    py_include = os.path.join(sysroot, "include", "python3.14")
    shutil.copytree(os.path.join(usr, "include", "python3.14"), py_include)
    with open(
        os.path.join(target, "_sysconfig_vars__wasi_wasm32-wasi.json"), encoding="utf-8"
    ) as f:
        variables = json.load(f)
    template = _read(os.path.join(usr, "include", "x86_64-linux-gnu", "python3.14", "pyconfig.h"))
    with open(os.path.join(py_include, "pyconfig.h"), "w", encoding="utf-8") as f:
        f.write(_pyconfig(template, variables))
    shutil.rmtree(unpacked)

    # Build tools, pinned, in a virtualenv of the recipe's own.
    venv = paths["venv"]
    _run([sys.executable, "-m", "venv", venv])
    pins = [f"{n}=={v}" for n, v in sorted(r["python"].items())]
    _run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", *pins])

    # The compilers, and the Python meson asks about the target: the build
    # machine's, answering sysconfig questions as the component's CPython.
    bin_dir = paths["bin"]
    os.makedirs(bin_dir)
    for name in ("wasi-cc", "wasi-c++"):
        shutil.copyfile(os.path.join(HERE, "toolchain", "wasi-cc"), os.path.join(bin_dir, name))
        os.chmod(os.path.join(bin_dir, name), 0o755)
    pyconf = os.path.join(root, "pyconf")
    os.makedirs(pyconf)
    shutil.copyfile(
        os.path.join(target, f"{SYSCONFIG_NAME}.py"), os.path.join(pyconf, f"{SYSCONFIG_NAME}.py")
    )
    wasi_python = os.path.join(bin_dir, "wasi-python")
    _wasi_python(wasi_python, venv, pyconf)
    llvm_bin = os.path.join(r["llvm"], "bin")
    with open(os.path.join(root, "cross.ini"), "w") as f:
        f.write(
            "[binaries]\n"
            f"c = '{bin_dir}/wasi-cc'\n"
            f"cpp = '{bin_dir}/wasi-c++'\n"
            f"ar = '{llvm_bin}/llvm-ar'\n"
            f"ranlib = '{llvm_bin}/llvm-ranlib'\n"
            f"strip = '{llvm_bin}/llvm-strip'\n"
            f"nm = '{llvm_bin}/llvm-nm'\n"
            f"python = '{wasi_python}'\n"
            f"cython = '{venv}/bin/cython'\n"
            "\n[properties]\n"
            "needs_exe_wrapper = true\n"
            "skip_sanity_check = true\n"
            "longdouble_format = 'IEEE_QUAD_LE'\n"
            "\n[host_machine]\n"
            "system = 'wasi'\n"
            "cpu_family = 'wasm32'\n"
            "cpu = 'wasm32'\n"
            "endian = 'little'\n"
        )
    with open(os.path.join(root, ".complete"), "w") as f:
        f.write("")
    return paths


# ------------------------------------------------------ build virtualenvs


def _python_version(python: str) -> tuple[int, int] | None:
    """The version of the Python at `python`, if it runs and can make a
    virtualenv with pip."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys, venv, ensurepip; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    words = done.stdout.split()[-2:]
    if len(words) != 2 or not all(w.isdigit() for w in words):
        return None
    return int(words[0]), int(words[1])


def find_build_python(minimum: str) -> str:
    """A Python >= `minimum` on this machine for a build virtualenv:
    MFW_BUILD_PYTHON, else the one running this recipe if it is new enough,
    else python3.13 or python3.12 on PATH (a pyenv shim that is not
    selected fails to run and is passed over), else pyenv's installed 3.13
    or 3.12."""
    want = tuple(int(p) for p in minimum.split("."))
    chosen = os.environ.get("MFW_BUILD_PYTHON")
    if chosen:
        version = _python_version(chosen)
        if version is None or version < want:
            raise RecipeError(
                f"MFW_BUILD_PYTHON={chosen} is not a Python >= {minimum} that can make a "
                "virtualenv (it needs the venv and ensurepip modules)"
            )
        return chosen
    candidates = [sys.executable] + [shutil.which(f"python3.{minor}") for minor in (13, 12)]
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = glob.glob(os.path.join(pyenv, "versions", "3.1[23]*", "bin", "python3"))
    candidates += sorted(found, reverse=True)
    for python in candidates:
        if python:
            version = _python_version(python)
            if version is not None and version >= want:
                return python
    raise RecipeError(
        f"this build needs a Python >= {minimum} for its build tools (this machine's python3 "
        f"is {sys.version_info[0]}.{sys.version_info[1]}): install python3.13 or python3.12 "
        "(with its venv module), e.g. `pyenv install 3.13`, or name one with "
        "MFW_BUILD_PYTHON=/path/to/python3.13"
    )


def build_venv(tools: dict, name: str) -> dict:
    """The virtualenv of `[toolchain.NAME]` with its build tools, made once
    per toolchain key: `python` is the toolchain's own, on the Python that
    runs this recipe; another names the Python version it needs
    (`requires-python`), its pins and the patches applied to the installed
    copies (in site-packages, -p1)."""
    if name == "python":
        return {
            "venv": tools["venv"],
            "wasi-python": os.path.join(tools["bin"], "wasi-python"),
        }
    r = recipes()["toolchain"].get(name)
    if not isinstance(r, dict) or "requires-python" not in r:
        raise RecipeError(f"recipes.toml has no build virtualenv [toolchain.{name}]")
    root = os.path.join(tools["root"], name)
    paths = {
        "venv": os.path.join(root, "venv"),
        "wasi-python": os.path.join(root, "wasi-python"),
    }
    return _made_once(
        tools["cache"],
        f"toolchain {os.path.basename(tools['root'])} {name}",
        lambda: paths if os.path.exists(os.path.join(root, ".complete")) else None,
        lambda: _make_build_venv(tools, name, r, paths),
    )


def _make_build_venv(tools: dict, name: str, r: dict, paths: dict) -> dict:
    """Makes the build virtualenv `paths` name, under its lock; returns
    `paths`."""
    root = os.path.dirname(paths["venv"])
    python = find_build_python(r["requires-python"])
    _say(f"preparing the build tools of [toolchain.{name}] on {python} (once)")
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    venv = paths["venv"]
    _run([python, "-m", "venv", venv])
    pins = [f"{n}=={v}" for n, v in sorted(_venv_pins(name).items())]
    _run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", *pins])
    site = _venv_path(venv, "purelib")
    for patch in r.get("patches", []):
        _run(["patch", "-p1", "-s", "-i", os.path.join(HERE, "patches", patch)], cwd=site)
    _wasi_python(paths["wasi-python"], venv, os.path.join(tools["root"], "pyconf"))
    with open(os.path.join(root, ".complete"), "w") as f:
        f.write("")
    return paths


def _venv_pins(name: str) -> dict[str, str]:
    """The build tools a virtualenv pins: `[toolchain.python]` is all pins;
    another has them under `pins`."""
    r = recipes()["toolchain"]
    if name == "python":
        return r["python"]
    if not isinstance(r.get(name), dict) or "pins" not in r[name]:
        raise RecipeError(f"recipes.toml has no build virtualenv [toolchain.{name}]")
    return r[name]["pins"]


def _wasi_python(path: str, venv: str, pyconf: str) -> None:
    """The build machine's Python (of `venv`), answering sysconfig questions
    as the component's CPython: what meson asks about the target."""
    with open(path, "w") as f:
        f.write(
            "#!/bin/sh\n"
            "# The build machine's Python, answering sysconfig as the component's CPython.\n"
            f"export _PYTHON_SYSCONFIGDATA_NAME={SYSCONFIG_NAME}\n"
            f'export PYTHONPATH="{pyconf}${{MFW_WASI_STUBS:+:$MFW_WASI_STUBS}}"\n'
            f'exec "{os.path.join(venv, "bin", "python")}" "$@"\n'
        )
    os.chmod(path, 0o755)


# ---------------------------------------------------------------- libraries


def _library_dir(cache: str, name: str, version: str) -> str:
    key = library_key(name, version)
    return os.path.join(cache, "libraries", f"{normalize(name)}-{version}-{key}")


def _wasi_env(tools: dict, venv: str, stubs: str) -> dict:
    """The environment a native build runs in: the wasm32 compilers first
    on PATH, and what toolchain/wasi-cc reads."""
    env = dict(os.environ)
    env.update(
        {
            "PATH": os.pathsep.join([tools["bin"], os.path.join(venv, "bin"), env.get("PATH", "")]),
            "CC": os.path.join(tools["bin"], "wasi-cc"),
            "CXX": os.path.join(tools["bin"], "wasi-c++"),
            "MFW_WASI_LLVM": tools["llvm"],
            "MFW_WASI_SYSROOT": tools["sysroot"],
            "MFW_WASI_HEADERS": tools["headers"],
            "MFW_WASI_HOST_INC": _venv_path(venv, "include"),
            "MFW_WASI_STUBS": stubs,
            "PYTHONPATH": stubs,
            "SOURCE_DATE_EPOCH": "0",
        }
    )
    return env


def _prepare_source(e: dict, cache: str, project: str, work: str, log: str) -> str:
    """The entry's source release, unpacked in `work`, patched, and its
    scripts run; returns the directory the build runs in."""
    sdist = _fetch_sdist(project, e, cache)
    with tarfile.open(sdist) as t:
        t.extractall(work, filter="data")
    src = os.path.join(work, e["sdist"].removesuffix(".tar.gz"), e.get("source", ""))
    if "patch" in e:
        _run(["patch", "-p1", "-s", "-i", os.path.join(HERE, "patches", e["patch"])], log, cwd=src)
    for script, *args in e.get("scripts", []):
        _run([sys.executable, os.path.join(HERE, "scripts", script), *args], log, cwd=src)
    return src


def build_library(name: str, version: str, cache: str, target: str, jobs: int | None = None) -> str:
    """Builds the native library `name==version` with make into an install
    prefix (lib/, include/, lib/pkgconfig/) unless cached; returns it."""
    e = library_entry(name, version)
    done = _library_dir(cache, name, version)
    return _made_once(
        cache,
        f"library {normalize(name)} {version}",
        lambda: done if os.path.exists(os.path.join(done, "recipe.json")) else None,
        lambda: _make_library(name, version, e, done, cache, target, jobs),
    )


def _make_library(
    name: str, version: str, e: dict, done: str, cache: str, target: str, jobs: int | None
) -> str:
    """Builds the library into `done`, under its lock; returns `done`."""
    for tool, package in (("make", "make"), ("cc", "gcc")):
        if shutil.which(tool) is None:
            raise RecipeError(f"building {name} needs {tool}: `apt-get install {package}`")
    tools = toolchain(cache, target)
    work = tempfile.mkdtemp(prefix=f"{normalize(name)}-", dir=os.path.join(cache, "toolchain"))
    log = os.path.join(cache, "logs", f"{normalize(name)}-{version}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    if os.path.exists(log):
        os.remove(log)
    staging = done + f".{os.getpid()}"
    try:
        src = _prepare_source(e, cache, e.get("pypi", name), work, log)
        _say(f"building the library {name} {version} for wasm32 (log: {log})")
        env = _wasi_env(tools, tools["venv"], os.path.join(work, "stubs"))
        llvm_bin = os.path.join(tools["llvm"], "bin")
        variables = {
            "CC": env["CC"],
            "HOSTCC": "cc",
            "AR": os.path.join(llvm_bin, "llvm-ar"),
            "RANLIB": os.path.join(llvm_bin, "llvm-ranlib"),
            **e.get("make-vars", {}),
        }
        # Some makefiles run make again through $(shell ...), which sees the
        # environment but not the command line: the entry says which.
        for var in e.get("make-env", []):
            env[var] = variables[var]
        assigns = [f"{k}={v}" for k, v in variables.items()]
        make = ["make", f"-j{jobs or os.cpu_count() or 1}", *assigns]
        _run([*make, *e.get("make-targets", [])], log, env=env, cwd=src)
        os.makedirs(staging)
        _run([*make, f"PREFIX={staging}", "install"], log, env=env, cwd=src)
        for leftover in e.get("remove-from-prefix", []):
            shutil.rmtree(os.path.join(staging, leftover), ignore_errors=True)
        _relocatable_pkgconfig(staging)
        _publish(
            staging, done, log, {"library": normalize(name)}, version, e, library_key(name, version)
        )
        return done
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def _relocatable_pkgconfig(prefix: str) -> None:
    """The prefix's pkg-config files name it as `${pcfiledir}/../..`, so
    the cached prefix works wherever the cache is."""
    pc_dir = os.path.join(prefix, "lib", "pkgconfig")
    for name in os.listdir(pc_dir) if os.path.isdir(pc_dir) else []:
        path = os.path.join(pc_dir, name)
        text = _read(path).replace(prefix, "${pcfiledir}/../..")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


# ------------------------------------------------------------------- wheels


def _fetch_sdist(name: str, e: dict, cache: str) -> str:
    """The pinned source release, from the cache or the package index."""
    sdists = os.path.join(cache, "sdists")
    os.makedirs(sdists, exist_ok=True)
    path = os.path.join(sdists, e["sdist"])
    if os.path.exists(path) and _sha256(path) == e["sha256"]:
        return path
    _say(f"downloading {e['sdist']}")
    url = _sdist_url(name, e["sdist"])
    part = path + f".{os.getpid()}.part"
    urllib.request.urlretrieve(url, part)
    digest = _sha256(part)
    if digest != e["sha256"]:
        os.remove(part)
        raise RecipeError(f"{e['sdist']} has sha256 {digest}, not the pinned {e['sha256']}")
    os.replace(part, path)
    return path


def _sdist_url(name: str, filename: str) -> str:
    """Where the index pip uses (PIP_INDEX_URL, or pip's default) serves
    `filename`, through the index's JSON API (PEP 691)."""
    index = os.environ.get("PIP_INDEX_URL")
    if not index:
        from pip._internal.models.index import PyPI

        index = PyPI.simple_url
    request = urllib.request.Request(
        f"{index.rstrip('/')}/{normalize(name)}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        files = json.load(response)["files"]
    for f in files:
        if f["filename"] == filename:
            return f["url"]
    raise RecipeError(f"the package index has no {filename}")


def _stub_package(stubs: str, name: str, version: str, site: str) -> None:
    """A stand-in for a native build dependency in the build machine's
    Python: the build asks it only for its version and include directory,
    which are the wasm32 build's, and Cython reads its declarations
    (`cimport numpy`), which are copied."""
    os.makedirs(os.path.join(stubs, name), exist_ok=True)
    # Subpackages' too (scikit-learn cimports scipy.linalg.cython_blas).
    for root, _dirs, files in os.walk(os.path.join(site, name)):
        into = os.path.join(stubs, os.path.relpath(root, site))
        for pxd in files:
            if pxd.endswith(".pxd"):
                os.makedirs(into, exist_ok=True)
                shutil.copyfile(os.path.join(root, pxd), os.path.join(into, pxd))
    include = os.path.join(site, name, "_core", "include") if name == "numpy" else site
    with open(os.path.join(stubs, name, "__init__.py"), "w") as f:
        f.write(
            f"# The wasm32 {name} a native build compiles against (mfw's wheel recipe).\n"
            f"__version__ = {version!r}\n\n\n"
            f"def get_include():\n    return {include!r}\n"
        )


def _wheel_dir(cache: str, name: str, version: str) -> str:
    key = wheel_key(name, version)
    return os.path.join(cache, "wheels", f"{normalize(name)}-{version}-{key}")


def wheel_path(cache: str, name: str, version: str) -> str | None:
    """The cached wheel for `name==version`, if it was built."""
    done = _wheel_dir(cache, name, version)
    if not os.path.isdir(done):
        return None
    wheels = [f for f in os.listdir(done) if f.endswith(".whl")]
    return os.path.join(done, wheels[0]) if wheels else None


def build(
    name: str,
    version: str,
    cache: str,
    target: str,
    jobs: int | None = None,
    share: list[str] | None = None,
) -> str:
    """Builds `name==version` (and the native packages it builds against)
    unless cached; returns the wheel's path. With `share` (a command, run
    as `share pull|push ENTRY --cache CACHE`), a wheel someone else built is
    fetched instead of built, and one built here is shared."""
    e = entry(name, version)
    if share and not wheel_path(cache, name, version):
        _share(share, "pull", cache, name, version)
    return _made_once(
        cache,
        f"wheel {normalize(name)} {version}",
        lambda: wheel_path(cache, name, version),
        lambda: _make_wheel(name, version, e, cache, target, jobs, share),
    )


def _make_wheel(
    name: str,
    version: str,
    e: dict,
    cache: str,
    target: str,
    jobs: int | None,
    share: list[str] | None,
) -> str:
    """Builds the wheel (and what it builds with), under its lock."""
    tools = toolchain(cache, target)
    venv_name = e.get("build-venv", "python")
    venv = build_venv(tools, venv_name)
    pinned = {normalize(n) for n in _venv_pins(venv_name)}
    # Native build dependencies: built first. A package's wheel is unpacked
    # where the stub points the build for its headers (unless the build
    # virtualenv has the package itself: then only its headers and
    # pkg-config file are the wasm32 build's); a library's install prefix
    # is cached as it is.
    work = tempfile.mkdtemp(prefix=f"{normalize(name)}-", dir=os.path.join(cache, "toolchain"))
    log = os.path.join(cache, "logs", f"{normalize(name)}-{version}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    if os.path.exists(log):
        os.remove(log)
    try:
        stubs = os.path.join(work, "stubs")
        os.makedirs(stubs)
        site = os.path.join(work, "site")
        pkg_config: list[str] = []
        properties: dict[str, str] = {}
        prefixes: list[str] = []
        for dep, dep_version in sorted(e.get("build-with", {}).items()):
            if is_library(dep):
                prefix = build_library(dep, dep_version, cache, target, jobs)
                pkg_config.append(os.path.join(prefix, "lib", "pkgconfig"))
                prefixes.append(prefix)
                continue
            dep_wheel = build(dep, dep_version, cache, target, jobs, share)
            with zipfile.ZipFile(dep_wheel) as z:
                z.extractall(site)
            top = os.path.join(site, dep)
            pkg_config += sorted(
                os.path.dirname(pc)
                for pc in glob.glob(os.path.join(top, "**", "*.pc"), recursive=True)
            )
            if normalize(dep) == "numpy":
                # scipy reads it; a cross build asks no numpy of the build machine.
                properties["numpy-include-dir"] = os.path.join(top, "_core", "include")
            if normalize(dep) not in pinned:
                _stub_package(stubs, dep, dep_version, site)
        _say(f"building {name} {version} for wasm32 (log: {log})")
        src = _prepare_source(e, cache, name, work, log)
        env = _wasi_env(tools, venv["venv"], stubs)
        # Known, documented signature mismatches the link may keep (see
        # toolchain/wasi-cc): any other fails the build.
        env["MFW_WASI_SIGNATURE_MISMATCH_OK"] = " ".join(e.get("signature-mismatch-ok", []))
        build_cross = os.path.join(work, "build.ini")
        _build_cross_file(build_cross, e, venv, pkg_config, properties)
        setup = [
            f"--cross-file={os.path.join(tools['root'], 'cross.ini')}",
            f"--cross-file={build_cross}",
            *e.get("meson-args", []),
        ]
        out = os.path.join(work, "dist")
        cmd = [
            os.path.join(venv["venv"], "bin", "python"),
            "-m",
            "pip",
            "wheel",
            # The build's own output (ninja's steps), for the log and the
            # progress lines.
            "--verbose",
            "--no-build-isolation",
            "--no-deps",
            "-w",
            out,
            *[f"-Csetup-args={a}" for a in setup],
            f"-Ccompile-args=-j{jobs or os.cpu_count() or 1}",
            src,
        ]
        _run(cmd, log, progress=f"{name} {version}", env=env, cwd=work)
        built = [f for f in os.listdir(out) if f.endswith(".whl")]
        if len(built) != 1:
            raise RecipeError(f"the build of {name} made {built}, not one wheel")
        _check_wasm(os.path.join(out, built[0]), name)
        _forget_paths(os.path.join(out, built[0]), [tools["root"], work, *prefixes, HERE])
        final = _wheel_dir(cache, name, version)
        staging = final + f".{os.getpid()}"
        os.makedirs(staging)
        shutil.move(
            os.path.join(out, built[0]),
            os.path.join(staging, f"{re.sub('[-.]+', '_', normalize(name))}-{version}-{TAG}.whl"),
        )
        _publish(
            staging, final, log, {"name": normalize(name)}, version, e, wheel_key(name, version)
        )
        if share:
            _share(share, "push", cache, name, version)
        return wheel_path(cache, name, version) or final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_cross_file(
    path: str, e: dict, venv: dict, pkg_config: list[str], properties: dict[str, str]
) -> None:
    """The second cross file of one build, over the toolchain's: the build
    virtualenv's Python and Cython, pkg-config limited to the .pc files of
    the wasm32 builds it builds with (never the build machine's), and the
    entry's extra compile and link flags (`c-args`, `cpp-args`,
    `c-link-args`, `cpp-link-args`; `include-shims` puts shims/ first on
    the include path)."""

    def quoted(items: list[str]) -> str:
        return "[" + ", ".join(repr(i) for i in items) + "]"

    lines = [
        "[binaries]",
        f"python = {venv['wasi-python']!r}",
        f"cython = {os.path.join(venv['venv'], 'bin', 'cython')!r}",
    ]
    pkg_config_bin = shutil.which("pkg-config") or shutil.which("pkgconf")
    if pkg_config_bin:
        lines.append(f"pkg-config = {pkg_config_bin!r}")
    elif pkg_config:
        raise RecipeError("this build needs pkg-config: `apt-get install pkg-config`")
    lines += ["", "[properties]", f"pkg_config_libdir = {quoted(pkg_config)}"]
    lines += [f"{k} = {v!r}" for k, v in sorted(properties.items())]
    shims = [f"-I{os.path.join(HERE, 'shims')}"] if e.get("include-shims") else []
    c_args = shims + e.get("c-args", [])
    cpp_args = shims + e.get("cpp-args", [])
    link_args = {k: e.get(k.replace("_", "-"), []) for k in ("c_link_args", "cpp_link_args")}
    if c_args or cpp_args or any(link_args.values()):
        lines += ["", "[built-in options]", f"c_args = {quoted(c_args)}"]
        lines.append(f"cpp_args = {quoted(cpp_args)}")
        lines += [f"{k} = {quoted(v)}" for k, v in link_args.items() if v]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def _share(share: list[str], direction: str, cache: str, name: str, version: str) -> None:
    """Fetches (`pull`) or shares (`push`) one wheel through the team's
    datastore. A datastore that cannot be reached costs a build, not the
    build: the failure is reported and the recipe goes on."""
    entry_name = os.path.basename(_wheel_dir(cache, name, version))
    done = subprocess.run(
        [*share, direction, entry_name, "--cache", cache],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    message = done.stderr.strip()
    if done.returncode != 0:
        _say(f"cannot {direction} {entry_name} through the datastore: {message}")
    elif message:
        print(message, file=sys.stderr, flush=True)


def _venv_path(venv: str, kind: str) -> str:
    """One of the venv's install paths (`purelib`, `include`), as its own
    interpreter reports it: the host Python's may differ."""
    done = subprocess.run(
        [
            os.path.join(venv, "bin", "python"),
            "-c",
            f"import sysconfig; print(sysconfig.get_paths()[{kind!r}])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _forget_paths(wheel: str, paths: list[str]) -> None:
    """Rewrites the wheel with `paths` (where this machine keeps the
    toolchain and built the package) replaced by placeholders in the files
    that record them (numpy's __config__.py names its compilers), so the
    same recipe gives the same wheel wherever the cache is. RECORD's hashes
    follow."""
    import base64

    marks = [(p.encode(), f"<mfw-wheel-build-{i}>".encode()) for i, p in enumerate(paths)]
    with zipfile.ZipFile(wheel) as z:
        members = [(info, z.read(info)) for info in z.infolist()]
    changed: dict[str, bytes] = {}
    for info, data in members:
        new = data
        for path, mark in marks:
            new = new.replace(path, mark)
        if new != data:
            changed[info.filename] = new
    if not changed:
        return

    def record_line(line: str) -> str:
        name = line.split(",", 1)[0]
        if name not in changed:
            return line
        digest = base64.urlsafe_b64encode(hashlib.sha256(changed[name]).digest()).rstrip(b"=")
        return f"{name},sha256={digest.decode()},{len(changed[name])}"

    part = wheel + ".part"
    with zipfile.ZipFile(part, "w") as out:
        for info, data in members:
            data = changed.get(info.filename, data)
            if info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines()
                data = ("\n".join(record_line(line) for line in lines) + "\n").encode()
            out.writestr(info, data)
    os.replace(part, wheel)


def _check_wasm(wheel: str, name: str) -> None:
    """Every extension in the wheel is a wasm module named for the
    component's CPython, or componentize-py would not bundle it."""
    with zipfile.ZipFile(wheel) as z:
        extensions = [i for i in z.namelist() if i.endswith(".so")]
        if not extensions:
            raise RecipeError(f"the build of {name} has no extension modules")
        for ext in extensions:
            if not ext.endswith(".cpython-314-wasm32-wasi.so"):
                raise RecipeError(f"{ext} in {name}'s build is not named for CPython 3.14 wasm32")
            if z.read(ext)[:4] != b"\0asm":
                raise RecipeError(f"{ext} in {name}'s build is not WebAssembly")


def cached(cache: str) -> list[dict]:
    """What the cache holds: one entry per built wheel."""
    root = os.path.join(cache, "wheels")
    out = []
    for d in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        info = os.path.join(root, d, "recipe.json")
        if not os.path.exists(info):
            continue
        with open(info) as f:
            item = json.load(f)
        wheels = [w for w in os.listdir(os.path.join(root, d)) if w.endswith(".whl")]
        if wheels:
            path = os.path.join(root, d, wheels[0])
            item.update(
                {
                    "path": path,
                    "size": os.path.getsize(path),
                    "current": wheel_path(cache, item["name"], item["version"]) == path,
                }
            )
            out.append(item)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recipe.py")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("specs", nargs="+", metavar="NAME==VERSION")
    b.add_argument("--cache", required=True)
    b.add_argument("--target", required=True)
    b.add_argument("--jobs", type=int)
    b.add_argument(
        "--share", help="JSON list: the command that fetches and shares wheels (mfw's datastore)"
    )
    c = sub.add_parser("list")
    c.add_argument("--cache", required=True)
    sub.add_parser("known")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for spec in args.specs:
                name, sep, version = spec.partition("==")
                if not sep:
                    raise RecipeError(
                        f"{spec!r}: write NAME==VERSION (one of {json.dumps(known())})"
                    )
                share = json.loads(args.share) if args.share else None
                name, version = name.strip(), version.strip()
                if is_library(name):
                    # A library alone (packages build it when they need it).
                    print(build_library(name, version, args.cache, args.target, args.jobs))
                    continue
                was_cached = wheel_path(args.cache, name, version) is not None
                print(build(name, version, args.cache, args.target, args.jobs, share))
                # Asked for by name: shared even when it was already cached
                # (a flow's build shares only what it built).
                if share and was_cached:
                    _share(share, "push", args.cache, name, version)
        elif args.command == "list":
            print(json.dumps(cached(args.cache)))
        else:
            print(json.dumps(known()))
    except RecipeError as e:
        print(f"mfw: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
