"""Every module of scikit-learn that imports in this Python, tests aside, as
the component's build imports them: the test checks the step's snapshot
holds each of them."""

import contextlib
import importlib
import io
import pkgutil

# What mfw's build leaves out (guest-sdks/python/src/mfw/_build.py).
SKIP = ("tests", "test", "conftest", "__main__", "setup", "_pyinstaller")


def compute() -> list[str]:
    import sklearn

    found = ["sklearn"]
    for info in sorted(
        pkgutil.walk_packages(sklearn.__path__, "sklearn.", onerror=lambda _name: None),
        key=lambda i: i.name,
    ):
        if any(part in SKIP for part in info.name.split(".")):
            continue
        try:
            # sklearn._build_utils.version prints the version when imported.
            with contextlib.redirect_stdout(io.StringIO()):
                importlib.import_module(info.name)
        except Exception:  # noqa: BLE001, S112 - one that needs an absent package
            continue
        found.append(info.name)
    return found
