"""Metaflow's conditional transitions (switches, Metaflow 2.18): a step goes
to the one case its condition artifact names; the cases meet again at an
ordinary step, inside a foreach, and inside a split before its join. A
switch may go back to its own step (a recursive step): at the top level and
in a foreach."""

from metaflow import FlowSpec, Parameter, step


class SwitchFlow(FlowSpec):
    mode = Parameter("mode", default="fast", help="fast or slow")

    @step
    def start(self):
        self.route = self.mode
        self.next({"fast": self.quick, "slow": self.careful}, condition="route")

    @step
    def quick(self):
        self.path = ["quick"]
        self.next(self.fan)

    @step
    def careful(self):
        self.path = ["careful"]
        self.next(self.fan)

    @step
    def fan(self):
        """Where the cases meet again: whichever ran."""
        self.items = [1, 2, 3, 4]
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.even = self.input % 2 == 0
        self.out = self.input
        self.next({True: self.double, False: self.square}, condition="even")

    @step
    def double(self):
        """Doubles until it reaches 10, one task per round."""
        self.out = self.out * 2
        self.small = self.out < 10
        self.next({True: self.double, False: self.doubled}, condition="small")

    @step
    def doubled(self):
        self.next(self.gather)

    @step
    def square(self):
        self.out = self.input**2
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.outs = [i.out for i in inputs]
        self.path = inputs[0].path
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "left"
        self.big = sum(self.outs) > 20
        self.next({True: self.left_big, False: self.left_small}, condition="big")

    @step
    def left_big(self):
        self.size = "big"
        self.next(self.join)

    @step
    def left_small(self):
        self.size = "small"
        self.next(self.join)

    @step
    def right(self):
        self.side = "right"
        self.size = "none"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.sides = [(i.side, i.size) for i in inputs]
        self.merge_artifacts(inputs, include=["path", "outs"])
        self.countdown = 3
        self.ticks = []
        self.next(self.tick)

    @step
    def tick(self):
        self.countdown -= 1
        self.ticks = self.ticks + [self.countdown]
        self.state = "stop" if self.countdown == 0 else "go"
        self.next({"go": self.tick, "stop": self.end}, condition="state")

    @step
    def end(self):
        print("path", self.path, "sides", self.sides, "ticks", self.ticks)


if __name__ == "__main__":
    SwitchFlow()
