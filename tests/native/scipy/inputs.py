"""The inputs kernels.py (scipy) and expected.py (numpy and math) share."""

A = [[4.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 4.0]]
B = [11.0, -16.0, 17.0]
GAMMA_AT = [0.5, 1.0, 2.5, 5.0, 7.25]
NORM_AT = [-1.96, -0.5, 0.0, 1.0, 2.5]
SPARSE = [[1, 0, 0, 2], [0, 0, 3, 0], [4, 0, 5, 0], [0, 6, 0, 7]]
VECTOR = [1, 2, 3, 4]
KNOTS = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
SPLINE_AT = [0.5, 2.25, 4.75]


def cubic(x: float) -> float:
    return x**3 - 2.0 * x + 1.0
