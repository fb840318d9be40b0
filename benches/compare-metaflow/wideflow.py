"""The Metaflow twin of mfw's examples/wide/rust flow.

A wide foreach: one task per number, each doubling it; the join sums.
Run by run.sh to compare Metaflow's local runtime with mfw's.
"""

from metaflow import FlowSpec, Parameter, step


class WideFlow(FlowSpec):
    """Doubles 0..n in parallel and adds the results up."""

    n = Parameter("n", help="How many tasks to fan out to.", default=100)

    @step
    def start(self):
        """Makes the list 0..n and fans out over it."""
        self.items = list(range(self.n))
        self.next(self.double, foreach="items")

    @step
    def double(self):
        """Sets y = 2 * input."""
        self.y = 2 * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        """Sums every task's y."""
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        """Reports the total."""
        print(f"total = {self.total}")


if __name__ == "__main__":
    WideFlow()
