from mfw import FlowSpec, kubernetes, step


class HelloFlow(FlowSpec):
    """A flow where Metaflow prints 'Hi'."""

    @step
    def start(self):
        """This is the 'start' step."""
        self.x = 1
        self.next(self.end)

    @kubernetes(memory=64000)
    @step
    def end(self):
        """This is the 'end' step."""
        self.x += 1
        print("Hello world! The value of x is", self.x)


if __name__ == "__main__":
    HelloFlow()
