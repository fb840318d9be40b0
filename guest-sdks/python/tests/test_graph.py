"""Deriving a flow's graph at build time, and the errors that point at the
file and line."""

import json

import pytest

from mfw import FlowDefinitionError, _encoding
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
