"""benches/large.sh: one large value set in `start` and read in `end`, or
(`--store False`) only generated, which is what the value costs the
interpreter before mfw moves it."""

import random

from mfw import FlowSpec, Parameter, step


class LargeFlow(FlowSpec):
    mib = Parameter("mib", help="The value's size in MiB.", default=100)
    store = Parameter("store", help="Set it as an artifact.", default=True)

    @step
    def start(self):
        data = random.Random(0).randbytes(int(self.mib) << 20)
        if self.store:
            self.blob = data
        self.next(self.end)

    @step
    def end(self):
        if self.store:
            print(len(self.blob))


if __name__ == "__main__":
    LargeFlow()
