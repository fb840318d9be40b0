import os

from mfw import FlowSpec, IncludeFile, step


class PolyglotFlow(FlowSpec):
    """Python loads a small dataset and fans out; Rust trains; Go picks."""

    data = IncludeFile(
        "data",
        default=os.path.join(os.path.dirname(__file__), "data.csv"),
        help="x,y points to fit.",
    )

    @step
    def start(self):
        rows = [line.split(",") for line in self.data.strip().splitlines()[1:]]
        self.points = [(float(x), float(y)) for x, y in rows]
        self.n_trees = [4, 16, 64]
        self.next(self.train, foreach="n_trees")

    @step
    def end(self):
        print(f"best: {self.best_n_trees} trees, rmse {self.best_rmse:.4f}")


if __name__ == "__main__":
    PolyglotFlow()
