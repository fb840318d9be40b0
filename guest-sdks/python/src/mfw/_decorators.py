"""`@step` and Metaflow's decorators, recorded for the graph.

Decorators only record themselves here; the host enforces what they mean
(retries, timeouts, resources, ...). An option a decorator does not have is
an error when the flow file is loaded, i.e. at build time, as in Metaflow.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any

from ._errors import FlowDefinitionError

# Each decorator and the options it takes (with Metaflow's defaults, for
# documentation; only options given explicitly are recorded).
STEP_DECORATORS: dict[str, dict[str, Any]] = {
    "retry": {"times": 3, "minutes_between_retries": 2},
    "catch": {"var": None, "print_exception": True},
    "timeout": {"seconds": 0, "minutes": 0, "hours": 0},
    "resources": {"cpu": 1, "gpu": None, "memory": 4096, "disk": None, "shared_memory": None},
    "kubernetes": {
        "cpu": 1,
        "memory": 4096,
        "disk": 10240,
        "gpu": None,
        "image": None,
        "image_pull_policy": None,
        "image_pull_secrets": None,
        "namespace": None,
        "node_selector": None,
        "tolerations": None,
        "service_account": None,
        "secrets": None,
        "labels": None,
        "annotations": None,
        # Metaflow's options for what a task's container holds (scratch
        # space, volumes, ports, its Python) and for Outerbounds' pools:
        # accepted, so a flow runs unchanged, and of no effect, as a step's
        # sandbox reaches no file, port or process the graph does not grant.
        "gpu_vendor": None,
        "use_tmpfs": None,
        "tmpfs_tempdir": True,
        "tmpfs_size": None,
        "tmpfs_path": "/metaflow_temp",
        "persistent_volume_claims": None,
        "shared_memory": None,
        "port": None,
        "compute_pool": None,
        "executable": None,
        "hostname_resolution_timeout": 600,
        "qos": "Burstable",
        "extended_resources": {},
        "security_context": None,
    },
    "environment": {"vars": {}},
    # disabled: recorded; a component's packages are its flow's, for all
    # of its steps.
    "pypi": {"packages": {}, "python": None, "disabled": None},
    # Metaflow's conda decorators: their packages resolve like @pypi's
    # (native ones built by mfw's wheel recipe), since a component carries
    # its own CPython.
    "conda": {"packages": {}, "libraries": {}, "python": None, "disabled": False},
    # Capabilities: a step reaches nothing outside its artifacts unless
    # granted. read/write map guest paths to host directories.
    # Metaflow's cards: recorded; a step adds components through
    # `current.card`, stored with the task for `mfw ui`.
    "card": {
        "type": "default",
        "id": None,
        "options": {},
        "timeout": 45,
        "save_errors": True,
        "customize": False,
        "refresh_interval": 5,
        "scope": "task",
        "rank": None,
    },
    "grant": {
        "read": {},
        "write": {},
        "env": [],
        "network": [],
        "clock": False,
        "random": False,
    },
}

FLOW_DECORATORS: dict[str, dict[str, Any]] = {
    "schedule": {"hourly": False, "daily": True, "weekly": False, "cron": None, "timezone": None},
    # A branch of one's own (`test.BRANCH`) or production (`prod`), as
    # `current.branch_name` gives them; else the user's (`user.NAME`).
    "project": {"name": None, "branch": None, "production": False},
    "pypi_base": {"packages": {}, "python": None, "disabled": None},
    "conda_base": {"packages": {}, "libraries": {}, "python": None, "disabled": False},
    # Metaflow's event triggers, recorded in the graph: they start runs
    # where flows are deployed (`mfw kubernetes`), not in a local run.
    "trigger": {"event": None, "events": [], "options": {}},
    "trigger_on_finish": {"flow": None, "flows": [], "options": {}},
}


def _caller() -> tuple[str | None, int | None]:
    """The file and line of the user's code that applied a decorator."""
    frame = inspect.currentframe()
    here = __file__
    while frame is not None and frame.f_code.co_filename == here:
        frame = frame.f_back
    if frame is None:
        return None, None
    return frame.f_code.co_filename, frame.f_lineno


