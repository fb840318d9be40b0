"""Tutorial 00, hello world: three steps in a line, and an artifact passed
from one to the next."""

from mfw import FlowSpec, step


class HelloFlow(FlowSpec):
    """A flow where each step adds to a greeting."""

    @step
    def start(self):
        """Every flow begins with a step named start."""
        print("HelloFlow is starting.")
        self.greeting = "Hello"
        self.next(self.hello)

    @step
    def hello(self):
        """Reads what start stored, and stores something new."""
        self.greeting = f"{self.greeting}, world!"
        print(self.greeting)
        self.next(self.end)

    @step
    def end(self):
        """Every flow ends with a step named end."""
        print("HelloFlow is all done.")


if __name__ == "__main__":
    HelloFlow()
