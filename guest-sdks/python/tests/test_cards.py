"""Cards: what a step hands the host for each card."""

import base64
import json

import pytest

from mfw import card, step
from mfw.cards import Image, Markdown, ProgressBar, Table, card_objects


def documents(func, added):
    return {key: json.loads(doc) for key, doc in card_objects(func._mfw_decorators, added)}


def test_a_default_card_holds_what_the_step_added_in_order():
    @card
    @step
    def start(self):
        pass

    added = {None: [Markdown("# hi"), Table([[1, float("nan")]], headers=["n", "x"])]}
    docs = documents(start, added)
    assert list(docs) == ["mfw.cards/default"]
    card_doc = docs["mfw.cards/default"]
    assert card_doc["type"] == "default" and card_doc["id"] is None
    assert [c["type"] for c in card_doc["components"]] == ["markdown", "table"]
    assert card_doc["components"][1]["data"] == [[1, "nan"]]


def test_cards_by_id_and_components_no_card_declares_are_kept():
    @card(type="blank", id="report")
    @step
    def end(self):
        pass

    added = {"report": [ProgressBar(max=3, value=1)], "other": ["plain text"]}
    docs = documents(end, added)
    assert docs["mfw.cards/report"]["type"] == "blank"
    assert docs["mfw.cards/other"]["components"] == [{"type": "markdown", "text": "plain text"}]


def test_a_card_is_the_same_bytes_each_time():
    @card
    @step
    def start(self):
        pass

    def make():
        return card_objects(start._mfw_decorators, {None: [Image(b"\x89PNG", label="p")]})

    assert make() == make()


def test_a_step_without_cards_hands_none():
    @step
    def start(self):
        pass

    assert card_objects(start._mfw_decorators, {}) == []


def test_docstring_examples():
    import doctest

    import mfw.cards

    results = doctest.testmod(mfw.cards)
    assert results.failed == 0 and results.attempted >= 5


def test_an_image_of_a_matplotlib_figure_or_axes_is_its_png():
    # Natively: matplotlib is not among the packages the wheel recipe
    # builds for components; scripts/setup installs it here.
    matplotlib = pytest.importorskip("matplotlib", reason="scripts/setup installs matplotlib")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(2, 1))
    axes.plot([0, 1, 2], [2, 0, 1])
    png = b"\x89PNG\r\n\x1a\n"
    for source in (figure, axes):
        image = Image.from_matplotlib(source, label="curve")
        assert image.src.startswith(png)
        doc = image.to_dict()
        assert doc["label"] == "curve"
        assert base64.b64decode(doc["base64"]) == image.src
    pyplot.close(figure)
