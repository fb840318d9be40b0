"""The train flow's data: a nonlinear regression problem drawn from a fixed
seed, so every run, here or in native Python, sees the same numbers."""

import numpy as np

FEATURES = 6


def make_data(n_train: int = 1500, n_test: int = 500, seed: int = 0):
    """(X, y, X_test, y_test): y = 3·x0·(1 − x0²) + x1² + x2·x3 + noise.

    Uniform draws and arithmetic only: a transcendental function (sin, a
    normal draw's log) may differ in its last bit between libms, and a
    forest's split can turn on it."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n_train + n_test, FEATURES))
    y = 3.0 * X[:, 0] * (1.0 - X[:, 0] ** 2) + X[:, 1] ** 2 + X[:, 2] * X[:, 3]
    y = y + 0.2 * (rng.uniform(size=n_train + n_test) - 0.5)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def rmse(model, X_test, y_test) -> float:
    """The model's root-mean-square error on the test set."""
    residual = model.predict(X_test) - y_test
    return float(np.sqrt(np.mean(residual**2)))
