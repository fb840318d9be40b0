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
        """Metaflow re-renders a live card here; mfw renders none yet."""

    def __getitem__(self, card_id: str) -> CardCollector:
        return CardCollector(card_id, self._cards)

    def __setitem__(self, card_id: str, components: list) -> None:
        self._cards[card_id] = list(components)

    def _take(self) -> int:
        """How many components the task added; forgets them."""
        count = sum(len(c) for c in self._cards.values())
        self._cards.clear()
        return count


_CARDS = CardCollector()

current = Current()
