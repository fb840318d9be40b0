"""numpy kernels whose results a test compares between a step (numpy built
for the component) and the build machine's CPython (numpy from PyPI)."""

import numpy as np


def compute() -> dict:
    rng = np.random.default_rng(42)
    a = rng.standard_normal(10_000)
    m = rng.standard_normal((16, 16))
    b = rng.standard_normal(16)
    return {
        "sum": float(a.sum()),
        "mean": float(a.mean()),
        "std": float(a.std()),
        "percentile_90": float(np.percentile(a, 90)),
        "cumsum_last": float(np.cumsum(a)[-1]),
        "sorted_head": np.sort(a)[:5].tolist(),
        "argsort_head": np.argsort(a)[:5].tolist(),
        "unique": np.unique(rng.integers(0, 10, 100)).tolist(),
        "integers": rng.integers(0, 1000, 5).tolist(),
        "matmul_trace": float(np.trace(m @ m.T)),
        "solve": np.linalg.solve(m, b).tolist(),
        "det": float(np.linalg.det(m)),
        "svd": np.linalg.svd(m, compute_uv=False).tolist(),
        "eigvals_abs": sorted(np.abs(np.linalg.eigvals(m)).tolist()),
        "rfft_abs": np.abs(np.fft.rfft(a[:64])).tolist(),
        "sin_sum": float(np.sin(a).sum()),
        "exp_mean": float(np.exp(a / 4).mean()),
        "histogram": np.histogram(a, bins=8)[0].tolist(),
        # float32 elementwise (exact); a float32 sum's order differs natively.
        "float32_scaled_max": float((a[:100].astype(np.float32) * np.float32(3)).max()),
        "dtype_str": str((a[:3] * 2).astype(np.int64).dtype),
    }
