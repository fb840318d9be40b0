"""Deriving a flow's graph at build time, and the errors that point at the
file and line."""

import json
import re

import pytest

from mfw import FlowDefinitionError, MfwError, _encoding
from mfw._graph import derive

HELLO = """
    from mfw import FlowSpec, kubernetes, step

    class HelloFlow(FlowSpec):
        '''Says hello.'''

        @step
        def start(self):
            '''Sets x.'''
            self.x = 1
            self.next(self.end)

        @kubernetes(memory=64000)
        @step
        def end(self):
            self.x += 1

    if __name__ == "__main__":
        HelloFlow()
"""


def test_hello_graph_has_steps_transitions_and_decorators(flow_file):
    graph = derive(str(flow_file(HELLO)))
    assert graph["name"] == "HelloFlow"
    assert graph["doc"] == "Says hello."
    start, end = graph["steps"]
    assert (start["name"], start["next"], start["join"]) == ("start", ["end"], False)
    assert start["doc"] == "Sets x."
    assert start["source"].endswith("flow.py:8")
    assert end["next"] == []
    assert end["decorators"] == [{"name": "kubernetes", "options": [["memory", "64000"]]}]
    assert graph["sdk"].startswith("mfw-python/")
    json.dumps(graph)  # what the host reads


def test_foreach_split_and_join_are_read_from_the_source(flow_file):
    graph = derive(
        str(
            flow_file(
                """
                from mfw import FlowSpec, step

                class F(FlowSpec):
                    @step
                    def start(self):
                        self.items = [1, 2]
                        self.next(self.a, foreach="items")

                    @step
                    def a(self):
                        self.next(self.b, self.c)

                    @step
                    def b(self):
                        self.next(self.j)

                    @step
                    def c(self):
                        self.next(self.j)

                    @step
                    def j(self, inputs):
                        self.next(self.k)

                    @step
                    def k(self, inputs):
                        self.next(self.end)

                    @step
                    def end(self):
                        pass
                """
            )
        )
    )
    steps = {s["name"]: s for s in graph["steps"]}
    assert steps["start"]["foreach"] == "items"
    assert steps["start"]["next"] == ["a"]
    assert steps["a"]["next"] == ["b", "c"]
    assert steps["j"]["join"] and steps["k"]["join"]
    assert not steps["b"]["join"]


def test_parameters_are_evaluated_where_the_flow_lives(flow_file, tmp_path):
    path = flow_file(
        """
        import os
        from mfw import FlowSpec, IncludeFile, JSONType, Parameter, step

        class P(FlowSpec):
            n = Parameter("n", default=3, help="count")
            ratio = Parameter("ratio", default=0.5)
            name = Parameter("name", required=True)
            flag = Parameter("flag", default=False)
            config = Parameter("config", type=JSONType, default={"a": 1})
            data = IncludeFile("data", default=os.path.join(os.path.dirname(__file__), "d.csv"))

            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """
    )
    params = {p["name"]: p for p in derive(str(path))["parameters"]}
    assert params["n"]["kind"] == "int"
    assert _encoding.decode(bytes.fromhex(params["n"]["default"])) == 3
    assert params["n"]["help"] == "count"
    assert params["ratio"]["kind"] == "float"
    assert params["flag"]["kind"] == "bool"
    assert params["config"]["kind"] == "json"
    assert params["name"]["required"] and params["name"]["default"] is None
    assert params["data"]["kind"] == "file"
    default = _encoding.decode(bytes.fromhex(params["data"]["default"]))
    assert default == str(tmp_path / "d.csv")


def test_a_missing_start_is_a_build_error(flow_file):
    path = flow_file(
        """
        from mfw import FlowSpec, step

        class F(FlowSpec):
            @step
            def begin(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """
    )
    with pytest.raises(FlowDefinitionError, match=r"flow\.py:4: F has no start step"):
        derive(str(path))


def test_next_to_an_unknown_step_names_it_and_its_line(flow_file):
    path = flow_file(
        """
        from mfw import FlowSpec, step

        class F(FlowSpec):
            @step
            def start(self):
                self.next(self.ned)

            @step
            def end(self):
                pass
        """
    )
    with pytest.raises(
        FlowDefinitionError,
        match=r"flow\.py:7: step 'start' calls self\.next\(self\.ned\), but F has no step 'ned'",
    ):
        derive(str(path))


def test_an_unknown_decorator_option_is_an_error_at_its_line(flow_file):
    path = flow_file(
        """
        from mfw import FlowSpec, retry, step

        class F(FlowSpec):
            @retry(tims=3)
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """
    )
    with pytest.raises(FlowDefinitionError, match=r"flow\.py:5: @retry has no option 'tims'"):
        derive(str(path))


