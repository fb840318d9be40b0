"""benches/large.sh: one large value set in `start` and read in `end`, or
(`--store False`) only generated, which is what the value costs the
interpreter before mfw moves it."""

import io
import random

from mfw import FlowSpec, Parameter, step


def incompressible(size: int) -> bytes:
    """``size`` seeded random bytes, made a MiB at a time in one buffer:
    ``randbytes(size)`` at once would hold them twice (as an int, then as
    bytes), and the bench would measure that rather than the value's move."""
    rnd = random.Random(0)
    out = io.BytesIO()
    out.seek(size - 1)
    out.write(b"\0")
    out.seek(0)
    for _ in range(size >> 20):
        out.write(rnd.randbytes(1 << 20))
    out.write(rnd.randbytes(size & ((1 << 20) - 1)))
    return out.getvalue()


class LargeFlow(FlowSpec):
    mib = Parameter("mib", help="The value's size in MiB.", default=100)
    store = Parameter("store", help="Set it as an artifact.", default=True)

    @step
    def start(self):
        data = incompressible(int(self.mib) << 20)
        if self.store:
            self.blob = data
        self.next(self.end)

    @step
    def end(self):
        if self.store:
            print(len(self.blob))


if __name__ == "__main__":
    LargeFlow()
