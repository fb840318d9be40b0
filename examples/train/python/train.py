from mfw import FlowSpec, retry, step


def split_mix(state):
    """A tiny deterministic generator (SplitMix64): same numbers everywhere."""
    mask = (1 << 64) - 1
    while True:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        yield ((z ^ (z >> 31)) >> 11) / float(1 << 53)


def dataset(seed, n):
    """y = x² with a little noise, on [0, 1)."""
    rng = split_mix(seed)
    points = []
    for _ in range(n):
        x = next(rng)
        points.append((x, x * x + 0.1 * (next(rng) - 0.5)))
    return points


def fit_stump(sample):
    """The regression stump with the least squared error."""
    ordered = sorted(sample)
    total = sum(y for _, y in ordered)
    best = (float("inf"), 0.5, 0.0, 0.0)
    left = 0.0
    for i in range(1, len(ordered)):
        left += ordered[i - 1][1]
        ml, mr = left / i, (total - left) / (len(ordered) - i)
        sse = sum((y - ml) ** 2 for _, y in ordered[:i]) + sum(
            (y - mr) ** 2 for _, y in ordered[i:]
        )
        if sse < best[0]:
            best = (sse, (ordered[i - 1][0] + ordered[i][0]) / 2, ml, mr)
    return best[1:]


class TrainFlow(FlowSpec):
    """Metaflow's n_trees example: one forest per size, keep the best."""

    @step
    def start(self):
        self.n_trees = [16, 32, 64]
        self.next(self.train, foreach="n_trees")

    @retry(times=2)
    @step
    def train(self):
        data = dataset(1, 60)
        rng = split_mix(42)
        stumps = []
        for _ in range(self.input):
            sample = [data[int(next(rng) * len(data))] for _ in data]
            stumps.append(fit_stump(sample))
        self.model = {"stumps": stumps}
        test = dataset(2, 40)

        def predict(x):
            return sum(left if x < split else right for split, left, right in stumps) / len(stumps)

        self.rmse = (sum((predict(x) - y) ** 2 for x, y in test) / len(test)) ** 0.5
        self.next(self.join)

    @step
    def join(self, inputs):
        self.rmses = [i.rmse for i in inputs]
        self.best_rmse = min(self.rmses)
        self.next(self.end)

    @step
    def end(self):
        print(f"best rmse: {self.best_rmse:.4f}")


if __name__ == "__main__":
    TrainFlow()
