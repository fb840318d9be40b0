from mfw import FlowSpec, Parameter, step


class WideFlow(FlowSpec):
    """Doubles 0..n in parallel and adds the results up."""

    n = Parameter("n", default=100, help="How many tasks to fan out to.")

    @step
    def start(self):
        self.items = list(range(self.n))
        self.next(self.double, foreach="items")

    @step
    def double(self):
        self.y = 2 * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.y for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total =", self.total)


if __name__ == "__main__":
    WideFlow()
