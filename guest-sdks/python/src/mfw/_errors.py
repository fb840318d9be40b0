"""Errors the SDK raises."""


class MfwError(Exception):
    """Something about a flow is wrong; the message says what and where."""


class FlowDefinitionError(MfwError):
    """A flow that cannot be built, with the file and line at fault.

    >>> str(FlowDefinitionError("no start step", "hello.py", 3))
    'hello.py:3: no start step'
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = path if path else ""
        if path and line:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
