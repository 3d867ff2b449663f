"""Small synthetic tables for the tabular tests: a bakery's daily sales with a known structure."""
from __future__ import annotations

import numpy as np
import pandas as pd

from descend.cli import main

WEEKDAY_EFFECT = {"Mon": 0.0, "Tue": 0.05, "Wed": 0.1, "Thu": 0.1, "Fri": 0.3, "Sat": 0.6, "Sun": 0.4}


def bakery(days: int = 240, seed: int = 0, start: str = "2024-01-01", level: float = 1.0) -> pd.DataFrame:
    """Loaves sold per day: Poisson around exp(weekday + warmth - rain + event) times `level`."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    weekday = [d.strftime("%a") for d in dates]
    temperature = np.round(12 + 10 * np.sin(2 * np.pi * dates.day_of_year / 365) + rng.normal(0, 3, days), 1)
    rain = rng.random(days) < 0.3
    event = (rng.random(days) < 0.1).astype(int)
    rate = level * np.exp(3.6 + np.array([WEEKDAY_EFFECT[w] for w in weekday]) + 0.02 * temperature
                          - 0.3 * rain + 0.5 * event)
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "weekday": weekday, "temperature": temperature,
                         "rain": np.where(rain, "yes", "no"), "event": event, "loaves": rng.poisson(rate)})


def fitted_with_new_rows(folder, name: str, table: pd.DataFrame, target: str, new: pd.DataFrame,
                         flags: list[str]) -> tuple:
    """Train `table` through the CLI into folder/run and save `new` (the target left out) for predict: the
    (run directory, new rows' file) that predict tests share."""
    data = folder / f"{name}.csv"
    table.to_csv(data, index=False)
    out = folder / "run"
    assert main(["fit", str(data), "--target", target, "--out", str(out), *flags]) == 0
    rows = folder / "new.csv"
    new.drop(columns=[target]).to_csv(rows, index=False)
    return out, rows


def waves(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """Sales as a wave in one column and a bowl in another (no dates): curves a linear model cannot follow, so
    validation gives the networks the model."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-2, 2, rows), rng.uniform(-2, 2, rows)
    sales = 10 + 4 * np.sin(2 * a) + 2 * b ** 2 + rng.normal(0, 0.5, rows)
    return pd.DataFrame({"a": a.round(3), "b": b.round(3), "shop": rng.choice(["north", "south"], rows),
                         "sales": sales.round(2)})
