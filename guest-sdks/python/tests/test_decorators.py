"""Decorators record themselves for the graph; bad options fail early."""

import pytest

from mfw import FlowDefinitionError, FlowSpec, Parameter, project, pypi_base, retry, schedule, step


def test_bare_and_called_forms_record_in_order():
    @retry
    @retry(times=5, minutes_between_retries=0)
    @step
    def start(self):
        pass

    assert start._mfw_step
    assert start._mfw_decorators == [
        ("retry", []),
        ("retry", [("times", "5"), ("minutes_between_retries", "0")]),
    ]


def test_flow_decorators_go_on_the_class():
    @project(name="demo")
    @schedule(daily=True)
    @pypi_base(packages={"six": "1.16.0"})
    class F(FlowSpec):
        pass

    names = [name for name, _ in F._mfw_flow_decorators]
    assert names == ["project", "schedule", "pypi_base"]
    assert F._mfw_flow_decorators[2][1] == [("packages", '{"six":"1.16.0"}')]


def test_unknown_options_are_errors():
    with pytest.raises(FlowDefinitionError, match="@schedule has no option 'dayly'"):
        schedule(dayly=True)


def test_flow_decorators_refuse_functions():
    with pytest.raises(FlowDefinitionError, match="@project decorates a flow class"):
        project(name="x")(lambda self: None)


def test_parameters_refuse_unknown_options_and_types():
    with pytest.raises(FlowDefinitionError, match="has no option 'defualt'"):
        Parameter("n", defualt=3)
    with pytest.raises(FlowDefinitionError, match="use str, int, float, bool or JSONType"):
        Parameter("n", type=list)
