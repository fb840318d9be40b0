from mfw import FlowSpec, conda_base, step


# Metaflow's conda spelling: resolved like @pypi_base.
@conda_base(libraries={"pandas": "2.3.3"})
class PandasFramesFlow(FlowSpec):
    """pandas inside a sandboxed step (numpy comes with it): the test
    compares these results with the same code run natively."""

    @step
    def start(self):
        import frames

        self.results = frames.compute()
        self.next(self.end)

    @step
    def end(self):
        import pandas as pd

        print("pandas", pd.__version__, "rows", self.results["merged_rows"])
