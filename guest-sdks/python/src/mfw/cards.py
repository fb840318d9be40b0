"""Metaflow's card components, `from mfw.cards import Markdown, Table`.

A step builds a report with them through ``current.card`` (under
``@card``); each component becomes plain data (``to_dict``), and when the
step ends each card is stored with its task as a JSON document
(`card_objects`). ``mfw ui`` shows them; ``mfw card get`` writes one as a
self-contained HTML page.

>>> from mfw.cards import Markdown, Table
>>> Markdown("# Results").to_dict()
{'type': 'markdown', 'text': '# Results'}
>>> Table([[1, "a"]], headers=["n", "name"]).to_dict()["headers"]
['n', 'name']
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any


class MetaflowCardComponent:
    """The base of every card component: it knows how to become data."""

    type = "component"

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def render(self) -> dict[str, Any]:
        """Metaflow's name for what a component gives its card."""
        return self.to_dict()


def _plain(value: Any) -> Any:
    """A value a card can hold: JSON data, or its text."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


class Markdown(MetaflowCardComponent):
    """Text in Markdown."""

    type = "markdown"

    def __init__(self, text: str = ""):
        self.text = text

    def update(self, text: str) -> None:
        self.text = text

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "text": str(self.text)}


class Table(MetaflowCardComponent):
    """Rows of cells, with optional headers (cells may be components)."""

    type = "table"

    def __init__(self, data: list | None = None, headers: list | None = None, **kwargs: Any):
        self.data = [list(row) for row in (data or [])]
        self.headers = list(headers or [])

    @classmethod
    def from_dataframe(cls, dataframe: Any, truncate: bool = True) -> Table:
        frame = dataframe.head(100) if truncate else dataframe
        return cls(frame.values.tolist(), headers=[str(c) for c in frame.columns])

    def to_dict(self) -> dict[str, Any]:
        rows = [
            [c.to_dict() if isinstance(c, MetaflowCardComponent) else _plain(c) for c in row]
            for row in self.data
        ]
        return {"type": self.type, "headers": [_plain(h) for h in self.headers], "data": rows}


class Image(MetaflowCardComponent):
    """An image: encoded bytes (PNG, JPEG...) with an optional label."""

    type = "image"

    def __init__(self, src: bytes | None = None, label: str | None = None, **kwargs: Any):
        self.src = src
        self.label = label

    @classmethod
    def from_matplotlib(cls, plot: Any, label: str | None = None) -> Image:
        figure = getattr(plot, "figure", plot)
        if hasattr(figure, "get_figure"):
            figure = figure.get_figure()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return cls(buffer.getvalue(), label=label)

    @classmethod
    def from_pil_image(cls, pilimage: Any, label: str | None = None) -> Image:
        buffer = io.BytesIO()
        pilimage.save(buffer, format="PNG")
        return cls(buffer.getvalue(), label=label)

    def to_dict(self) -> dict[str, Any]:
        data = base64.b64encode(self.src).decode("ascii") if self.src else None
        return {"type": self.type, "label": self.label, "base64": data}


class VegaChart(MetaflowCardComponent):
    """A chart as a Vega-Lite spec (a dict, or an Altair chart)."""

    type = "vegachart"

    def __init__(self, spec: dict, show_controls: bool = False):
        self.spec = spec
        self.show_controls = show_controls

    @classmethod
    def from_altair_chart(cls, altair_chart: Any) -> VegaChart:
        return cls(altair_chart.to_dict())

    def update(self, spec: dict | None = None) -> None:
        if spec is not None:
            self.spec = spec

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "spec": _plain(self.spec), "show_controls": self.show_controls}


class ProgressBar(MetaflowCardComponent):
    """Progress toward `max`, updated as the step goes."""

    type = "progressbar"

    def __init__(
        self,
        max: int = 100,  # noqa: A002 - Metaflow's spelling
        label: str | None = None,
        value: int = 0,
        unit: str | None = None,
        metadata: str | None = None,
    ):
        self.max = max
        self.label = label
        self.value = value
        self.unit = unit
        self.metadata = metadata

    def update(self, new_value: int, metadata: str | None = None) -> None:
        self.value = new_value
        if metadata is not None:
            self.metadata = metadata

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "max": self.max,
            "value": self.value,
            "label": self.label,
            "unit": self.unit,
            "metadata": self.metadata,
        }


class Artifact(MetaflowCardComponent):
    """A value shown as its repr."""

    type = "artifact"

    def __init__(self, artifact: Any, name: str | None = None, compressed: bool = True):
        self.artifact = artifact
        self.name = name

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "repr": repr(self.artifact)[:10_000]}


class Error(MetaflowCardComponent):
    """An exception shown on a card."""

    type = "error"

    def __init__(self, exception: BaseException, title: str | None = None):
        self.exception = exception
        self.title = title

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "message": repr(self.exception)}


CARD_PREFIX = "mfw.cards/"


def card_objects(decorators: list, added: dict) -> list[tuple[str, bytes]]:
    """What a step hands the host for its cards: each ``@card`` (its type
    and id), with the components the step added to it, as canonical JSON
    under ``mfw.cards/<id>`` (``default`` for the card without an id).
    Components added to a card no ``@card`` declares are kept on a blank
    card of that id, so nothing a step made is lost.

    >>> [(key, json.loads(doc)["type"]) for key, doc in card_objects(
    ...     [("card", [("type", '"blank"'), ("id", '"report"')])],
    ...     {"report": [Markdown("hi")], "extra": [Markdown("x")]})]
    [('mfw.cards/extra', 'blank'), ('mfw.cards/report', 'blank')]
    """
    types: dict[str | None, str] = {}
    for name, options in decorators:
        if name == "card":
            given = {key: json.loads(value) for key, value in options}
            types[given.get("id")] = str(given.get("type") or "default")
    for card_id in added:
        types.setdefault(card_id, "blank")
    out = []
    for card_id, card_type in sorted(types.items(), key=lambda item: item[0] or ""):
        document = {
            "format": 1,
            "id": card_id,
            "type": card_type,
            "components": [_component(c) for c in added.get(card_id, [])],
        }
        out.append((f"{CARD_PREFIX}{card_id or 'default'}", _card_json(document)))
    return out


def _component(component: Any) -> Any:
    """A component as data; anything else as Markdown of its text."""
    to_dict = getattr(component, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return {"type": "markdown", "text": str(component)}


def _card_json(document: dict) -> bytes:
    """Canonical JSON (sorted keys: a task's card is the same bytes each
    time it runs); a float JSON cannot hold (NaN, inf) as its text.

    >>> _card_json({"b": float("nan"), "a": [1.5]})
    b'{"a":[1.5],"b":"nan"}'
    """

    def finite(value: Any) -> Any:
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return str(value)
        if isinstance(value, dict):
            return {str(k): finite(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(v) for v in value]
        return value

    text = json.dumps(finite(document), sort_keys=True, separators=(",", ":"), default=str)
    return text.encode("utf-8")


__all__ = [
    "Artifact",
    "card_objects",
    "Error",
    "Image",
    "Markdown",
    "MetaflowCardComponent",
    "ProgressBar",
    "Table",
    "VegaChart",
]
