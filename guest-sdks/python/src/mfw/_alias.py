"""`metaflow` as mfw. A Metaflow flow imports `from metaflow import
FlowSpec, step`; the real Metaflow cannot run in a component (it starts
subprocesses and writes its own datastore), and the flow needs only its
names. The build writes these sources as a `metaflow` package into every
component; the client lends them to a notebook without Metaflow while it
imports a flow's code to read an object of one of its classes.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator

# The package's files: `metaflow/NAME`.
METAFLOW_SOURCES = {
    "__init__.py": """\
\"\"\"mfw, under the name a Metaflow flow imports (`from metaflow import
FlowSpec, step`): the same objects as `mfw`'s.\"\"\"
from mfw import *  # noqa: F403
from mfw import __all__, __version__  # noqa: F401


def __getattr__(name):
    # `from metaflow import cards` looks for the attribute first.
    if name in ("cards", "exception"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name.startswith("_"):
        raise AttributeError(f"module 'metaflow' has no attribute {name!r}")
    # An ImportError, not an AttributeError, so that `from metaflow import
    # X` says this rather than only "cannot import name".
    raise ImportError(
        f"mfw has no metaflow.{name}: here `metaflow` is mfw, whose "
        "Metaflow API the mfw book lists (python.html); "
        + _INSTEAD.get(name, "write the flow without it"),
        name=__name__,
    )


# What to write instead of the names of Metaflow's that mfw lacks.
_MUTATOR = "write the decorator's effect in the step itself, or use mfw's decorators"
_DEPLOY = (
    "deploy with `mfw kubernetes deploy FLOW`; from Python, Runner(flow_file) or "
    "NBRunner(FlowClass) runs a flow"
)
_INSTEAD = {
    "FlowMutator": _MUTATOR,
    "StepMutator": _MUTATOR,
    "UserStepDecorator": _MUTATOR,
    "user_step_decorator": _MUTATOR,
    "USER_SKIP_STEP": _MUTATOR,
    "secrets": (
        "a step gets environment variables with @grant(env=[...]) or "
        "@environment(vars={...}), and Kubernetes Secrets with @kubernetes(secrets=[...])"
    ),
    "parallel": "there is no gang scheduling: fan out with foreach",
    "exit_hook": "run what should follow the flow from the `end` step, or with @catch",
    "Deployer": _DEPLOY,
    "DeployedFlow": _DEPLOY,
    "NBDeployer": _DEPLOY,
}
""",
    "cards.py": """\
\"\"\"mfw.cards, as `metaflow.cards`.\"\"\"
from mfw.cards import *  # noqa: F403
""",
    "exception.py": """\
\"\"\"Metaflow's exception names for mfw's errors: mfw raises MfwError
where Metaflow raises MetaflowException, MetaflowNotFound or another of
its own, so each of those names is MfwError here.\"\"\"
from mfw import MfwError

MetaflowException = MfwError
MetaflowNotFound = MfwError


def __getattr__(name):
    if name.startswith("Metaflow"):
        return MfwError
    raise AttributeError(f"module 'metaflow.exception' has no attribute {name!r}")
""",
}


@contextlib.contextmanager
def metaflow_as_mfw() -> Iterator[None]:
    """While inside, `import metaflow` gives mfw's objects, unless this
    Python has a `metaflow` imported already; after, the modules lent are
    taken back, so the notebook's own imports are unchanged (a flow module
    imported meanwhile keeps what it took).

    >>> with metaflow_as_mfw():
    ...     from metaflow import FlowSpec
    >>> import mfw
    >>> FlowSpec is mfw.FlowSpec
    True
    """
    if "metaflow" in sys.modules:
        yield
        return
    names = {
        file: "metaflow" if file == "__init__.py" else f"metaflow.{file.removesuffix('.py')}"
        for file in METAFLOW_SOURCES
    }
    modules = {}
    for name in names.values():
        module = types.ModuleType(name)
        module.__file__ = f"<mfw: {name}>"
        if name == "metaflow":
            module.__path__ = []  # a package, for `metaflow.cards`
        modules[name] = module
    sys.modules.update(modules)
    try:
        for file, name in names.items():
            module = modules[name]
            exec(compile(METAFLOW_SOURCES[file], module.__file__, "exec"), module.__dict__)
            if name != "metaflow":
                setattr(modules["metaflow"], name.removeprefix("metaflow."), module)
        yield
    finally:
        for name, module in modules.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
