"""Build time: load a flow file in the host's CPython and derive its graph.

As in Metaflow, the class says which methods are steps, which decorators
they carry and which parameters the flow takes; the source says where each
step goes next (its `self.next(...)` calls) and which steps are joins (a
second parameter, `inputs`).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import sys
from typing import Any

from . import _encoding
from ._errors import FlowDefinitionError
from ._flowspec import FlowSpec
from ._parameters import Parameter

SDK = "mfw-python/0.1.0"


def load_module(path: str) -> Any:
    """Imports the flow file as a module named after it, so defaults that
    use `__file__` see where it lives and `python flow.py` code does not
    run."""
    path = os.path.abspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FlowDefinitionError("cannot load this file as Python", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except FlowDefinitionError:
        raise
    except SyntaxError as e:
        raise FlowDefinitionError(f"syntax error: {e.msg}", path, e.lineno) from None
    except Exception as e:  # noqa: BLE001 - report any import-time failure with its place
        tb = e.__traceback__
        line = None
        while tb is not None:
            if os.path.abspath(tb.tb_frame.f_code.co_filename) == path:
                line = tb.tb_lineno
            tb = tb.tb_next
        raise FlowDefinitionError(
            f"loading the flow failed: {type(e).__name__}: {e}", path, line
        ) from None
    return module


def find_flow(module: Any, path: str) -> type:
    flows = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, FlowSpec)
        and value is not FlowSpec
        and value.__module__ == module.__name__
    ]
    if not flows:
        raise FlowDefinitionError(
            "defines no flow: subclass FlowSpec, e.g. class HelloFlow(FlowSpec)", path
        )
    if len(flows) > 1:
        names = ", ".join(f.__name__ for f in flows)
        raise FlowDefinitionError(f"defines several flows ({names}); keep one per file", path)
    return flows[0]


def _class_node(tree: ast.Module, name: str) -> ast.ClassDef | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    return None


def _self_attr(node: ast.AST) -> str | None:
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ):
        return node.attr
    return None


def _next_calls(func: ast.FunctionDef, path: str) -> list[tuple[list[str], str | None, int]]:
    """Every `self.next(...)` in a step: (targets, foreach, line)."""
    calls = []
    for node in ast.walk(func):
        if not (isinstance(node, ast.Call) and _self_attr(node.func) == "next"):
            continue
        targets = []
        for arg in node.args:
            name = _self_attr(arg)
            if name is None:
                raise FlowDefinitionError(
                    "self.next() takes steps as self.<step>, e.g. self.next(self.end)",
                    path,
                    node.lineno,
                )
            targets.append(name)
        foreach = None
        for keyword in node.keywords:
            if keyword.arg == "foreach":
                if not (
                    isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)
                ):
                    raise FlowDefinitionError(
                        "foreach= names an artifact as a string, e.g. foreach='n_trees'",
                        path,
                        node.lineno,
                    )
                foreach = keyword.value.value
            else:
                raise FlowDefinitionError(
                    f"self.next() has no option {keyword.arg!r} (mfw supports foreach=)",
                    path,
                    node.lineno,
                )
        calls.append((targets, foreach, node.lineno))
    # Source order, so the later of two differing calls is the one reported.
    return sorted(calls, key=lambda call: call[2])


def _decorators(items: list) -> list[dict]:
    return [{"name": name, "options": [list(o) for o in options]} for name, options in items]


def derive(path: str, partial: bool = False) -> dict:
    """The graph of the flow in `path`, as the host's JSON.

    `partial`: the flow's other steps are defined in other components (a
    flow manifest), so `self.next` may name steps this class lacks, and
    `start` may be elsewhere; the assembled flow is checked as a whole.
    """
    path = os.path.abspath(path)
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    module = load_module(path)
    flow = find_flow(module, shown)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(source, path)
    class_node = _class_node(tree, flow.__name__)
    if class_node is None:
        raise FlowDefinitionError(f"cannot find class {flow.__name__} in the source", shown)
    functions = {
        node.name: node
        for node in class_node.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    steps = []
    step_names = [
        name
        for name, value in vars(flow).items()
        if callable(value) and getattr(value, "_mfw_step", False)
    ]
    for name in step_names:
        func = getattr(flow, name)
        node = functions.get(name)
        line = node.lineno if node else class_node.lineno
        positional = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) > 2:
            raise FlowDefinitionError(
                f"step {name!r} takes too many parameters: a step takes (self) and a join "
                "(self, inputs)",
                shown,
                line,
            )
        calls = _next_calls(node, shown) if node else []
        next_targets: list[str] = []
        foreach = None
        if calls:
            next_targets, foreach, _ = calls[0]
            for targets, fe, call_line in calls[1:]:
                if (targets, fe) != (next_targets, foreach):
                    raise FlowDefinitionError(
                        f"step {name!r} calls self.next() with different targets; a step has "
                        "one transition",
                        shown,
                        call_line,
                    )
            for target in next_targets:
                if target not in step_names and not partial:
                    raise FlowDefinitionError(
                        f"step {name!r} calls self.next(self.{target}), but {flow.__name__} has "
                        f"no step {target!r} (its steps: {', '.join(step_names)})",
                        shown,
                        calls[0][2],
                    )
        steps.append(
            {
                "name": name,
                "next": next_targets,
                "foreach": foreach,
                "join": len(positional) == 2,
                "decorators": _decorators(getattr(func, "_mfw_decorators", [])),
                "doc": inspect.cleandoc(func.__doc__) if func.__doc__ else "",
                "source": f"{shown}:{line}",
            }
        )
    if "start" not in step_names and not partial:
        raise FlowDefinitionError(
            f"{flow.__name__} has no start step: add `@step def start(self): ...`",
            shown,
            class_node.lineno,
        )
    parameters = []
    for _attribute, value in inspect.getmembers(flow):
        if not isinstance(value, Parameter):
            continue
        default = value.default
        encoded = None
        help_text = value.help
        if value.computed:
            # Computed when a run starts (the component's parameter-defaults
            # export): the graph has no default for it, and says so.
            default = None
            note = "default computed when the run starts"
            help_text = f"{help_text} ({note})" if help_text else note
        if default is not None:
            try:
                encoded = _encoding.encode(default, allow_pickle=False).hex()
            except (TypeError, ValueError) as e:
                raise FlowDefinitionError(
                    f"the default of parameter {value.name!r} is not plain data: {e}",
                    shown,
                    class_node.lineno,
                ) from None
        parameters.append(
            {
                "name": value.name,
                "kind": value.kind,
                "default": encoded,
                "required": value.required,
                "help": help_text,
            }
        )
    parameters.sort(key=lambda p: p["name"])
    decorators = []
    for klass in reversed(flow.__mro__):
        decorators.extend(klass.__dict__.get("_mfw_flow_decorators", []))
    return {
        "name": flow.__name__,
        "steps": steps,
        "parameters": parameters,
        "decorators": _decorators(decorators),
        "doc": inspect.cleandoc(flow.__doc__) if flow.__doc__ else "",
        "sdk": SDK,
        "module": module.__name__,
        "class": flow.__name__,
    }
