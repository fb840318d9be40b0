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
    def pathspec(self) -> str:
        task = self._task()
        return f"{task.flow}/{task.run_id}/{task.step}/{task.task_id}"


current = Current()
