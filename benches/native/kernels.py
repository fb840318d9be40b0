"""The numpy and pandas kernels benches/native.sh times inside a component
and in the build machine's CPython: best of `repeat` runs of each, in
seconds."""

import io
import time

import numpy as np
import pandas as pd


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def timings(repeat: int = 5) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(1_000_000)
    b = rng.standard_normal(1_000_000)
    m = rng.standard_normal((512, 512))
    n = rng.standard_normal((512, 512))
    frame = pd.DataFrame({"key": rng.integers(0, 1000, 1_000_000), "value": a})
    rows = 350_000  # about 10 MB of CSV
    csv = pd.DataFrame(
        {
            "id": np.arange(rows),
            "x": rng.standard_normal(rows).round(6),
            "y": rng.integers(0, 10**6, rows),
            "label": rng.choice(["alpha", "beta", "gamma"], rows),
        }
    ).to_csv(index=False)
    return {
        "csv_megabytes": len(csv) / 1e6,
        "vector arithmetic, 1M (a * b + a / 3)": _best(lambda: a * b + a / 3, repeat),
        "matmul 512x512": _best(lambda: m @ n, repeat),
        "sort 1M floats": _best(lambda: np.sort(a), repeat),
        "argsort 1M floats": _best(lambda: np.argsort(a), repeat),
        "groupby-sum, 1M rows": _best(lambda: frame.groupby("key")["value"].sum(), repeat),
        "read_csv": _best(lambda: pd.read_csv(io.StringIO(csv)), repeat),
    }
