from mfw import FlowSpec, pypi_base, step


@pypi_base(packages={"scipy": "1.18.1"})
class ScipyKernelsFlow(FlowSpec):
    """scipy inside a sandboxed step: the test compares these results with
    the same quantities computed without scipy (expected.py)."""

    @step
    def start(self):
        import kernels

        self.results = kernels.compute()
        self.next(self.end)

    @step
    def end(self):
        import scipy

        solve = [round(x, 6) for x in self.results["linalg_solve"]]
        print("scipy", scipy.__version__, "solve", solve, "minimum", self.results["minimize_x"])
