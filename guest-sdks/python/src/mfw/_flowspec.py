"""`FlowSpec`, the base class of every flow, and what a step sees.

The same class serves three places: the host's CPython loads the flow file
to read its graph at build time; `python flow.py run` hands off to the
`mfw` binary; and inside the component, a fresh instance runs each step,
reading artifacts from the host lazily and persisting what the step set.
"""

from __future__ import annotations

from typing import Any

from ._errors import MfwError


class FlowSpec:
    """The base class of a flow. Steps are methods marked with `@step`.

    Every public attribute a step sets is persisted as an artifact when the
    step ends, and read back lazily by the steps after it.

    >>> class HelloFlow(FlowSpec):
    ...     pass
    >>> issubclass(HelloFlow, FlowSpec)
    True
    """

    def __init__(self, use_cli: bool = True):
        # `HelloFlow()` at the bottom of a flow file: what Metaflow users run
        # as `python hello.py run`. Hand the command to the mfw binary.
        if use_cli:
            from ._entry import main

            main(type(self))

    # -- artifacts -------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: an artifact not read yet.
        if name.startswith("_"):
            raise AttributeError(name)
        state = self.__dict__.get("_mfw_state")
        if state is None:
            raise AttributeError(
                f"{type(self).__name__!r} has no attribute {name!r} (artifacts are only "
                "readable while a step runs)"
            )
        value = state.load(name)
        if getattr(value, "_mfw_step_ref", False):
            return value  # a step elsewhere in the flow, not an artifact
        self.__dict__[name] = value
        return value

    def __delattr__(self, name: str) -> None:
        state = self.__dict__.get("_mfw_state")
        if name in self.__dict__:
            del self.__dict__[name]
        elif state is None or not state.exists(name):
            raise AttributeError(name)
        if state is not None:
            state.removed.add(name)

    def _mfw_parameter(self, parameter: Any) -> Any:
        state = self.__dict__.get("_mfw_state")
        if state is None:
            return parameter.default
        return state.parameter(parameter)

    # -- control ---------------------------------------------------------

    def next(
        self,
        *steps: Any,
        foreach: str | None = None,
        condition: str | None = None,
        **options: Any,
    ) -> None:
        """Continues to the given steps, fans out with `foreach='name'`, or
        takes the one case that the artifact `condition` names.

        `self.next(self.end)`, `self.next(self.a, self.b)`,
        `self.next(self.train, foreach='n_trees')`,
        `self.next({"fast": self.a, "slow": self.b}, condition="mode")`.
        """
        if options:
            raise MfwError(f"self.next() has no option {sorted(options)[0]!r}")
        if condition is not None:
            steps = (self._mfw_chosen_case(steps, foreach, condition),)
        elif len(steps) == 1 and isinstance(steps[0], dict):
            raise MfwError(
                'self.next() with a dictionary of cases needs condition="artifact", '
                'e.g. self.next({"fast": self.a, "slow": self.b}, condition="mode")'
            )
        names = []
        for target in steps:
            name = target if isinstance(target, str) else getattr(target, "__name__", None)
            if not name:
                raise MfwError(f"self.next() takes steps, like self.next(self.end); got {target!r}")
            names.append(name)
        state = self._mfw_require_state("next")
        # The host checks a foreach against the stored artifact: store first.
        state.persist_pending(self)
        state.next(names, foreach)

    def _mfw_chosen_case(self, steps: tuple, foreach: str | None, condition: Any) -> Any:
        """The step of the switch case the artifact `condition` names."""
        if len(steps) != 1 or not isinstance(steps[0], dict) or not steps[0]:
            raise MfwError(
                "with condition=, self.next() takes one dictionary from case values to steps, "
                'e.g. self.next({"fast": self.a, "slow": self.b}, condition="mode")'
            )
        if not isinstance(condition, str):
            raise MfwError(f"condition= names an artifact as a string, not {condition!r}")
        if foreach is not None:
            raise MfwError("a switch (self.next with condition=) cannot fan out with foreach")
        try:
            value = getattr(self, condition)
        except AttributeError:
            raise MfwError(
                f"the switch's condition self.{condition} is not set: set it in this step "
                "before self.next()"
            ) from None
        cases = steps[0]
        try:
            return cases[value]
        except (KeyError, TypeError):
            raise MfwError(
                f"the switch's condition self.{condition} is {value!r}, which is none of its "
                f"cases {list(cases)}"
            ) from None

    @property
    def input(self) -> Any:
        """This task's item of the innermost foreach."""
        return self._mfw_require_state("input").foreach_input()

    @property
    def index(self) -> int | None:
        """This task's index in the innermost foreach."""
        return self._mfw_require_state("index").foreach_index()

    def foreach_stack(self) -> list[tuple[int, int, Any]]:
        """Every enclosing foreach as ``(index, num_splits, value)``,
        outermost first, as Metaflow gives it: the value is this task's item
        at that level (``self.input`` for the innermost; for an outer one,
        the item of the list it fanned out over, or ``None`` if a later step
        replaced that list)."""
        frames = self._mfw_require_state("foreach_stack").foreach_stack()
        stack: list[tuple[int, int, Any]] = []
        for depth, (index, count, over) in enumerate(frames):
            if depth == len(frames) - 1:
                value = self.input
            else:
                try:
                    value = getattr(self, over)[index]
                except (AttributeError, LookupError, TypeError):
                    value = None
            stack.append((index, count, value))
        return stack

    def merge_artifacts(
        self, inputs: Any, exclude: list[str] | None = None, include: list[str] | None = None
    ) -> None:
        """Metaflow's merge_artifacts: takes what the inputs agree on.

        Artifacts this join set itself, and those in `exclude`, are left
        alone; inputs that disagree on anything else are an error.
        """
        state = self._mfw_require_state("merge_artifacts")
        state.persist_pending(self)
        state.merge(list(exclude or []), include)

    def _mfw_require_state(self, what: str) -> Any:
        state = self.__dict__.get("_mfw_state")
        if state is None:
            raise MfwError(f"self.{what} is only available while a step runs")
        return state
