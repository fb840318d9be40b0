from mfw import FlowSpec, step


class BranchFlow(FlowSpec):
    """start -> (a, b) -> join -> end."""

    @step
    def start(self):
        self.greeting = "hello"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.from_a = "set in a"
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.from_b = "set in b"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = inputs.a.x + inputs.b.x
        # x differs between the branches, so it must be excluded.
        self.merge_artifacts(inputs, exclude=["x"])
        self.next(self.end)

    @step
    def end(self):
        print(f"{self.greeting}: total = {self.total}")


if __name__ == "__main__":
    BranchFlow()
