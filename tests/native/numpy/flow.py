from mfw import FlowSpec, pypi_base, step


@pypi_base(packages={"numpy": "2.3.5"})
class NumpyKernelsFlow(FlowSpec):
    """numpy inside a sandboxed step: the test compares these results with
    the same code run natively."""

    @step
    def start(self):
        import kernels

        self.results = kernels.compute()
        self.next(self.end)

    @step
    def end(self):
        import numpy as np

        print("numpy", np.__version__, "sum", round(self.results["sum"], 6))
