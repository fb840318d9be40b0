"""Metaflow's `Config`: settings fixed when the flow is built, read in
steps and in decorators.

A `Config` is resolved as soon as the flow's class body creates it, from
its `default` file (in the flow's directory, which the build packages with
the code) or its `default_value`. So `config.key` and
`config_expr("config.key")` are plain values wherever the class body uses
them, and `self.config` is the same value in every step.
"""

from __future__ import annotations

import collections.abc
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from ._errors import FlowDefinitionError

# The configs given for this build (`mfw run --config NAME FILE`), by name:
# the build writes them beside the SDK in the component's app.
CONFIGS_FILE = ".mfw-configs.json"

# The names of the Configs the flow declared, to check the given ones.
_DECLARED: set[str] = set()


def _given() -> dict[str, str]:
    app = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        with open(os.path.join(app, CONFIGS_FILE), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def check_given(flow_file: str | None = None) -> None:
    """Fails if a config was given (`--config NAME ...`) that the flow does
    not declare."""
    unknown = sorted(set(_given()) - _DECLARED)
    if unknown:
        declared = ", ".join(sorted(_DECLARED)) or "none"
        raise FlowDefinitionError(
            f"--config {unknown[0]}: the flow has no Config named {unknown[0]!r} "
            f"(its configs: {declared})",
            flow_file,
        )


class ConfigValue(dict):
    """A configuration: a dict whose keys also read as attributes, nested
    dicts too, and which cannot be changed.

    >>> value = ConfigValue({"model": {"depth": 3}, "tags": ["a"]})
    >>> value.model.depth, value["tags"]
    (3, ['a'])
    >>> value.to_dict()
    {'model': {'depth': 3}, 'tags': ['a']}
    """

    def __init__(self, data: collections.abc.Mapping) -> None:
        super().__init__((k, _wrap(v)) for k, v in data.items())

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the configuration has no key {name!r}") from None

    def _read_only(self, *_args: Any, **_kwargs: Any) -> Any:
        raise TypeError("a Config is fixed when the flow is built and cannot be changed")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = _read_only
    clear = pop = popitem = setdefault = update = __ior__ = _read_only  # type: ignore[assignment]

    def to_dict(self) -> dict:
        """A plain, mutable copy."""
        return {k: v.to_dict() if isinstance(v, ConfigValue) else v for k, v in self.items()}

    def __reduce__(self) -> Any:
        return (ConfigValue, (self.to_dict(),))


def _wrap(value: Any) -> Any:
    if isinstance(value, collections.abc.Mapping):
        return ConfigValue(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class Config(collections.abc.Mapping):
    """Metaflow's Config: a setting of the flow's, fixed when it is built.

    A file or value given to the run (`mfw run --config NAME FILE`,
    `--config-value NAME TEXT`) comes first. Else `default` names a file
    in the flow's directory (relative to it), read when the flow is built
    (no such file: no value, an error if `required`); or `default_value`
    gives the value or its text. Text is
    JSON unless `parser` (a function of the text, or its dotted import
    name) says otherwise. The value reads like a dict and by attribute,
    in the class body (`@resources(memory=config.memory)`) and in steps
    (`self.config.memory`); `plain=True` gives the parsed value as it is.

    >>> config = Config("config", default_value={"alpha": 0.5})
    >>> config.alpha, config["alpha"], dict(config)
    (0.5, 0.5, {'alpha': 0.5})
    """

    def __init__(
        self,
        name: str,
        default: str | None = None,
        default_value: Any = None,
        help: str | None = None,  # noqa: A002 - Metaflow's spelling
        required: bool | None = None,
        parser: str | Callable[[str], Any] | None = None,
        show_default: bool = True,
        plain: bool = False,
        **kwargs: Any,
    ) -> None:
        # A config's errors point at where the flow declares it.
        caller = sys._getframe(1)
        try:
            self._declare(name, default, default_value, required, parser, plain, kwargs, caller)
        except FlowDefinitionError as e:
            if e.path is None:
                raise FlowDefinitionError(
                    e.message, caller.f_code.co_filename, caller.f_lineno
                ) from None
            raise
        self.help = help or ""
        self.show_default = show_default

    def _declare(
        self,
        name: str,
        default: str | None,
        default_value: Any,
        required: bool | None,
        parser: str | Callable[[str], Any] | None,
        plain: bool,
        kwargs: dict,
        caller: Any,
    ) -> None:
        self.name = name
        if kwargs:
            raise FlowDefinitionError(
                f"Config {name!r} has no option {sorted(kwargs)[0]!r}; its options are: "
                "default, default_value, help, required, parser, show_default, plain"
            )
        if default is not None and default_value is not None:
            raise FlowDefinitionError(
                f"Config {name!r}: give default (a file) or default_value, not both"
            )
        if callable(default) or callable(default_value):
            raise FlowDefinitionError(
                f"Config {name!r}: a function default is not supported here; give a file "
                "(default='config.json') or a value (default_value={...})"
            )
        _DECLARED.add(name)
        given = _given()
        if name in given:
            text = given[name]
        else:
            text = _read_default(name, default, caller) if default else None
            if text is None:
                text = default_value
        if text is None and required:
            raise FlowDefinitionError(
                f"Config {name!r} is required and has no value: create its file "
                f"({default!r}) in the flow's directory, or give default_value"
            )
        value = _parse(name, text, parser) if isinstance(text, str | bytes) else text
        self.value = value if plain or not isinstance(value, dict) else ConfigValue(value)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else self.value

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(f"config {self.name!r} is fixed when the flow is built")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "value":
            raise AttributeError(name)
        if self.value is None:
            raise AttributeError(
                f"config {self.name!r} has no value, so no {name!r}: its file is missing "
                "and it has no default_value"
            )
        return getattr(self.value, name)

    def __getitem__(self, key: Any) -> Any:
        if self.value is None:
            raise KeyError(key)
        return self.value[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value or ())

    def __len__(self) -> int:
        return len(self.value or ())

    def __repr__(self) -> str:
        return f"Config({self.name!r}, value={self.value!r})"


def _read_default(name: str, default: str, frame: Any) -> str | None:
    """The text of `default`, a path relative to the flow's directory; None
    if there is no such file. In a build the flow's code runs from a copy
    of its directory (`co_filename`), while `__file__` names the original."""
    here = os.path.dirname(os.path.abspath(frame.f_code.co_filename))
    home = os.path.dirname(os.path.abspath(frame.f_globals.get("__file__") or here))
    wanted = os.path.normpath(os.path.join(home, os.path.expanduser(default)))
    relative = os.path.relpath(wanted, home)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        raise FlowDefinitionError(
            f"Config {name!r}: {default!r} is outside the flow's directory, which is all "
            "the build reads; put the file beside the flow"
        )
    try:
        with open(os.path.join(here, relative), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise FlowDefinitionError(
            f"Config {name!r}: cannot read {default!r} ({e.strerror}); the build packages "
            "the flow's .json, .yaml, .yml, .toml, .ini and .cfg files of up to 1 MiB"
        ) from None


def _parse(name: str, text: str | bytes, parser: str | Callable[[str], Any] | None) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if isinstance(parser, str):
        module, _, function = parser.rpartition(".")
        try:
            parser = getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError, ValueError) as e:
            raise FlowDefinitionError(
                f"Config {name!r}: cannot import its parser {parser!r} ({e}); give the "
                "function itself, or a dotted name the flow's package holds"
            ) from None
    try:
        return parser(text) if parser is not None else json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parser failure is the config's
        raise FlowDefinitionError(
            f"Config {name!r} cannot be parsed: {type(e).__name__}: {e}"
        ) from None


def config_expr(expression: str) -> Any:
    """Metaflow's config_expr: the value of `expression` (such as
    `"config.resources.memory"`) where it is written, in the flow's class
    body. Configs are fixed when the flow is built, so this is the value.

    >>> config = Config("config", default_value={"memory": 2048})
    >>> config_expr("config.memory")
    2048
    """
    frame = sys._getframe(1)
    try:
        return eval(expression, frame.f_globals, frame.f_locals)  # noqa: S307 - the flow's code
    except Exception as e:  # noqa: BLE001 - say which expression failed
        raise FlowDefinitionError(
            f"config_expr({expression!r}) failed: {type(e).__name__}: {e}",
            frame.f_code.co_filename,
            frame.f_lineno,
        ) from None
