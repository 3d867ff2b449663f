"""Times of day without a date ("13:15", "7:05:30", "1:15 PM") read as a clock, not as date-times of today."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from descend.apps.tabular import Options, fit_table
from descend.apps.tabular.clock import clock_hours
from descend.apps.tabular.columns import infer_column
from descend.apps.tabular.preprocess import derive
from descend.cli import main


def _shop(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Visitors by the hour they came in, written three ways, beside a plain number."""
    rng = np.random.default_rng(seed)
    hour, minute = rng.integers(0, 24, rows), rng.integers(0, 60, rows)
    written = [f"{h}:{m:02d}" if i % 3 == 0 else f"{h}:{m:02d}:30" if i % 3 == 1
               else f"{(h - 1) % 12 + 1}:{m:02d} {'PM' if h >= 12 else 'AM'}"
               for i, (h, m) in enumerate(zip(hour, minute))]
    x = rng.normal(size=rows).round(3)
    return pd.DataFrame({"arrived": written, "x": x, "y": np.sin(2 * np.pi * hour / 24) + x})


def test_hours_since_midnight_as_written_with_seconds_and_am_pm():
    cells = pd.Series(["13:15", "7:05:30", "1:15 PM", "12:30 AM", "12:00 pm", "11:59 p.m.", "25:00", "13:15 PM", "",
                       None, "9.12", "2001-01-02 13:15"], dtype=object)
    hours = clock_hours(cells).round(6).tolist()
    assert hours[:6] == [13.25, round(7 + 5 / 60 + 30 / 3600, 6), 13.25, 0.5, 12.0, round(23 + 59 / 60, 6)]
    assert all(np.isnan(hours[6:]))


def test_a_csv_with_a_time_of_day_column_is_not_dated_and_its_hours_are_right(tmp_path):
    frame = _shop()
    data, out = tmp_path / "shop.csv", tmp_path / "run"
    frame.to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y", "--out", str(out), "--max-epochs", "2"]) == 0
    saved = json.loads((out / "preprocess.json").read_text())["preprocess"]
    arrived = [c for c in saved["columns"] if c["name"] == "arrived"][0]
    assert arrived["kind"] == "timeofday" and "not dated" in arrived["reason"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["how"] == "5-fold, out of fold"   # not the chained blocks of a dated table
    numeric = {n["name"]: n for n in saved["numeric"]}
    assert set(numeric) == {"arrived_hours", "arrived_hour_sin", "arrived_hour_cos", "x"}   # no year, month...
    column = infer_column("arrived", frame["arrived"], len(frame))
    hours = derive(column, frame["arrived"])[0]["arrived_hours"]
    truth = pd.Series([int(c.split(":")[0]) % 12 + 12 * c.endswith("PM") if c.endswith("M") else
                       int(c.split(":")[0]) for c in frame["arrived"]])
    assert np.array_equal(np.floor(hours).to_numpy(), truth.to_numpy())
    assert 0 <= numeric["arrived_hours"]["low"] < numeric["arrived_hours"]["high"] < 24
    rows, predicted = tmp_path / "new.csv", tmp_path / "predicted.csv"
    frame.drop(columns="y").to_csv(rows, index=False)
    assert main(["predict", str(out), str(rows), "--out", str(predicted)]) == 0
    assert pd.read_csv(predicted)["prediction"].notna().all()


def test_a_column_with_some_dates_keeps_the_date_reading_and_a_typo_is_named():
    clocks = ["13:15", "7:05", "9:40", "16:20"] * 10
    mixed = pd.Series(clocks + ["2024-03-01 13:15"], dtype=object)
    assert infer_column("when", mixed, len(mixed)).kind == "datetime"
    typo = pd.Series(clocks + ["9.12"], dtype=object)
    column = infer_column("when", typo, len(typo))
    assert column.kind == "timeofday"
    assert column.reason.endswith("1 of its cells no time of day, read as empty (data row 41: '9.12'): fix them")


def test_a_panel_s_chained_blocks_are_rows_in_file_order_in_metrics_json_too():
    years = pd.date_range("1935-12-31", periods=30, freq="YE").strftime("%Y-%m-%d")
    panel = pd.DataFrame({"year": np.tile(years, 4), "x": np.arange(120) % 7})
    panel["y"] = panel["x"] * 2.0 + np.arange(120) % 3
    hows = [fit_table(frame, Options(target="y", max_epochs=1, **extra), say=lambda _: None)
            .metrics["validation"]["how"] for frame, extra in ((panel, {}), (panel, {"time_column": "year"}))]
    assert hows == ["3 forward-chained blocks of rows in file order", "3 forward-chained blocks of time"]


def test_predict_names_a_clock_typo_reads_it_as_empty_and_leaves_well_formed_rows_as_they_were(tmp_path, capsys):
    frame = _shop()
    data, out = tmp_path / "shop.csv", tmp_path / "run"
    frame.to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "y", "--out", str(out), "--max-epochs", "2"]) == 0
    rows = frame.drop(columns="y")
    typo, emptied = rows.copy(), rows.copy()
    typo.loc[6, "arrived"], emptied.loc[6, "arrived"] = "9.12", None
    predicted = {}
    for name, table in (("clean", rows), ("typo", typo), ("emptied", emptied)):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
        capsys.readouterr()
        assert main(["predict", str(out), str(tmp_path / f"{name}.csv"), "--out", str(tmp_path / f"{name}.p")]) == 0
        predicted[name] = (pd.read_csv(tmp_path / f"{name}.p")["prediction"], capsys.readouterr().err)
    note = [line for line in predicted["typo"][1].splitlines() if "no time of day" in line]
    assert note == [f"note: {tmp_path / 'typo.csv'}: column 'arrived' has 1 of its cells no time of day, read as "
                    "empty (data row 7: '9.12'); correct those cells, or empty them to say the time is unknown"]
    assert "no time of day" not in predicted["clean"][1] + predicted["emptied"][1]
    pd.testing.assert_series_equal(predicted["typo"][0], predicted["emptied"][0])   # read as empty, as it says
    assert predicted["typo"][0][6] != predicted["clean"][0][6]
    assert predicted["typo"][0].drop(index=6).equals(predicted["clean"][0].drop(index=6))
