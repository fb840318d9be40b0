"""Tutorial 05, scaling out: a foreach whose tasks run as Kubernetes pods
while the rest of the flow runs on your machine, all sharing one S3
datastore."""

import random

from mfw import FlowSpec, Parameter, kubernetes, step


class MonteCarloFlow(FlowSpec):
    """Estimates pi from random points, one batch of points per task."""

    batches = Parameter("batches", default=8, help="How many tasks to spread the points over.")
    points = Parameter("points", default=100_000, help="Points per task.")

    @step
    def start(self):
        self.seeds = list(range(self.batches))
        self.next(self.sample, foreach="seeds")

    @kubernetes(cpu=1, memory=512)
    @step
    def sample(self):
        """One batch: how many random points of the unit square fall inside
        the quarter circle. Each task has its own seed, so the estimate is
        the same wherever and however often it runs."""
        rng = random.Random(self.input)
        self.inside = sum(rng.random() ** 2 + rng.random() ** 2 <= 1.0 for _ in range(self.points))
        self.next(self.join)

    @step
    def join(self, inputs):
        total = sum(task.inside for task in inputs)
        self.pi = 4 * total / (self.points * len(inputs))
        self.next(self.end)

    @step
    def end(self):
        print(f"pi is about {self.pi:.3f} ({self.batches} x {self.points:,} points)")


if __name__ == "__main__":
    MonteCarloFlow()
