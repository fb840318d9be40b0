from mfw import FlowSpec, pypi_base, step


@pypi_base(packages={"scikit-learn": "1.9.1"})
class SklearnModelsFlow(FlowSpec):
    """scikit-learn inside a sandboxed step: the test compares these results
    with the same code run natively, and predicts with the pickled forest in
    native CPython."""

    @step
    def start(self):
        import sys

        import models

        self.results, self.model = models.fit()
        self.rmse = self.results["forest_rmse"]
        # What the snapshot holds of scikit-learn: the test compares it with
        # every module of the native package (tests aside).
        self.sklearn_modules = sorted(m for m in sys.modules if m.split(".")[0] == "sklearn")
        self.next(self.end)

    @step
    def end(self):
        import models
        import numpy as np
        import sklearn

        # The forest, unpickled in a later step, predicts what it did.
        x_test, _ = models.test_split()
        same = np.array_equal(self.model.predict(x_test), self.results["forest_predictions"])
        print("scikit-learn", sklearn.__version__, "unpickled forest predicts the same:", same)
        print("rmse", round(self.rmse, 6))
