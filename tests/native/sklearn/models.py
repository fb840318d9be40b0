"""scikit-learn in a step (built for the component against the recipe's numpy
and scipy): the test runs compute() natively too, with scikit-learn 1.9.1
from PyPI, and compares the two."""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def data() -> tuple[np.ndarray, np.ndarray]:
    """200 rows, 4 features, a nonlinear target: uniform draws and
    arithmetic only, so native numpy and the component's give the same bits."""
    rng = np.random.default_rng(0)
    x = rng.random((200, 4))
    y = 3.0 * x[:, 0] - 2.0 * x[:, 1] ** 2 + x[:, 2] * x[:, 3] + 0.1 * rng.random(200)
    return x, y


def blobs() -> np.ndarray:
    """Three well-separated clusters of 30 points each, for KMeans."""
    rng = np.random.default_rng(1)
    centers = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 5.0]])
    return np.concatenate([c + rng.random((30, 2)) for c in centers])


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def fit() -> tuple[dict, RandomForestRegressor]:
    """The results, and the random forest (a pickled artifact in the step)."""
    x, y = data()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    forest = RandomForestRegressor(n_estimators=16, random_state=0).fit(x_train, y_train)
    forest_predictions = forest.predict(x_test)

    scaler = StandardScaler().fit(x_train)
    scaled_train, scaled_test = scaler.transform(x_train), scaler.transform(x_test)
    linear = LinearRegression().fit(scaled_train, y_train)

    # Above or below the training median: a balanced binary target. A tight
    # tolerance takes lbfgs to the optimum, not to where it happened to stop.
    threshold = float(np.median(y_train))
    logistic = LogisticRegression(tol=1e-12, max_iter=10_000).fit(scaled_train, y_train > threshold)

    kmeans = KMeans(n_clusters=3, n_init=1, random_state=0).fit(blobs())
    # Cluster numbering follows k-means++'s random first pick: compare the
    # centers in a fixed order (by their first, then second coordinate).
    order = np.lexsort((kmeans.cluster_centers_[:, 1], kmeans.cluster_centers_[:, 0]))

    results = {
        "train_rows": int(len(x_train)),
        "forest_predictions": forest_predictions.tolist(),
        "forest_rmse": rmse(forest_predictions, y_test),
        "forest_importances": forest.feature_importances_.tolist(),
        "forest_leaves": [int(e.tree_.n_leaves) for e in forest.estimators_],
        "scaler_mean": scaler.mean_.tolist(),
        "scaler_scale": scaler.scale_.tolist(),
        "linear_coef": linear.coef_.tolist(),
        "linear_intercept": float(linear.intercept_),
        "linear_rmse": rmse(linear.predict(scaled_test), y_test),
        "logistic_coef": logistic.coef_[0].tolist(),
        "logistic_intercept": float(logistic.intercept_[0]),
        "logistic_proba": logistic.predict_proba(scaled_test)[:, 1].tolist(),
        "logistic_accuracy": float(logistic.score(scaled_test, y_test > threshold)),
        "kmeans_centers": kmeans.cluster_centers_[order].tolist(),
        "kmeans_sizes": np.bincount(kmeans.labels_)[order].tolist(),
        "kmeans_inertia": float(kmeans.inertia_),
    }
    return results, forest


def compute() -> dict:
    return fit()[0]


def test_split() -> tuple[np.ndarray, np.ndarray]:
    """The held-out rows the forest is scored on (for the pickled model)."""
    x, y = data()
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    return x_test, y_test
