"""Build time: load a flow file and derive its graph.

This runs inside the component while componentize-py snapshots it, in a
sandbox that sees only the flow's code package: a flow's module-level code
never runs in the host's Python (see docs/security.md). The host's Python
only reads the source (`source_pins`), never runs it.

As in Metaflow, the class says which methods are steps, which decorators
they carry and which parameters the flow takes; the source says where each
step goes next (its `self.next(...)` calls) and which steps are joins (a
second parameter, `inputs`).
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import inspect
import json
import os
import re
import sys
from typing import Any

from . import _encoding
from ._config import check_given
from ._errors import FlowDefinitionError
from ._flowspec import FlowSpec
from ._parameters import Parameter

SDK = "mfw-python/0.1.0"


def load_module(path: str, file: str | None = None) -> Any:
    """Imports the flow file as a module named after it, so `python flow.py`
    code does not run. `file` is what the module sees as `__file__`: where
    the flow lives on the machine that builds it (inside the component the
    file is read from a mount), so defaults computed from `__file__` name
    the user's files."""
    path = os.path.abspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FlowDefinitionError("cannot load this file as Python", path)
    module = importlib.util.module_from_spec(spec)
    if file is not None:
        module.__file__ = file
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
        hint = ""
        if isinstance(e, OSError):
            hint = (
                " (a flow's module-level code runs sandboxed when the flow is built and sees "
                "only its code package: read files in a step, with IncludeFile or "
                "@grant(read=...))"
            )
        raise FlowDefinitionError(
            f"loading the flow failed: {type(e).__name__}: {e}{hint}", path, line
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


class _NextCall:
    """One `self.next(...)` in a step's source."""

    def __init__(self, targets: list[str], foreach: str | None, switch: dict | None, line: int):
        self.targets = targets
        self.foreach = foreach
        # {"condition": name, "cases": [[case JSON text, target], ...]}
        self.switch = switch
        self.line = line

    def same(self, other: _NextCall) -> bool:
        return (self.targets, self.foreach, self.switch) == (
            other.targets,
            other.foreach,
            other.switch,
        )


def _case_text(flow: type, key: ast.AST, path: str, line: int) -> str:
    """A switch case's value as JSON text: a literal, or (as in Metaflow) a
    config's value, `self.config.key`, fixed when the flow is built."""
    if isinstance(key, ast.Constant) and isinstance(key.value, str | int | float | bool):
        value = key.value
    elif isinstance(key, ast.Attribute) and _self_attr(key.value) is not None:
        config = getattr(flow, _self_attr(key.value) or "", None)
        try:
            value = getattr(config, key.attr)
        except (AttributeError, KeyError):
            value = None
        if not isinstance(value, str | int | float | bool):
            raise FlowDefinitionError(
                f"the switch case self.{_self_attr(key.value)}.{key.attr} is not a config "
                "value that is text, a number or a boolean",
                path,
                line,
            )
    else:
        raise FlowDefinitionError(
            "a switch case is a literal (text, a number or a boolean) or a config value "
            'such as self.config.mode, e.g. self.next({"fast": self.a}, condition="mode")',
            path,
            line,
        )
    return json.dumps(value, ensure_ascii=False)


def _switch(flow: type, node: ast.Call, path: str) -> tuple[list[str], dict]:
    """The targets and cases of `self.next({...}, condition="name")`."""
    condition = next(k.value for k in node.keywords if k.arg == "condition")
    if not (isinstance(condition, ast.Constant) and isinstance(condition.value, str)):
        raise FlowDefinitionError(
            'condition= names an artifact as a string, e.g. condition="mode"', path, node.lineno
        )
    cases_node = node.args[0] if len(node.args) == 1 else None
    if not isinstance(cases_node, ast.Dict) or not cases_node.keys:
        raise FlowDefinitionError(
            "with condition=, self.next() takes one dictionary from case values to steps, "
            'e.g. self.next({"fast": self.a, "slow": self.b}, condition="mode")',
            path,
            node.lineno,
        )
    cases = []
    for key, value in zip(cases_node.keys, cases_node.values, strict=True):
        target = _self_attr(value)
        if key is None or target is None:
            raise FlowDefinitionError(
                'a switch maps each case to a step, as in {"fast": self.a}',
                path,
                node.lineno,
            )
        cases.append([_case_text(flow, key, path, node.lineno), target])
    targets: list[str] = []
    for _, target in cases:
        if target not in targets:
            targets.append(target)
    return targets, {"condition": condition.value, "cases": cases}


def _next_calls(flow: type, func: ast.FunctionDef, path: str) -> list[_NextCall]:
    """Every `self.next(...)` in a step."""
    calls = []
    for node in ast.walk(func):
        if not (isinstance(node, ast.Call) and _self_attr(node.func) == "next"):
            continue
        if any(k.arg == "condition" for k in node.keywords):
            if any(k.arg != "condition" for k in node.keywords):
                raise FlowDefinitionError(
                    "a switch (self.next with condition=) cannot fan out with foreach",
                    path,
                    node.lineno,
                )
            targets, switch = _switch(flow, node, path)
            calls.append(_NextCall(targets, None, switch, node.lineno))
            continue
        targets = []
        for arg in node.args:
            name = _self_attr(arg)
            if name is None:
                hint = (
                    ': a dictionary of cases needs condition="artifact"'
                    if isinstance(arg, ast.Dict)
                    else ""
                )
                raise FlowDefinitionError(
                    f"self.next() takes steps as self.<step>, e.g. self.next(self.end){hint}",
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
                    f"self.next() has no option {keyword.arg!r} (mfw supports foreach= and "
                    "condition=)",
                    path,
                    node.lineno,
                )
        calls.append(_NextCall(targets, foreach, None, node.lineno))
    # Source order, so the later of two differing calls is the one reported.
    return sorted(calls, key=lambda call: call.line)


def _decorators(items: list) -> list[dict]:
    return [{"name": name, "options": [list(o) for o in options]} for name, options in items]


def shown_path(path: str) -> str:
    """How errors name `path`: relative to the working directory when it is
    under it."""
    path = os.path.abspath(path)
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def derive(path: str, partial: bool = False) -> dict:
    """The graph of the flow in `path`, as the host's JSON (imports it
    here: for tests of the SDK; a build derives it in the component).

    `partial`: the flow's other steps are defined in other components (a
    flow manifest), so `self.next` may name steps this class lacks, and
    `start` may be elsewhere; the assembled flow is checked as a whole.
    """
    return derive_flow(load_module(path), path, shown_path(path), partial)


def derive_flow(module: Any, path: str, shown: str, partial: bool = False) -> dict:
    """The graph of the flow defined in `module`, whose source is `path`;
    errors name the file `shown`."""
    flow = find_flow(module, shown)
    if not partial:
        # A manifest's configs go to each of its Python components, which
        # each declare some of them.
        check_given(shown)
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
        calls = _next_calls(flow, node, shown) if node else []
        first = calls[0] if calls else _NextCall([], None, None, line)
        for call in calls[1:]:
            if not call.same(first):
                raise FlowDefinitionError(
                    f"step {name!r} calls self.next() with different targets; a step has "
                    "one transition",
                    shown,
                    call.line,
                )
        for target in first.targets:
            if target not in step_names and not partial:
                raise FlowDefinitionError(
                    f"step {name!r} calls self.next(self.{target}), but {flow.__name__} has "
                    f"no step {target!r} (its steps: {', '.join(step_names)})",
                    shown,
                    first.line,
                )
        derived = {
            "name": name,
            "next": first.targets,
            "foreach": first.foreach,
            "join": len(positional) == 2,
            "decorators": _decorators(getattr(func, "_mfw_decorators", [])),
            "doc": inspect.cleandoc(func.__doc__) if func.__doc__ else "",
            "source": f"{shown}:{line}",
        }
        if first.switch:
            derived["switch"] = first.switch
        steps.append(derived)
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


def host_json(graph: dict) -> dict:
    """`graph` in the host's own JSON form of a graph (mfw_graph's
    `FlowGraph`, as in `run.json`): parameter defaults as lists of bytes
    rather than hex.

    >>> host_json({"parameters": [{"name": "n", "default": "0a01"}], "steps": []})
    {'parameters': [{'name': 'n', 'default': [10, 1]}], 'steps': []}
    """
    parameters = [
        {**p, "default": None if p.get("default") is None else list(bytes.fromhex(p["default"]))}
        for p in graph.get("parameters", [])
    ]
    return {**graph, "parameters": parameters}


def normalized(name: str) -> str:
    """A package's name as PyPI compares names (PEP 503).

    >>> normalized("Scikit_Learn")
    'scikit-learn'
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def pin(wanted: dict[str, tuple[str, str]], name: str, spec: str, origin: str) -> None:
    """Adds package `name` pinned to `spec` by `origin` to `wanted` (keyed by
    the package's normalized name); one component holds one version."""
    key = normalized(name)
    if key in wanted and wanted[key][0] != spec:
        raise FlowDefinitionError(
            f"package {name} is pinned twice, to {wanted[key][0]!r} ({wanted[key][1]}) "
            f"and {spec!r} ({origin}); one component holds one version"
        )
    wanted[key] = (spec, origin)


def decorator_pins(graph: dict) -> dict[str, tuple[str, str]]:
    """The packages the flow's decorators pin (`@pypi_base` and
    `@conda_base` on the class, `@pypi` and `@conda` on steps): by
    normalized name, the version and which decorator pinned it.

    >>> decorator_pins({"decorators": [{"name": "pypi_base",
    ...     "options": [["packages", '{"Six": "1.17.0"}']]}], "steps": []})
    {'six': ('1.17.0', '@pypi_base')}
    """
    wanted: dict[str, tuple[str, str]] = {}

    def from_decorator(options: list, origin: str) -> None:
        # @conda's `libraries` is its older name for `packages`.
        if any(key == "disabled" and value == "true" for key, value in options):
            return
        for key, value in options:
            if key in ("packages", "libraries"):
                for name, version in json.loads(value).items():
                    pin(wanted, name, str(version), origin)

    for d in graph["decorators"]:
        if d["name"] in ("pypi_base", "conda_base"):
            from_decorator(d["options"], f"@{d['name']}")
    for step in graph["steps"]:
        for d in step["decorators"]:
            if d["name"] in ("pypi", "conda"):
                from_decorator(d["options"], f"@{d['name']} on step {step['name']}")
    return wanted


def check_pins(graph: dict, read: dict[str, str], shown: str) -> None:
    """Fails unless the derived `graph` pins exactly the packages the build
    `read` from the flow's source (`source_pins`) and bundled: a pin made by
    running code would otherwise name a package the component lacks."""
    found = {key: spec for key, (spec, _) in decorator_pins(graph).items()}
    if found != read:

        def listed(pins: dict[str, str]) -> str:
            return ", ".join(f"{k}=={v}" for k, v in sorted(pins.items())) or "nothing"

        raise FlowDefinitionError(
            f"the flow's decorators pin {listed(found)} when the flow is loaded, but its "
            f"source reads as pinning {listed(read)}: mfw reads pinned packages without "
            "running the flow, so write the options of @pypi, @pypi_base, @conda and "
            "@conda_base as literals or module-level constants, on the flow class and its "
            "steps",
            shown,
        )


# The decorators that pin packages and the options that say which.
PIN_DECORATORS = {"pypi", "pypi_base", "conda", "conda_base"}
PIN_OPTIONS = {"packages", "libraries", "disabled"}


def source_pins(path: str, shown: str) -> dict:
    """The pinning decorators of the flow in `path`, read from its source
    without running it (the host's Python runs this): a graph-shaped dict
    with the flow classes' decorators and their methods', each option as
    the JSON the decorators record. Options must be literals or module-level
    constants; `check_pins` later checks the loaded flow agrees.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
    ...     _ = f.write("P = {'six': '1.17.0'}\\n@pypi_base(packages=P)\\nclass F: pass\\n")
    >>> source_pins(f.name, "flow.py")["decorators"]
    [{'name': 'pypi_base', 'options': [['packages', '{"six":"1.17.0"}']]}]
    """
    with open(path, encoding="utf-8") as f:
        source = f.read()
    try:
        tree = ast.parse(source, path)
    except SyntaxError as e:
        raise FlowDefinitionError(f"syntax error: {e.msg}", shown, e.lineno) from None
    # Module-level names bound once to a literal.
    bound: dict[str, list[ast.expr]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                bound.setdefault(target.id, []).append(value)
    constants = {name: values[0] for name, values in bound.items() if len(values) == 1}

    class Inline(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            return constants.get(node.id, node)

    def decorators(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> list:
        found = []
        for d in node.decorator_list:
            call = d if isinstance(d, ast.Call) else None
            func = call.func if call else d
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in PIN_DECORATORS:
                continue
            options = []
            for keyword in call.keywords if call else []:
                if keyword.arg is None:
                    raise FlowDefinitionError(
                        f"@{name}(**...): write the options of @{name} out, as literals or "
                        "module-level constants, so mfw can read the pinned packages without "
                        "running the flow",
                        shown,
                        d.lineno,
                    )
                if keyword.arg not in PIN_OPTIONS:
                    continue
                try:
                    value = ast.literal_eval(Inline().visit(copy.deepcopy(keyword.value)))
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    raise FlowDefinitionError(
                        f"@{name}({keyword.arg}=...) is not a literal: write it as one (a dict "
                        "of package names and versions) or as a module-level constant, so mfw "
                        "can read the pinned packages without running the flow",
                        shown,
                        keyword.value.lineno,
                    ) from None
                options.append(
                    [keyword.arg, json.dumps(value, sort_keys=True, separators=(",", ":"))]
                )
            found.append({"name": name, "options": options})
        return found

    flow_decorators: list = []
    steps: list = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        flow_decorators.extend(decorators(node))
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                own = decorators(item)
                if own:
                    steps.append({"name": item.name, "decorators": own})
    return {"decorators": flow_decorators, "steps": steps}