def _json(name: str, key: str, value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        path, line = _caller()
        raise FlowDefinitionError(
            f"@{name}({key}=...) must be plain data (numbers, strings, lists, dicts): {e}",
            path,
            line,
        ) from None


def step(func: Callable) -> Callable:
    """Marks a method of a FlowSpec as a step.

    A step takes `self`, or `self, inputs` for a join, and ends with
    `self.next(...)` (except `end`).

    >>> @step
    ... def start(self):
    ...     pass
    >>> start._mfw_step
    True
    """
    if not callable(func):
        path, line = _caller()
        raise FlowDefinitionError("@step goes on a method: def start(self): ...", path, line)
    func._mfw_step = True  # type: ignore[attr-defined]
    if not hasattr(func, "_mfw_decorators"):
        func._mfw_decorators = []  # type: ignore[attr-defined]
    return func


def _check_options(name: str, options: dict[str, Any], allowed: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        path, line = _caller()
        raise FlowDefinitionError(
            f"@{name} has no option {unknown[0]!r}; its options are: {', '.join(allowed)}",
            path,
            line,
        )


def _make(name: str, allowed: dict[str, Any], target: str) -> Callable:
    def decorator(obj: Any = None, **options: Any) -> Any:
        _check_options(name, options, allowed)
        recorded = [(key, _json(name, key, value)) for key, value in options.items()]

        def apply(target_obj: Any) -> Any:
            if target == "flow":
                if not isinstance(target_obj, type):
                    path, line = _caller()
                    raise FlowDefinitionError(f"@{name} decorates a flow class", path, line)
                # Outermost first: decorators apply bottom-up.
                own = list(target_obj.__dict__.get("_mfw_flow_decorators", []))
                target_obj._mfw_flow_decorators = [(name, recorded), *own]
            else:
                if not callable(target_obj) or isinstance(target_obj, type):
                    path, line = _caller()
                    raise FlowDefinitionError(f"@{name} decorates a step method", path, line)
                existing = getattr(target_obj, "_mfw_decorators", [])
                target_obj._mfw_decorators = [(name, recorded), *existing]
            return target_obj

        if obj is not None:
            return apply(obj)
        return apply

    decorator.__name__ = name
    decorator.__doc__ = (
        f"Metaflow's @{name}; options: {', '.join(allowed)}. Recorded in the flow's graph."
    )
    return decorator


retry = _make("retry", STEP_DECORATORS["retry"], "step")
catch = _make("catch", STEP_DECORATORS["catch"], "step")
timeout = _make("timeout", STEP_DECORATORS["timeout"], "step")
resources = _make("resources", STEP_DECORATORS["resources"], "step")
kubernetes = _make("kubernetes", STEP_DECORATORS["kubernetes"], "step")
environment = _make("environment", STEP_DECORATORS["environment"], "step")
pypi = _make("pypi", STEP_DECORATORS["pypi"], "step")
conda = _make("conda", STEP_DECORATORS["conda"], "step")
grant = _make("grant", STEP_DECORATORS["grant"], "step")
card = _make("card", STEP_DECORATORS["card"], "step")


def cache(enabled: Any = True) -> Callable:
    """Whether the step's tasks are taken from the cache.

    By default a task is not run when an earlier task had the same task key
    (the same code, inputs, parameters, decorators and grants): its results
    are reused. A step granted the real clock, randomness, the network,
    files or environment variables is never cached, nor one that reads
    `current.run_id`. `@cache(False)` always runs the step; `@cache(True)`
    caches it even then.

    >>> @cache(False)
    ... @step
    ... def fetch(self):
    ...     pass
    >>> fetch._mfw_decorators
    [('cache', [('enabled', 'false')])]
    """
    if callable(enabled):
        return cache(True)(enabled)
    if not isinstance(enabled, bool):
        path, line = _caller()
        raise FlowDefinitionError(
            f"@cache takes True or False, not {enabled!r}: write @cache(False)", path, line
        )
    return _make("cache", {"enabled": True}, "step")(enabled=enabled)


trigger = _make("trigger", FLOW_DECORATORS["trigger"], "flow")
trigger_on_finish = _make("trigger_on_finish", FLOW_DECORATORS["trigger_on_finish"], "flow")
schedule = _make("schedule", FLOW_DECORATORS["schedule"], "flow")
_project = _make("project", FLOW_DECORATORS["project"], "flow")


def project(obj: Any = None, **options: Any) -> Any:
    """Metaflow's @project: the flow's runs belong to project `name`, on the
    user's branch (`user.NAME`), a branch of its own (`branch="x"`:
    `test.x`) or production (`production=True`: `prod`, or `prod.x` with a
    branch); `current` gives them. Names are Metaflow's: lowercase letters,
    digits and underscores, at most 128.

    >>> from mfw import FlowSpec
    >>> @project(name="fraud", branch="new_model")
    ... class F(FlowSpec):
    ...     pass
    >>> F._mfw_flow_decorators
    [('project', [('name', '"fraud"'), ('branch', '"new_model"')])]
    """
    for key in ("name", "branch"):
        value = options.get(key)
        if key == "branch" and value is None:
            continue
        if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9_]{1,128}", value):
            path, line = _caller()
            raise FlowDefinitionError(
                f"@project({key}={value!r}): a project's {key} is 1 to 128 lowercase "
                "letters, digits and underscores, e.g. @project(name='fraud_model')",
                path,
                line,
            )
    return _project(obj, **options)


# Metaflow's @batch runs a step on AWS Batch. mfw's remote compute is
# Kubernetes, so a @batch step is a @kubernetes step with the resources it
# asks for: a flow written for AWS runs unchanged, locally or on the cluster
# (`--kubernetes decorated`). AWS's own options (queue, roles, volumes, and
# image: a Batch image holds no mfw worker) are accepted and of no effect.
BATCH_OPTIONS: dict[str, Any] = {
    "cpu": None,
    "gpu": None,
    "memory": None,
    "image": None,
    "queue": None,
    "iam_role": None,
    "execution_role": None,
    "shared_memory": None,
    "max_swap": None,
    "swappiness": None,
    "inferentia": None,
    "trainium": None,
    "efa": None,
    "host_volumes": None,
    "efs_volumes": None,
    "use_tmpfs": False,
    "aws_batch_tags": None,
    "tmpfs_tempdir": True,
    "tmpfs_size": None,
    "tmpfs_path": "/metaflow_temp",
    "ephemeral_storage": None,
    "log_driver": None,
    "log_options": None,
    "executable": None,
    "privileged": False,
}
BATCH_RESOURCES = ("cpu", "gpu", "memory")


def batch(obj: Any = None, **options: Any) -> Any:
    """Metaflow's @batch, as a @kubernetes step with the same cpu, gpu and
    memory; its AWS options are accepted and of no effect.

    >>> @batch(cpu=4, memory=16000, queue="ml-queue")
    ... @step
    ... def train(self):
    ...     pass
    >>> train._mfw_decorators[0]
    ('kubernetes', [('cpu', '4'), ('memory', '16000')])
    """
    _check_options("batch", options, BATCH_OPTIONS)
    kept = {k: v for k, v in options.items() if k in BATCH_RESOURCES and v is not None}
    return kubernetes(obj, **kept)


pypi_base = _make("pypi_base", FLOW_DECORATORS["pypi_base"], "flow")
conda_base = _make("conda_base", FLOW_DECORATORS["conda_base"], "flow")
