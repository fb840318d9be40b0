"""pandas operations whose results a test compares between a step (pandas
built for the component) and the build machine's CPython (PyPI's pandas)."""

import io

import numpy as np
import pandas as pd


def compute() -> dict:
    rng = np.random.default_rng(7)
    n = 2_000
    df = pd.DataFrame(
        {
            "genre": rng.choice(["drama", "comedy", "horror", "documentary"], n),
            "year": rng.integers(1950, 2025, n),
            "score": rng.normal(6.5, 1.2, n).round(2),
            "gross": rng.lognormal(16, 1.5, n),
        }
    )
    by_genre = df.groupby("genre").agg(
        count=("score", "size"), mean_score=("score", "mean"), total=("gross", "sum")
    )
    decades = df.assign(decade=df.year // 10 * 10).pivot_table(
        index="decade", columns="genre", values="score", aggfunc="median"
    )
    rolling = df["score"].rolling(25).mean().dropna()
    info = pd.DataFrame({"genre": ["drama", "comedy", "horror"], "label": ["D", "C", "H"]})
    merged = df.merge(info, on="genre", how="inner")
    csv = df.head(200).to_csv(index=False)
    back = pd.read_csv(io.StringIO(csv))
    dates = pd.date_range("2024-01-31", periods=6, freq="ME")
    return {
        "by_genre": {
            genre: [int(row["count"]), float(row["mean_score"]), float(row["total"])]
            for genre, row in by_genre.iterrows()
        },
        "decades": [[None if pd.isna(v) else float(v) for v in row] for row in decades.to_numpy()],
        "rolling_tail": rolling.tail(5).tolist(),
        "merged_rows": len(merged),
        "merged_labels": merged["label"].value_counts().sort_index().to_dict(),
        "csv_equal": bool(back.equals(df.head(200))),
        "describe": df["score"].describe().round(9).tolist(),
        "quantiles": df["gross"].quantile([0.1, 0.5, 0.9]).tolist(),
        "month_ends": [d.strftime("%Y-%m-%d") for d in dates],
        "rank_head": df["score"].rank(method="dense").head(5).tolist(),
        "sorted_years": df.sort_values(["year", "score"]).year.head(5).tolist(),
    }
