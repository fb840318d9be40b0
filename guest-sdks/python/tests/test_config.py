"""Metaflow's Config: fixed when the flow is built, read in decorators and
steps."""

import json
import pickle
import re
import shutil

import pytest

from mfw import Config, ConfigValue, FlowDefinitionError
from mfw._graph import derive, load_module

FLOW = """
    from mfw import Config, FlowSpec, config_expr, resources, retry, step

    class ConfigFlow(FlowSpec):
        config = Config("config", default="config.json")
        absent = Config("absent", default="absent.json")
        fallback = Config("fallback", default_value='{"n": 1}')

        @retry(times=config.retries)
        @resources(memory=config_expr("config.resources.memory"))
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass
"""


def test_a_config_file_beside_the_flow_is_read_in_decorators_and_steps(flow_file):
    path = flow_file(FLOW)
    (path.parent / "config.json").write_text(
        json.dumps({"retries": 2, "resources": {"memory": 2048}, "tags": [{"a": 1}]})
    )
    graph = derive(str(path))
    start = next(s for s in graph["steps"] if s["name"] == "start")
    assert start["decorators"][:2] == [
        {"name": "retry", "options": [["times", "2"]]},
        {"name": "resources", "options": [["memory", "2048"]]},
    ]
    # Configs are no run parameters.
    assert graph["parameters"] == []
    flow = load_module(str(path)).ConfigFlow
    step = object.__new__(flow)
    assert step.config.resources.memory == 2048
    assert step.config.tags[0].a == 1
    assert step.fallback == {"n": 1}
    # A default file that is not there gives no value, as in Metaflow.
    assert step.absent is None
    with pytest.raises(AttributeError, match="fixed when the flow is built"):
        step.config = {}
    with pytest.raises(TypeError, match="cannot be changed"):
        step.config["retries"] = 5


def test_in_a_build_the_file_is_read_from_the_packaged_copy(flow_file, tmp_path_factory):
    # The component loads a copy of the flow's directory while __file__
    # names the original: the copy is what it can read.
    path = flow_file(FLOW)
    staged = tmp_path_factory.mktemp("app")
    shutil.copy(path, staged / "flow.py")
    (staged / "config.json").write_text('{"retries": 1, "resources": {"memory": 7}}')
    module = load_module(str(staged / "flow.py"), file=str(path))
    assert module.ConfigFlow.config.resources.memory == 7


def test_bad_configs_are_build_errors(flow_file):
    for body, says in [
        ('Config("c", default="../secret.json")', "outside the flow's directory"),
        ('Config("c", default="c.json", default_value={})', "not both"),
        ('Config("c", default="absent.json", required=True)', "is required and has no value"),
        ('Config("c", default_value="{not json")', "cannot be parsed: JSONDecodeError"),
        ('Config("c", default_value="x", parser="nowhere.parse")', "cannot import its parser"),
        ('Config("c", default_value=lambda ctx: {})', "function default is not supported"),
        ('Config("c", defualt="c.json")', "has no option 'defualt'"),
    ]:
        path = flow_file(f"from mfw import Config\n\nc = {body}\n")
        # Each error names the line that declares the config.
        with pytest.raises(FlowDefinitionError, match=r"flow\.py:3: .*" + re.escape(says)):
            load_module(str(path))
    path = flow_file('from mfw import config_expr\nx = config_expr("nothing.here")\n')
    with pytest.raises(FlowDefinitionError, match=r"flow\.py:2: config_expr\('nothing\.here'\)"):
        load_module(str(path))


def test_a_parser_and_plain_configs():
    parsed = Config(
        "c",
        default_value="a=1\nb=2",
        parser=lambda t: dict(line.split("=") for line in t.splitlines()),
    )
    assert parsed.value == {"a": "1", "b": "2"} and isinstance(parsed.value, ConfigValue)
    dotted = Config("c", default_value="[1, 2]", parser="json.loads", plain=True)
    assert dotted.value == [1, 2]
    empty = Config("c")
    assert empty.value is None and len(empty) == 0
    with pytest.raises(AttributeError, match="config 'c' has no value, so no 'depth'"):
        empty.depth  # noqa: B018


def test_config_values_pickle_and_serialise_as_dicts():
    value = ConfigValue({"model": {"depth": 3}})
    again = pickle.loads(pickle.dumps(value))
    assert again == value and again.model.depth == 3
    assert json.loads(json.dumps(value)) == {"model": {"depth": 3}}
    copy = value.to_dict()
    copy["model"]["depth"] = 4
    assert value.model.depth == 3


def test_a_config_given_to_the_build_comes_first_and_must_be_declared(monkeypatch):
    import mfw._config as config_module

    monkeypatch.setattr(config_module, "_given", lambda: {"c": '{"a": 2}'})
    monkeypatch.setattr(config_module, "_DECLARED", set())
    assert Config("c", default_value={"a": 1}).value == {"a": 2}
    config_module.check_given("flow.py")
    monkeypatch.setattr(config_module, "_given", lambda: {"c": "{}", "d": "{}"})
    with pytest.raises(FlowDefinitionError, match="--config d: the flow has no Config named 'd'"):
        config_module.check_given("flow.py")
