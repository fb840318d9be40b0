"""What kernels.py computes with scipy, computed with numpy and math alone
(the build machine's Python cannot install scipy 1.18: it needs 3.12)."""

import math

import numpy as np
from inputs import GAMMA_AT, NORM_AT, SPARSE, SPLINE_AT, VECTOR, A, B, cubic


def compute() -> dict:
    dense = np.array(SPARSE, dtype=float)
    return {
        "linalg_solve": np.linalg.solve(np.array(A), np.array(B)).tolist(),
        "linalg_det": float(np.linalg.det(np.array(A))),
        "gamma": [math.gamma(x) for x in GAMMA_AT],
        "erf": [math.erf(x) for x in NORM_AT],
        "norm_cdf": [0.5 * (1.0 + math.erf(x / math.sqrt(2.0))) for x in NORM_AT],
        "csr_matvec": (dense @ np.array(VECTOR, dtype=float)).tolist(),
        "csr_matmul": (dense @ dense).tolist(),
        "csr_nnz": int(np.count_nonzero(dense)),
        # The quadratic's minimum, where its gradient is zero.
        "minimize_x": [1.0, -2.0],
        "minimize_success": True,
        # A not-a-knot cubic spline through a cubic's values is that cubic.
        "spline": [cubic(x) for x in SPLINE_AT],
    }
