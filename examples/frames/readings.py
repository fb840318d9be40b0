"""The frames flow's data: hourly weather readings, the same on every run."""

import numpy as np
import pandas as pd


def make(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "city": rng.choice(["Lisbon", "Oslo", "Quito"], n),
            "temperature": rng.normal(15.0, 8.0, n).round(2),
            "rain": rng.random(n) < 0.3,
            "day": pd.date_range("2026-01-01", periods=n, freq="h"),
        }
    )
