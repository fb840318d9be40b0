"""mfw: write flows Metaflow's way; each step runs sandboxed in a
WebAssembly component.

    from mfw import FlowSpec, step

    class HelloFlow(FlowSpec):
        @step
        def start(self):
            self.x = 1
            self.next(self.end)

        @step
        def end(self):
            self.x += 1
            print("Hello world! The value of x is", self.x)

    if __name__ == "__main__":
        HelloFlow()

Read runs back in any Python: `Flow("HelloFlow").latest_run["end"].task.data.x`.
"""

from ._client import (
    DataArtifact,
    Flow,
    Metaflow,
    Run,
    Step,
    Task,
    default_metadata,
    default_namespace,
    get_datastore,
    get_metadata,
    get_namespace,
    metadata,
    namespace,
    set_datastore,
)
from ._config import Config, ConfigValue, config_expr
from ._current import current
from ._datatools import S3
from ._decorators import (
    batch,
    cache,
    card,
    catch,
    conda,
    conda_base,
    environment,
    grant,
    kubernetes,
    project,
    pypi,
    pypi_base,
    resources,
    retry,
    schedule,
    step,
    timeout,
    trigger,
    trigger_on_finish,
)
from ._errors import FlowDefinitionError, MfwError
from ._flowspec import FlowSpec
from ._parameters import IncludeFile, JSONType, Parameter
from ._runner import ExecutingRun, NBRunner, Runner
from ._utils import parallel_imap_unordered, parallel_map, profile

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigValue",
    "DataArtifact",
    "Flow",
    "FlowDefinitionError",
    "FlowSpec",
    "IncludeFile",
    "JSONType",
    "Metaflow",
    "MfwError",
    "Parameter",
    "Run",
    "S3",
    "NBRunner",
    "Runner",
    "ExecutingRun",
    "Step",
    "Task",
    "batch",
    "cache",
    "card",
    "catch",
    "conda",
    "config_expr",
    "conda_base",
    "current",
    "default_metadata",
    "default_namespace",
    "environment",
    "get_datastore",
    "get_metadata",
    "get_namespace",
    "grant",
    "kubernetes",
    "metadata",
    "namespace",
    "parallel_imap_unordered",
    "parallel_map",
    "profile",
    "project",
    "pypi",
    "pypi_base",
    "resources",
    "retry",
    "schedule",
    "set_datastore",
    "step",
    "timeout",
    "trigger",
    "trigger_on_finish",
]
