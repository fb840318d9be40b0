"""Run parameters: `Parameter` and `IncludeFile`, as in Metaflow."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from ._errors import FlowDefinitionError, MfwError


class JSONType:
    """Use as `Parameter(..., type=JSONType)` for a value given as JSON."""


_KINDS = {str: "str", int: "int", float: "float", bool: "bool", JSONType: "json"}

# A class is callable but is not a function default.
_CLASSES = (type,)


class Parameter:
    """A run parameter, read in any step as an attribute.

    The default is an ordinary Python expression, evaluated where the flow
    file lives when the flow is built.

    >>> n = Parameter("n", default=100, help="how many")
    >>> (n.name, n.kind, n.required)
    ('n', 'int', False)
    """

    kind = "str"

    def __init__(
        self,
        name: str,
        default: Any = None,
        type: Any = None,  # noqa: A002 - Metaflow's spelling
        help: str | None = None,  # noqa: A002
        required: bool = False,
        show_default: bool = True,
        **kwargs: Any,
    ):
        self.name = name
        self.default = default
        self.help = help or ""
        self.required = bool(required)
        self.show_default = show_default
        self.attribute = name
        if kwargs:
            raise FlowDefinitionError(
                f"Parameter {name!r} has no option {sorted(kwargs)[0]!r}; its options are: "
                "default, type, help, required, show_default"
            )
        # A function default is Metaflow's deploy-time default: computed
        # when a run starts, from a ParameterContext. Its type is str unless
        # `type` says otherwise, as in Metaflow.
        self.computed = callable(default) and not isinstance(default, _CLASSES)
        if self.computed and type is None:
            type = str
        if type is None and default is not None:
            # bool is an int: check it first.
            type = next((t for t in (bool, int, float, str) if isinstance(default, t)), JSONType)
        if type is not None and type not in _KINDS:
            raise FlowDefinitionError(
                f"Parameter {name!r} has type {type!r}; use str, int, float, bool or JSONType"
            )
        if type is not None:
            self.kind = _KINDS[type]
        if type is JSONType and isinstance(default, str) and not self.computed:
            # Metaflow parses a JSONType default given as text.
            try:
                self.default = json.loads(default)
            except ValueError as e:
                raise FlowDefinitionError(
                    f"Parameter {name!r}: its JSONType default is not valid JSON ({e}); "
                    "give the value itself, or JSON text"
                ) from None

    def __set_name__(self, owner: type, attribute: str) -> None:
        self.attribute = attribute

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._mfw_parameter(self)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(f"parameter {self.name!r} is read-only in a step")

    def convert(self, raw: Any) -> Any:
        """The step's view of the run's value (the host sends it encoded)."""
        return raw

    def compute_default(self, context: ParameterContext) -> Any:
        """Runs a function default with `context` and checks what it gives
        against the parameter's type. Text is passed on as it is: the host
        reads it as it reads the command line, since Metaflow passes a
        computed default on as text.

        >>> p = Parameter("n", default=lambda ctx: len(ctx.user_name), type=int)
        >>> p.compute_default(ParameterContext("F", "ana", "n", print, "local", None))
        3
        """
        value = self.default(context)
        kind = self.kind
        if isinstance(value, str):
            return value
        if kind == "str":
            return str(value)
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind == "json":
            try:
                json.dumps(value)
            except (TypeError, ValueError) as e:
                raise MfwError(
                    f"the default function of parameter {self.name!r} returned {value!r}, "
                    f"which is not JSON ({e})"
                ) from None
            return value
        raise MfwError(
            f"the default function of parameter {self.name!r} returned {value!r} "
            f"({type(value).__name__}); parameter {self.name!r} is a {kind}: return one, "
            "or give the Parameter the type=... of what the function returns"
        )


class ParameterContext(NamedTuple):
    """What a function default is given: Metaflow's ParameterContext.

    >>> ParameterContext("TrainFlow", "ana", "n", print, "local", None).user_name
    'ana'
    """

    flow_name: str
    user_name: str
    parameter_name: str
    logger: Any
    ds_type: str
    configs: Any


class IncludeFile(Parameter):
    """A file on the user's machine, read by the host when the run starts.

    The step sees its content (text, or bytes with `is_text=False`); the
    step itself has no file access.

    >>> IncludeFile("data", default="data.csv").kind
    'file'
    """

    kind = "file"

    def __init__(
        self,
        name: str,
        default: Any = None,
        is_text: bool = True,
        encoding: str = "utf-8",
        help: str | None = None,  # noqa: A002
        required: bool = False,
        **kwargs: Any,
    ):
        super().__init__(name, default=None, help=help, required=required, **kwargs)
        self.kind = "file"
        self.default = default
        self.is_text = is_text
        self.encoding = encoding

    def convert(self, raw: Any) -> Any:
        if self.is_text and isinstance(raw, bytes | bytearray):
            return bytes(raw).decode(self.encoding)
        return raw