def test_different_transitions_in_one_step_are_refused(flow_file):
    path = flow_file(
        """
        from mfw import FlowSpec, step

        class F(FlowSpec):
            @step
            def start(self):
                if True:
                    self.next(self.a)
                self.next(self.end)

            @step
            def a(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """
    )
    with pytest.raises(FlowDefinitionError, match=r"flow\.py:9: step 'start' calls self\.next"):
        derive(str(path))


def test_a_flow_file_that_fails_to_import_says_where(flow_file):
    path = flow_file(
        """
        from mfw import FlowSpec, step
        import definitely_not_a_module_name
        """
    )
    with pytest.raises(FlowDefinitionError, match=r"flow\.py:3: loading the flow failed"):
        derive(str(path))


def test_one_flow_per_file(flow_file):
    path = flow_file(
        """
        from mfw import FlowSpec

        class A(FlowSpec):
            pass

        class B(FlowSpec):
            pass
        """
    )
    with pytest.raises(FlowDefinitionError, match=r"defines several flows \(A, B\)"):
        derive(str(path))


SWITCH = """
    from mfw import Config, FlowSpec, step

    class SwitchFlow(FlowSpec):
        settings = Config("settings", default_value={"slow": "careful"})

        @step
        def start(self):
            self.mode = "fast"
            self.next(
                {"fast": self.quick, self.settings.slow: self.slow, 3: self.quick},
                condition="mode",
            )

        @step
        def quick(self):
            self.next(self.end)

        @step
        def slow(self):
            self.next(self.end)

        @step
        def end(self):
            pass
"""


def test_a_switch_is_read_with_its_cases_and_config_values(flow_file):
    graph = derive(str(flow_file(SWITCH)))
    steps = {s["name"]: s for s in graph["steps"]}
    start = steps["start"]
    # Each target once, in the order of the cases; a config's value is the
    # case it was when the flow was built.
    assert start["next"] == ["quick", "slow"]
    assert start["switch"] == {
        "condition": "mode",
        "cases": [['"fast"', "quick"], ['"careful"', "slow"], ["3", "quick"]],
    }
    assert "switch" not in steps["quick"]
    json.dumps(graph)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('self.next({"a": self.end}, condition=mode)', "condition= names an artifact"),
        ('self.next({"a": self.end}, self.end, condition="m")', "takes one dictionary"),
        ('self.next({x: self.end}, condition="m")', "a switch case is a literal"),
        ('self.next({"a": "end"}, condition="m")', "maps each case to a step"),
        ('self.next({"a": self.end}, condition="m", foreach="xs")', "cannot fan out"),
        ('self.next({"a": self.end})', 'a dictionary of cases needs condition="artifact"'),
    ],
)
def test_a_malformed_switch_is_an_error_at_its_line(flow_file, call, message):
    path = flow_file(
        f"""
        from mfw import FlowSpec, step

        class F(FlowSpec):
            @step
            def start(self):
                {call}

            @step
            def end(self):
                pass
        """
    )
    with pytest.raises(FlowDefinitionError, match=r"flow\.py:7: .*" + re.escape(message)):
        derive(str(path))


class _Recorder:
    """What a step's self.next() hands the host."""

    def __init__(self):
        self.calls = []

    def persist_pending(self, flow):
        pass

    def next(self, names, foreach):
        self.calls.append((names, foreach))


def _run_start(flow_file, body):
    from mfw._graph import find_flow, load_module

    path = flow_file(
        f"""
        from mfw import FlowSpec, step

        class F(FlowSpec):
            @step
            def start(self):
                {body}

            @step
            def a(self):
                self.next(self.end)

            @step
            def end(self):
                pass
        """
    )
    flow_class = find_flow(load_module(str(path)), str(path))
    flow = object.__new__(flow_class)
    recorder = _Recorder()
    flow.__dict__["_mfw_state"] = recorder
    flow.start()
    return recorder.calls


def test_a_switch_takes_the_case_its_condition_names(flow_file):
    calls = _run_start(flow_file, 'self.m = 2; self.next({1: self.end, 2: self.a}, condition="m")')
    assert calls == [(["a"], None)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'self.m = "c"; self.next({"a": self.a, "b": self.end}, condition="m")',
            r"self\.m is 'c', which is none of its cases \['a', 'b'\]",
        ),
        ('self.next({"a": self.a, "b": self.end}, condition="m")', r"self\.m is not set"),
        ('self.m = "a"; self.next({}, condition="m")', "takes one dictionary"),
    ],
)
def test_a_switch_without_its_case_says_why(flow_file, body, message):
    with pytest.raises(MfwError, match=message):
        _run_start(flow_file, body)
