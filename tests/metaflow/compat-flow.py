# Metaflow's forms, unchanged, imports included (in a component `metaflow`
# is mfw): the test asserts what Metaflow gives for each. The file name has
# a '-', as hello-cloud.py does.
from metaflow import (
    Config,
    Flow,
    FlowSpec,
    JSONType,
    Parameter,
    batch,
    card,
    catch,
    config_expr,
    current,
    environment,
    parallel_map,
    profile,
    project,
    retry,
    step,
    trigger_on_finish,
)
from metaflow.cards import Markdown, ProgressBar, Table


class Point:
    """A class of the flow's own, stored as an artifact."""

    def __init__(self, x, y):
        self.x, self.y = x, y


def owner_default(ctx):
    """A deploy-time default: computed when the run starts."""
    return f"{ctx.user_name}@{ctx.flow_name}/{ctx.parameter_name}/{ctx.ds_type}"


@project(name="compat", branch="nightly_eval")
@trigger_on_finish(flow="UpstreamFlow")
class CompatFlow(FlowSpec):
    config = Parameter("config", type=JSONType, default='{"depth": 3, "tags": ["a"]}')
    typed_int = Parameter("typed-int", type=int, default=7)
    owner = Parameter("owner", default=owner_default)
    # Read when the flow is built, from the file beside it.
    settings = Config("settings", default="compat-config.json")
    # (not `batch`: in the class body that name would hide the decorator)
    batch_size = Parameter("batch_size", default=lambda ctx: len(ctx.user_name) * 10, type=int)

    @card(type="blank")
    @step
    def start(self):
        current.card.append(Markdown("# Compat"))
        current.card.extend([Table([[1, "a"]], headers=["n", "s"]), ProgressBar(max=3, value=1)])
        self.frozen = frozenset({1, 2})
        self.point = Point(1, 2)
        self.buffer = bytearray(b"\x00\x01")
        self.letters = ["a", "b"]
        self.next(self.outer, foreach="letters")

    # Metaflow's AWS Batch: here a @kubernetes step with these resources.
    @batch(cpu=1, memory=2048, queue="ml-queue", iam_role="arn:aws:iam::1:role/x")
    @step
    def outer(self):
        self.numbers = [10, 20, 30]
        self.next(self.inner, foreach="numbers")

    @catch(var="failure")
    @step
    def inner(self):
        self.stack = self.foreach_stack()
        if self.input == 20:
            raise KeyError("missing_key")
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        caught = [i.failure for i in inputs if getattr(i, "failure", None)]
        self.stacks = sorted(i.stack for i in inputs if not getattr(i, "failure", None))
        self.failures = [(f.type, f.exception, "KeyError" in f.traceback) for f in caught]
        self.merge_artifacts(inputs, exclude=["stack", "failure"])
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.stacks = sorted(s for i in inputs for s in i.stacks)
        self.failures = [f for i in inputs for f in i.failures]
        self.merge_artifacts(inputs)
        self.next(self.flaky)

    @environment(vars={"MODE": settings.mode})
    @retry(times=config_expr("settings.retries"))
    @step
    def flaky(self):
        import os

        self.mode = os.environ.get("MODE")
        try:
            Flow("OtherFlow")
        except Exception as e:  # noqa: BLE001 - the message is what the test reads
            self.client_error = str(e)
        from mfw import current

        if current.retry_count == 0:
            raise RuntimeError("first attempt fails")
        self.attempt = current.retry_count
        self.next(self.reads_file)

    @catch(var="open_failure")
    @step
    def reads_file(self):
        with open("table.csv") as f:
            self.table = f.read()
        self.next(self.end)

    @step
    def end(self):
        self.types = [type(self.frozen).__name__, type(self.buffer).__name__]
        self.config_depth = self.config["depth"]
        self.doubled = self.typed_int * 2
        self.computed = [self.owner, self.batch_size]
        self.who = [current.username, current.namespace, sorted(current.tags)]
        self.origin = current.origin_run_id
        self.parameter_names = current.parameter_names
        self.project = [current.project_name, current.branch_name, current.project_flow_name]
        self.production = current.is_production
        timings = {}
        with profile("squares", timings):
            self.squares = parallel_map(lambda x: x * x, [1, 2, 3])
        self.profiled = list(timings)
        self.settings_read = [self.settings.mode, self.settings.model.depth]
        print("types", self.types, "depth", self.config_depth, "doubled", self.doubled)


if __name__ == "__main__":
    CompatFlow()
