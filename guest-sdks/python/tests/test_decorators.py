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


def test_batch_is_a_kubernetes_step_with_its_resources():
    from mfw import batch

    @batch(cpu=4, memory=16000, gpu=None, queue="ml", iam_role="arn:x", image="py:3.11")
    @step
    def train(self):
        pass

    # AWS's options have no effect: only the resources are recorded.
    assert train._mfw_decorators == [("kubernetes", [("cpu", "4"), ("memory", "16000")])]

    @batch
    @step
    def bare(self):
        pass

    assert bare._mfw_decorators == [("kubernetes", [])]
    with pytest.raises(FlowDefinitionError, match="@batch has no option 'cpus'"):
        batch(cpus=2)


def test_metaflows_kubernetes_card_and_pypi_options_are_accepted():
    from mfw import card, kubernetes, pypi

    @kubernetes(labels={"team": "ml"}, use_tmpfs=True, compute_pool="p", qos="Guaranteed")
    @card(type="blank", scope="task")
    @pypi(disabled=True)
    @step
    def start(self):
        pass

    names = [name for name, _ in start._mfw_decorators]
    assert names == ["kubernetes", "card", "pypi"]
    pypi_base(disabled=True)
    assert ("labels", '{"team":"ml"}') in start._mfw_decorators[0][1]


def test_project_names_and_branches_are_metaflows():
    @project(name="fraud", branch="new_model", production=True)
    class F(FlowSpec):
        pass

    assert F._mfw_flow_decorators == [
        ("project", [("name", '"fraud"'), ("branch", '"new_model"'), ("production", "true")])
    ]
    for bad in [{"name": "Fraud"}, {"name": ""}, {}, {"name": "ok", "branch": "a-b"}]:
        with pytest.raises(FlowDefinitionError, match="lowercase letters, digits and underscores"):
            project(**bad)


@pytest.mark.parametrize(
    ("options", "branch", "production", "user_branch"),
    [
        ({}, "user.ada", False, True),
        ({"branch": "new_model"}, "test.new_model", False, False),
        ({"production": True}, "prod", True, False),
        ({"branch": "new_model", "production": True}, "prod.new_model", True, False),
    ],
)
def test_current_names_the_projects_branch_as_metaflow_does(
    monkeypatch, options, branch, production, user_branch
):
    from mfw import current
    from mfw._current import _RUNNING

    @project(name="fraud", **options)
    class ScoreFlow(FlowSpec):
        pass

    monkeypatch.setitem(_RUNNING, "flow", ScoreFlow)
    monkeypatch.setattr(type(current), "username", property(lambda self: "ada"))
    monkeypatch.setattr(type(current), "flow_name", property(lambda self: "ScoreFlow"))
    assert current.project_name == "fraud"
    assert current.branch_name == branch
    assert current.project_flow_name == f"fraud.{branch}.ScoreFlow"
    assert current.is_production is production
    assert current.is_user_branch is user_branch
