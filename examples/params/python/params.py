import os

from mfw import FlowSpec, IncludeFile, Parameter, step


class ParamsFlow(FlowSpec):
    """Reads a CSV chosen on the command line and scales a column."""

    scale = Parameter("scale", default=2.0, help="What to multiply by.")
    label = Parameter("label", required=True, help="A name for the result.")
    data = IncludeFile(
        "data",
        default=os.path.join(os.path.dirname(__file__), "data.csv"),
        help="The CSV to read.",
    )

    @step
    def start(self):
        rows = [line.split(",") for line in self.data.strip().splitlines()[1:]]
        self.values = [float(value) * self.scale for _, value in rows]
        self.next(self.end)

    @step
    def end(self):
        self.summary = f"{self.label}: {sum(self.values)}"
        print(self.summary)


if __name__ == "__main__":
    ParamsFlow()
