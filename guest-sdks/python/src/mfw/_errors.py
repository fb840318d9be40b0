"""Errors the SDK raises."""

import builtins


class MfwError(Exception):
    """Something about a flow is wrong; the message says what and where."""


class FlowDefinitionError(MfwError):
    """A flow that cannot be built, with the file and line at fault.

    >>> str(FlowDefinitionError("no start step", "hello.py", 3))
    'hello.py:3: no start step'
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        where = path if path else ""
        if path and line:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class CaughtFailure(dict):
    """What ``@catch(var="failure")`` stores when its step fails, read as
    Metaflow's exception wrapper (``.type``, ``.exception``, ``.message``,
    ``.traceback``). It is the mapping that was stored (``failure["type"]``),
    so it is stored again unchanged.

    >>> failure = CaughtFailure({"type": "KeyError", "message": "'x'", "detail": "Traceback..."})
    >>> failure.type, failure.exception, failure["type"]
    ('builtins.KeyError', "'x'", 'KeyError')
    >>> str(failure)
    "builtins.KeyError: 'x'"
    """

    @property
    def type(self) -> str:
        """The exception's class as Metaflow names it (``builtins.KeyError``);
        a failure that was not an exception keeps its kind (``timeout``...)."""
        kind = str(self.get("type", ""))
        builtin = getattr(builtins, kind, None)
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            return f"builtins.{kind}"
        return kind

    @property
    def message(self) -> str:
        return str(self.get("message", ""))

    @property
    def exception(self) -> str:
        return self.message

    @property
    def traceback(self) -> str:
        return str(self.get("detail", ""))

    @property
    def stacktrace(self) -> str:
        """Metaflow's name for the traceback."""
        return self.traceback

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"

    def __repr__(self) -> str:
        return f"CaughtFailure({self.type}: {self.message})"
