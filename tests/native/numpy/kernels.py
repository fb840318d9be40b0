"""numpy kernels whose results a test compares between a step (numpy built
for the component) and the build machine's CPython (numpy from PyPI)."""

import hashlib

import numpy as np


def _sorts(rng: np.random.Generator) -> dict:
    """np.sort and np.argsort of each type the component's radix sort takes
    (numpy's x86 sorts natively), checked against the stable sort, which
    neither changes: the same order, NaNs last, -0.0 equal to 0.0."""
    specials = np.repeat([np.nan, -np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0], 60)
    floats = np.concatenate([rng.standard_normal(3_000), specials])
    rng.shuffle(floats)
    checks = {}
    for dtype in ("float64", "float32", "int64", "uint64", "int32", "uint32", "int16"):
        if dtype.startswith("float"):
            a = floats.astype(dtype)
        else:
            info = np.iinfo(dtype)
            wide = rng.integers(info.min, info.max, 3_000, dtype=dtype, endpoint=True)
            a = np.concatenate([wide, np.repeat(np.array([0, 7, info.max], dtype=dtype), 50)])
            rng.shuffle(a)
        s = np.sort(a)
        stable = np.sort(a, kind="stable")
        order = np.argsort(a)
        checks[dtype] = {
            "sort_is_the_stable_sort": bool(np.array_equal(s, stable, equal_nan=True)),
            "argsort_orders_the_values": bool(np.array_equal(a[order], s, equal_nan=True)),
            "argsort_is_a_permutation": bool(np.array_equal(np.sort(order), np.arange(a.size))),
            # A stable order is the only one: the same indices in both.
            "stable_argsort": hashlib.sha256(
                np.argsort(a, kind="stable").astype(np.int64).tobytes()
            ).hexdigest(),
            "nans_at_the_end": int(np.isnan(s[-120:]).sum()) if a.dtype.kind == "f" else 0,
            # Away from the zeros, whose signs may come in either order.
            "at_some_ranks": s[[60, 500, 2_800]].tolist(),
        }
    return checks


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
        "sorts": _sorts(rng),
    }
