"""scipy in a step (scipy built for the component, against OpenBLAS): the
test compares these results with expected.py, the same quantities computed
with numpy and math alone."""

import numpy as np
from inputs import GAMMA_AT, KNOTS, NORM_AT, SPARSE, SPLINE_AT, VECTOR, A, B, cubic
from scipy import interpolate, linalg, optimize, sparse, special, stats


def compute() -> dict:
    dense = np.array(SPARSE, dtype=float)
    csr = sparse.csr_matrix(dense)
    found = optimize.minimize(
        lambda x: (x[0] - 1.0) ** 2 + 2.0 * (x[1] + 2.0) ** 2 + 0.5 * (x[0] - 1.0) * (x[1] + 2.0),
        x0=np.zeros(2),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    spline = interpolate.CubicSpline(KNOTS, [cubic(x) for x in KNOTS])
    return {
        "linalg_solve": linalg.solve(np.array(A), np.array(B)).tolist(),
        "linalg_det": float(linalg.det(np.array(A))),
        "gamma": special.gamma(GAMMA_AT).tolist(),
        "erf": special.erf(NORM_AT).tolist(),
        "norm_cdf": stats.norm.cdf(NORM_AT).tolist(),
        "csr_matvec": (csr @ np.array(VECTOR, dtype=float)).tolist(),
        "csr_matmul": (csr @ csr).toarray().tolist(),
        "csr_nnz": int(csr.nnz),
        "minimize_x": [round(float(x), 4) for x in found.x],
        "minimize_success": bool(found.success),
        "spline": spline(SPLINE_AT).tolist(),
    }
