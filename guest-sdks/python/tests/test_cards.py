"""Cards: what a step hands the host for each card."""

import json

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
