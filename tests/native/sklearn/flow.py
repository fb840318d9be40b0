from mfw import FlowSpec, pypi_base, step


# pandas beside scikit-learn: the two with numpy and scipy are the set a
# data scientist pins most, and together they once outgrew the build's
# snapshot.
@pypi_base(packages={"scikit-learn": "1.9.1", "pandas": "2.3.3"})
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
        import pandas as pd
        import sklearn

        # The forest, unpickled in a later step, predicts what it did.
        x_test, _ = models.test_split()
        frame = pd.DataFrame({"predicted": self.model.predict(x_test)})
        same = np.array_equal(frame["predicted"].to_numpy(), self.results["forest_predictions"])
        print(
            "scikit-learn",
            sklearn.__version__,
            "unpickled forest predicts the same:",
            same,
            "in a pandas",
            pd.__version__,
            "frame",
        )
        print("rmse", round(self.rmse, 6))
