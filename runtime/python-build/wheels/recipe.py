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
    return _file_hash(
        json.dumps(r["toolchain"], sort_keys=True),
        _read(os.path.join(HERE, "toolchain", "wasi-cc")),
        _read(os.path.join(HERE, "toolchain", "no-exceptions.h")),
        str(RECIPE_VERSION),
    )[:16]


def wheel_key(name: str, version: str) -> str:
    """What a wheel is a function of: its entry, its patch, the toolchain,
    and the keys of the native packages it builds against."""
    e = entry(name, version)
    parts = [toolchain_key(), normalize(name), version, json.dumps(e, sort_keys=True)]
    if "patch" in e:
        parts.append(_read(os.path.join(HERE, "patches", e["patch"])))
    for dep, dep_version in sorted(e.get("build-with", {}).items()):
        parts.append(wheel_key(dep, dep_version))
    return _file_hash(*parts)[:16]


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
    root = os.path.join(cache, "toolchain", toolchain_key())
    paths = {
        "root": root,
        "llvm": r["llvm"],
        "sysroot": os.path.join(root, "sysroot"),
        "venv": os.path.join(root, "venv"),
        "bin": os.path.join(root, "bin"),
        "headers": os.path.join(HERE, "toolchain"),
        "target": target,
    }
    if os.path.exists(os.path.join(root, ".complete")):
        return paths
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
    with open(wasi_python, "w") as f:
        f.write(
            "#!/bin/sh\n"
            "# The build machine's Python, answering sysconfig as the component's CPython.\n"
            f"export _PYTHON_SYSCONFIGDATA_NAME={SYSCONFIG_NAME}\n"
            f'export PYTHONPATH="{pyconf}${{MFW_WASI_STUBS:+:$MFW_WASI_STUBS}}"\n'
            f'exec "{os.path.join(venv, "bin", "python")}" "$@"\n'
        )
    os.chmod(wasi_python, 0o755)
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
    for pxd in os.listdir(os.path.join(site, name)):
        if pxd.endswith(".pxd"):
            shutil.copyfile(os.path.join(site, name, pxd), os.path.join(stubs, name, pxd))
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
    cached = wheel_path(cache, name, version)
    if cached:
        return cached
    if share:
        _share(share, "pull", cache, name, version)
        cached = wheel_path(cache, name, version)
        if cached:
            return cached
    tools = toolchain(cache, target)
    # Native build dependencies: built first, unpacked where the stub
    # points the build for their headers.
    work = tempfile.mkdtemp(prefix=f"{normalize(name)}-", dir=os.path.join(cache, "toolchain"))
    log = os.path.join(cache, "logs", f"{normalize(name)}-{version}.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    if os.path.exists(log):
        os.remove(log)
    try:
        stubs = os.path.join(work, "stubs")
        os.makedirs(stubs)
        for dep, dep_version in sorted(e.get("build-with", {}).items()):
            dep_wheel = build(dep, dep_version, cache, target, jobs, share)
            site = os.path.join(work, "site")
            with zipfile.ZipFile(dep_wheel) as z:
                z.extractall(site)
            _stub_package(stubs, dep, dep_version, site)
        sdist = _fetch_sdist(name, e, cache)
        _say(f"building {name} {version} for wasm32 (log: {log})")
        with tarfile.open(sdist) as t:
            t.extractall(work, filter="data")
        src = os.path.join(work, e["sdist"].removesuffix(".tar.gz"))
        if "patch" in e:
            _run(
                ["patch", "-p1", "-s", "-i", os.path.join(HERE, "patches", e["patch"])],
                log,
                cwd=src,
            )
        env = dict(os.environ)
        env.update(
            {
                "PATH": os.pathsep.join(
                    [tools["bin"], os.path.join(tools["venv"], "bin"), env.get("PATH", "")]
                ),
                "CC": os.path.join(tools["bin"], "wasi-cc"),
                "CXX": os.path.join(tools["bin"], "wasi-c++"),
                "MFW_WASI_LLVM": tools["llvm"],
                "MFW_WASI_SYSROOT": tools["sysroot"],
                "MFW_WASI_HEADERS": tools["headers"],
                "MFW_WASI_HOST_INC": _host_include(tools["venv"]),
                "MFW_WASI_STUBS": stubs,
                "PYTHONPATH": stubs,
                "SOURCE_DATE_EPOCH": "0",
            }
        )
        setup = [
            f"--cross-file={os.path.join(tools['root'], 'cross.ini')}",
            *e.get("meson-args", []),
        ]
        out = os.path.join(work, "dist")
        cmd = [
            os.path.join(tools["venv"], "bin", "python"),
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
        _forget_paths(os.path.join(out, built[0]), [tools["root"], work])
        final = _wheel_dir(cache, name, version)
        staging = final + f".{os.getpid()}"
        os.makedirs(staging)
        shutil.move(
            os.path.join(out, built[0]),
            os.path.join(staging, f"{re.sub('[-.]+', '_', normalize(name))}-{version}-{TAG}.whl"),
        )
        with open(os.path.join(staging, "recipe.json"), "w") as f:
            json.dump(
                {
                    "name": normalize(name),
                    "version": version,
                    "sdist_sha256": e["sha256"],
                    "recipe": wheel_key(name, version),
                },
                f,
                sort_keys=True,
            )
        try:
            os.replace(staging, final)
        except OSError:
            shutil.rmtree(staging)  # another build got there first: same inputs
        os.remove(log)
        if share:
            _share(share, "push", cache, name, version)
        return wheel_path(cache, name, version) or final
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


def _host_include(venv: str) -> str:
    done = subprocess.run(
        [
            os.path.join(venv, "bin", "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
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
