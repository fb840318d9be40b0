# A step that fails, in Metaflow's form: the test asserts where its
# traceback shows (console, logs, dump) and Metaflow's command lines.
from mfw import FlowSpec, Parameter, step


class FailingFlow(FlowSpec):
    fail = Parameter("fail", type=bool, default=True, help="Fail in the middle step.")
    rounds = Parameter("rounds", default=3, help="How many rounds.")

    @step
    def start(self):
        self.items = list(range(self.rounds))
        self.next(self.middle, foreach="items")

    @step
    def middle(self):
        settings = {}
        if self.fail and self.input == 1:
            self.value = settings["missing_key"]
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        print("total", self.total)


if __name__ == "__main__":
    FailingFlow()
