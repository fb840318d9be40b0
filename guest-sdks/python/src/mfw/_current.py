"""`current`: who the running task is, as in Metaflow."""

from __future__ import annotations

from typing import Any


class Current:
    """The running task's identity; read while a step runs.

    >>> from mfw import current
    >>> current.is_running_flow
    False
    """

    def _task(self) -> Any:
        try:
            from wit_world.imports import task_info  # type: ignore[import-not-found]
        except ImportError:
            raise AttributeError("current is only set while a step runs") from None
        return task_info.current()

    def _run(self) -> Any:
        try:
            from wit_world.imports import task_info  # type: ignore[import-not-found]
        except ImportError:
            raise AttributeError("current is only set while a step runs") from None
        return task_info.run()

    @property
    def username(self) -> str:
        """Who started the run."""
        return self._run().user

    @property
    def namespace(self) -> str:
        """The run's namespace: `user:` who started it."""
        return f"user:{self.username}"

    @property
    def tags(self) -> frozenset[str]:
        """The run's tags, the user's (`--tag`) and mfw's (`user:NAME`...)."""
        return frozenset(self._run().tags)

    @property
    def origin_run_id(self) -> str | None:
        """The run this one resumed, if it is a resumed run."""
        return self._run().origin_run_id

    @property
    def parameter_names(self) -> list[str]:
        """The flow's parameters, by the names steps read them with."""
        from ._parameters import Parameter

        flow = _RUNNING["flow"]
        if flow is None:
            raise AttributeError("current is only set while a step runs")
        return sorted(
            name
            for klass in flow.__mro__
            for name, value in vars(klass).items()
            if isinstance(value, Parameter)
        )

    def _project(self) -> dict[str, Any] | None:
        """`@project`'s options (name, branch, production), if the flow has it."""
        import json

        flow = _RUNNING["flow"]
        if flow is None:
            raise AttributeError("current is only set while a step runs")
        for name, options in getattr(flow, "_mfw_flow_decorators", []):
            if name == "project":
                return {key: json.loads(value) for key, value in options}
        return None

    @property
    def project_name(self) -> str | None:
        """`@project(name=...)`, else None."""
        project = self._project()
        return project.get("name") if project else None

    @property
    def branch_name(self) -> str | None:
        """With `@project`, the branch as Metaflow names it: `user.NAME` for
        a user's runs, `test.BRANCH` with `branch=`, `prod` (or
        `prod.BRANCH`) with `production=True`."""
        project = self._project()
        if project is None:
            return None
        branch = project.get("branch")
        if project.get("production"):
            return f"prod.{branch}" if branch else "prod"
        return f"test.{branch}" if branch else f"user.{self.username}"

    @property
    def project_flow_name(self) -> str | None:
        """With `@project`: `project.branch.FlowName`."""
        project = self.project_name
        return f"{project}.{self.branch_name}.{self.flow_name}" if project else None

    @property
    def is_production(self) -> bool:
        """Whether `@project(production=True)` puts the runs on the
        production branch."""
        project = self._project()
        return bool(project and project.get("production"))

    @property
    def is_user_branch(self) -> bool:
        """Whether the runs are on the user's own branch (`user.NAME`)."""
        project = self._project()
        return bool(project and not project.get("branch") and not project.get("production"))

    @property
    def is_running_flow(self) -> bool:
        """Whether a step is running (inside mfw)."""
        try:
            import wit_world  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            return False
        return True

    @property
    def flow_name(self) -> str:
        return self._task().flow

    @property
    def run_id(self) -> str:
        return self._task().run_id

    @property
    def step_name(self) -> str:
        return self._task().step

    @property
    def task_id(self) -> str:
        return self._task().task_id

    @property
    def retry_count(self) -> int:
        return self._task().attempt

    @property
    def card(self) -> CardCollector:
        """The task's card (Metaflow's ``current.card``): ``append``,
        ``extend``, ``clear``, ``refresh``; ``current.card["id"]`` for the
        card of ``@card(id="id")``."""
        return _CARDS

    @property
    def pathspec(self) -> str:
        task = self._task()
        return f"{task.flow}/{task.run_id}/{task.step}/{task.task_id}"

    @property
    def trigger(self) -> Trigger | None:
        """What started this run of a deployed flow (`mfw deploy`): the
        run of another flow that succeeded (`current.trigger.run`), or an
        event (`current.trigger.event`); None when a user started it."""
        try:
            from componentize_py_types import Err  # type: ignore[import-not-found]
            from wit_world.imports import runs  # type: ignore[import-not-found]
        except ImportError:
            raise AttributeError("current is only set while a step runs") from None
        try:
            info = runs.trigger()
        except Err as e:
            from ._errors import MfwError

            raise MfwError(str(getattr(e.value, "value", e.value))) from None
        return None if info is None else Trigger(info)


class TriggerEvent:
    """An event that started a run (Metaflow's `MetaflowEvent`)."""

    def __init__(self, name: str, payload: dict):
        self.name = name
        self.payload = payload
        self.type = "event"

    def __repr__(self) -> str:
        return f"TriggerEvent({self.name!r})"


class Trigger:
    """What started a run: `type` is `run` or `event`."""

    def __init__(self, info: Any):
        self.type: str = info.kind
        self._flow: str | None = info.flow
        self._run_id: str | None = info.run_id
        self._event: str | None = info.event
        self._payload: str | None = info.payload

    @property
    def run(self) -> Any:
        """The run that succeeded and started this one (a client `Run`),
        or None when an event did."""
        if self.type != "run":
            return None
        from ._client import Run

        return Run(f"{self._flow}/{self._run_id}", _any_namespace=True)

    @property
    def runs(self) -> list:
        run = self.run
        return [] if run is None else [run]

    @property
    def event(self) -> TriggerEvent | None:
        """The event that started this run, or None when a run did."""
        if self.type != "event" or self._event is None:
            return None
        import json

        payload = json.loads(self._payload) if self._payload else {}
        return TriggerEvent(self._event, payload)

    @property
    def events(self) -> list:
        event = self.event
        return [] if event is None else [event]

    def __repr__(self) -> str:
        what = f"{self._flow}/{self._run_id}" if self.type == "run" else self._event
        return f"Trigger({self.type}: {what})"


class CardCollector:
    """The components a task adds to its cards, by card id (None: the
    default card)."""

    def __init__(self, card_id: str | None = None, cards: dict | None = None):
        self._id = card_id
        self._cards: dict = cards if cards is not None else {}

    @property
    def components(self) -> list:
        return self._cards.setdefault(self._id, [])

    def append(self, component: object, id: str | None = None) -> None:  # noqa: A002
        self.components.append(component)

    def extend(self, components: list) -> None:
        self.components.extend(components)

    def clear(self) -> None:
        self.components.clear()

    def refresh(self, data: object = None) -> None:
        """Metaflow re-renders a live card here; mfw renders a task's cards
        when it ends."""

    def __getitem__(self, card_id: str) -> CardCollector:
        return CardCollector(card_id, self._cards)

    def __setitem__(self, card_id: str, components: list) -> None:
        self._cards[card_id] = list(components)

    def _take_all(self) -> dict:
        """The components the task added, by card id; forgets them."""
        taken = {card_id: list(c) for card_id, c in self._cards.items() if c}
        self._cards.clear()
        return taken


_CARDS = CardCollector()

# The flow class whose step is running (set by the runtime).
_RUNNING: dict[str, Any] = {"flow": None}

current = Current()
