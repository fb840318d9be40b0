"""The build's view of a flow's directory: what goes into its component."""

import os

from mfw._build import modules_to_preload, stage


def _touch(root, relative, text=""):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_preload_covers_lazy_imports_strptime_and_named_codecs(tmp_path):
    root = str(tmp_path)
    _touch(
        root,
        "flow.py",
        "import json\n"
        "def step():\n"
        "    import base64\n"
        "    from urllib import parse\n"
        "    import datetime\n"
        "    datetime.datetime.strptime('2024', '%Y')\n"
        "    open('x', encoding='cp1252')\n"
        "    b''.decode('Latin-1')\n",
    )
    _touch(root, "pkg/__init__.py", "from . import core\n")
    _touch(root, "pkg/sub/mod.py", "def f():\n    from .. import util\n    from .leaf import g\n")
    _touch(root, "top.py", "from . import nothing\n")
    preload = modules_to_preload(
        [os.path.join(root, p) for p in ["flow.py", "pkg/__init__.py", "pkg/sub/mod.py", "top.py"]],
        root,
    )
    for name in [
        "json",
        "base64",
        "urllib",
        "urllib.parse",
        "datetime",
        "_strptime",
        "encodings.cp1252",
        "encodings.latin_1",
        "pkg.core",
        "pkg.util",
        "pkg.sub.leaf",
        "pkg.sub.leaf.g",
    ]:
        assert name in preload, name
    # A relative import beyond the top level is not a module to load.
    assert not any(name.endswith("nothing") for name in preload)
    assert "encodings.x" not in preload


def _tree(root):
    """Every file and directory under `root`: path, bytes, modification time."""
    found = []
    for base, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            data = b"" if os.path.isdir(path) else open(path, "rb").read()
            found.append((os.path.relpath(path, root), data, os.stat(path).st_mtime_ns))
    return sorted(found)


def test_staging_hands_componentize_py_the_same_tree_every_time(flow_file, tmp_path_factory):
    path = flow_file(
        """
        from mfw import FlowSpec, step
        from helpers import twice

        class StagedFlow(FlowSpec):
            @step
            def start(self):
                self.x = twice(2)
                self.next(self.end)

            @step
            def end(self):
                pass
        """
    )
    _touch(str(path.parent), "helpers/__init__.py", "def twice(x):\n    return 2 * x\n")
    sdk = os.path.join(os.path.dirname(__file__), "..", "src")
    trees = []
    for _ in range(2):
        work = str(tmp_path_factory.mktemp("work"))
        code = ["flow.py", os.path.join("helpers", "__init__.py")]
        app, lock = stage(str(path), sdk, work, code)
        assert lock == []
        trees.append(_tree(app))
    assert trees[0] == trees[1]
    names = [name for name, _, _ in trees[0]]
    assert "flow.py" in names and os.path.join("helpers", "__init__.py") in names
    assert "mfw_app.py" in names


def test_code_that_connects_gets_the_idna_codec(tmp_path):
    root = str(tmp_path)
    _touch(root, "net.py", "def f():\n    import socket\n")
    _touch(root, "plain.py", "import json\n")
    preload = modules_to_preload([os.path.join(root, "net.py")], root)
    assert "encodings.idna" in preload
    assert "encodings.punycode" in preload
    assert "encodings.idna" not in modules_to_preload([os.path.join(root, "plain.py")], root)


def test_a_component_imports_metaflow_as_mfw_and_a_pinned_metaflow_is_left_out(
    flow_file, tmp_path_factory, capsys
):
    # Staging reads the flow, never runs it: its imports are what matters.
    path = flow_file("from metaflow import FlowSpec, step\n")
    _touch(str(path.parent), "requirements.txt", "metaflow==2.19.39\n")
    sdk = os.path.join(os.path.dirname(__file__), "..", "src")
    work = str(tmp_path_factory.mktemp("work"))
    app, lock = stage(str(path), sdk, work, ["flow.py"])
    # Metaflow itself is not downloaded: nothing is pinned but it.
    assert lock == []
    assert "metaflow==2.19.39 is not installed in the component" in capsys.readouterr().err
    # The staged `metaflow` package gives mfw's objects under Metaflow's names.
    import importlib
    import sys

    sys.path.insert(0, app)
    try:
        for name in ["metaflow", "metaflow.cards", "metaflow.exception"]:
            sys.modules.pop(name, None)
        metaflow = importlib.import_module("metaflow")
        cards = importlib.import_module("metaflow.cards")
        exception = importlib.import_module("metaflow.exception")
        import mfw
        import mfw.cards

        assert metaflow.__file__.startswith(app)
        for name in mfw.__all__:
            assert getattr(metaflow, name) is getattr(mfw, name), name
        assert cards.Markdown is mfw.cards.Markdown and cards.Table is mfw.cards.Table
        assert exception.MetaflowNotFound is mfw.MfwError
        assert exception.MetaflowInternalError is mfw.MfwError
        # Submodules come by `from metaflow import`, too.
        namespace: dict = {}
        exec("from metaflow import cards, exception", namespace)
        assert namespace["cards"] is cards and namespace["exception"] is exception
        # A name of Metaflow's that mfw lacks is named in the error.
        # A name of Metaflow's that mfw lacks is named in the error, with
        # what to write instead.
        for name, instead in [
            ("exit_hook", "from the `end` step"),
            ("secrets", "@grant(env=[...])"),
            ("Deployer", "mfw kubernetes deploy"),
            ("not_metaflows", "write the flow without it"),
        ]:
            try:
                exec(f"from metaflow import {name}", {})
            except ImportError as e:
                assert f"mfw has no metaflow.{name}" in str(e), e
                assert instead in str(e), e
            else:
                raise AssertionError(f"metaflow.{name} imported")
        assert not hasattr(metaflow, "_private")
    finally:
        sys.path.remove(app)
        for name in ["metaflow", "metaflow.cards", "metaflow.exception"]:
            sys.modules.pop(name, None)
