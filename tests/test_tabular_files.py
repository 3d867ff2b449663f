"""Files as people save them: separators, decimal commas, thousands separators, day-first dates, other encodings,
constant targets, identifiers, leaks and unseen levels, each with the exact line the user reads."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from descend.apps.tabular import Options, fit_table, read_table
from descend.apps.tabular.columns import infer_column, infer_columns, numbers, parse_numbers
from descend.apps.tabular.dates import as_dates
from descend.apps.tabular.split import time_order
from descend.apps.tabular.target import infer_target
from descend.apps.tabular.train import prepare
from descend.cli import main

QUICK = ["--max-epochs", "1"]


def _sales(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Daily sales that rise with the price shown and the day of the year, from 1 January 2001."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2001-01-01", periods=rows, freq="D")
    price = rng.uniform(800, 5000, rows).round(0)
    shelf = rng.choice(["Bad", "Good", "Medium"], rows)
    sales = (2 * price + 10 * dates.day_of_year + rng.normal(0, 200, rows)).round(0)
    return pd.DataFrame({"date": dates, "price": price, "shelf": shelf, "sales": sales})


def _fit(path, target: str, capsys, *extra) -> tuple[int, str, str]:
    code = main(["fit", str(path), "--target", target, *QUICK, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fitted(frame: pd.DataFrame, tmp_path, target: str, capsys, *extra) -> str:
    """What fit prints on stdout for `frame` saved as a plain CSV file (it must succeed)."""
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False)
    code, out, _ = _fit(path, target, capsys, *extra)
    assert code == 0
    return out


def _refused(path, target: str, capsys, *extra) -> str:
    """The one line a refused command prints on stderr (exit code 2)."""
    code, _, err = _fit(path, target, capsys, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _kinds(out: str) -> dict[str, str]:
    """Column -> kind from the lines fit prints ("  price: numeric - numbers, ...")."""
    found = {}
    for line in out.splitlines():
        if line.startswith("  ") and ": " in line and " - " in line:
            name, rest = line.strip().split(": ", 1)
            found[name] = rest.split(" - ")[0]
    return found


def test_semicolons_and_decimal_commas_are_read_as_numbers(tmp_path, capsys):
    frame = _sales().assign(price=lambda f: f.price / 100)   # 23,45 and so on
    path = tmp_path / "sales.csv"
    frame.assign(date=frame.date.dt.strftime("%Y-%m-%d")).to_csv(path, sep=";", decimal=",", index=False)
    table = read_table(path, say=lambda line: None)
    assert list(table.columns) == ["date", "price", "shelf", "sales"]
    np.testing.assert_allclose(table["price"].to_numpy(), frame["price"].to_numpy())
    code, out, err = _fit(path, "sales", capsys)
    assert code == 0
    assert err.strip().splitlines()[0] == f"note: {path} has fields separated by ';' and decimal commas (3,5)"
    assert _kinds(out)["price"] == "numeric"


@pytest.mark.parametrize("text,values", [
    ("a;b\n1.234,5;1\n2,25;2\n", [1234.5, 2.25]),      # decimal commas, points grouping thousands
    ("a;b\n1,234;1\n2,345;2\n", [1234.0, 2345.0]),     # only grouped cells: commas group thousands
    ("a;b\n1.234;1\n12.345;2\n", [1234.0, 12345.0]),   # only grouped cells: points group thousands
    ("a;b\n1.234;1\n0.125;2\n", [1.234, 0.125]),         # 0.125 is no thousand: decimal points
    ("a;b\n1,234.5;1\n7.25;2\n", [1234.5, 7.25]),      # decimal points, commas grouping thousands
])
def test_decimal_marks_and_thousands_groups_are_told_apart(text, values, tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text(text)
    table = read_table(path, say=lambda line: None)
    assert list(numbers(table["a"], "a")) == values
    columns, _ = infer_columns(pd.concat([table] * 10, ignore_index=True), "b")
    assert [(c.name, c.kind) for c in columns] == [("a", "numeric")]


@pytest.mark.parametrize("cells,values", [
    (["3,5", "1,234", "0,125"], [3.5, 1.234, 0.125]),          # one comma that cannot group: decimal commas
    (["1,234", "12,345,678", "7"], [1234.0, 12345678.0, 7.0]),   # commas group thousands
    (["1,234.5", "0,5"], [1234.5, np.nan]),                      # a point: commas group; '0,5' is then text
])
def test_commas_in_a_column_are_decimal_or_grouping_as_its_cells_show(cells, values):
    parsed, text = parse_numbers(pd.Series(cells, dtype=object))
    np.testing.assert_array_equal(parsed.to_numpy(), values)
    assert list(text) == [bool(np.isnan(v)) for v in values]


def test_a_tab_separated_csv_is_read_by_its_separator(tmp_path):
    path = tmp_path / "sales.csv"
    _sales(30).to_csv(path, sep="\t", index=False)
    notes = []
    table = read_table(path, say=notes.append)
    assert list(table.columns) == ["date", "price", "shelf", "sales"] and len(table) == 30
    assert notes == [f"note: {path} has fields separated by tab"]


def test_thousands_separators_make_numbers_as_feature_and_as_target(tmp_path, capsys):
    frame = _sales()
    path = tmp_path / "sales.csv"
    frame.assign(price=[f"{p:,.0f}" for p in frame.price], sales=[f"{s:,.0f}" for s in frame.sales]).to_csv(
        path, index=False)
    assert '"1,' in path.read_text()        # the file really holds quoted numbers like "1,234"
    code, out, _ = _fit(path, "sales", capsys)
    assert code == 0
    assert _kinds(out)["price"] == "numeric"
    assert "target 'sales': count" in out          # not 100+ classes
    run = fit_table(read_table(path), Options(target="sales", max_epochs=1, progress=False), say=lambda s: None)
    assert run.target.mean == pytest.approx(frame.sales.iloc[:82].mean())   # 120 rows: 82 fit the scale


def _dated(tmp_path, dates: list[str], name: str = "sales.csv"):
    frame = _sales(len(dates)).assign(date=dates)
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path, frame


def test_day_first_dates_are_detected_from_a_day_above_12(tmp_path, capsys):
    days = pd.date_range("2001-01-01", periods=120, freq="D")
    path, _ = _dated(tmp_path, list(days.strftime("%d/%m/%Y")))
    code, out, _ = _fit(path, "sales", capsys, "--time-column", "date")
    assert code == 0
    assert "  date: date - dates (day/month/year): " in out
    columns, _ = infer_columns(read_table(path), "sales")
    assert next(c for c in columns if c.name == "date").dayfirst is True
    order = time_order(read_table(path).sample(frac=1.0, random_state=1), "date")
    shuffled = read_table(path).sample(frac=1.0, random_state=1)
    assert list(shuffled["date"].iloc[order]) == list(days.strftime("%d/%m/%Y"))   # 15/01 after 02/01


def test_time_column_accepts_15_01_2001_alone(tmp_path):
    frame = pd.DataFrame({"date": ["15/01/2001", "02/01/2001", "01/02/2001"]})
    assert list(time_order(frame, "date")) == [1, 0, 2]


def test_month_first_dates_are_detected_from_a_second_number_above_12(tmp_path):
    days = pd.date_range("2001-01-01", periods=60, freq="D")
    path, _ = _dated(tmp_path, list(days.strftime("%m/%d/%Y")))
    columns, _ = infer_columns(read_table(path), "sales")
    assert next(c for c in columns if c.name == "date").dayfirst is False


def test_ambiguous_dates_are_refused_with_one_line_offering_dayfirst(tmp_path, capsys):
    months = pd.date_range("2001-01-01", periods=120, freq="MS")       # always the 1st: 01/02/2001 ...
    path, _ = _dated(tmp_path, list(months.strftime("%d/%m/%Y")))
    assert _refused(path, "sales", capsys) == (
        "descend: error: column 'date' has dates such as '01/02/2001' that read as day/month or as month/day (no "
        "number above 12 says which); add --dayfirst to read '01/02/2001' as 1 February, or --no-dayfirst to read "
        "it as January 2")
    code, out, _ = _fit(path, "sales", capsys, "--dayfirst")
    assert code == 0 and "  date: date - dates (day/month/year): " in out
    code, out, _ = _fit(path, "sales", capsys, "--no-dayfirst")
    assert code == 0 and "  date: date - dates (month/day/year): " in out


def test_dayfirst_that_the_data_contradict_is_refused(tmp_path, capsys):
    days = pd.date_range("2001-01-01", periods=60, freq="D")
    path, _ = _dated(tmp_path, list(days.strftime("%d/%m/%Y")))
    assert _refused(path, "sales", capsys, "--no-dayfirst") == (
        "descend: error: column 'date' has '13/01/2001', which is day/month/year, but --no-dayfirst was given; "
        "drop that option")


def test_a_cp1252_file_is_read_with_a_note_naming_it(tmp_path, capsys):
    frame = _sales().assign(shelf=lambda f: f.shelf.map({"Bad": "Café", "Good": "Bäckerei", "Medium": "Größe"}))
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False, encoding="cp1252")
    table = read_table(path, say=lambda line: None)
    assert set(table["shelf"]) == {"Café", "Bäckerei", "Größe"}
    data = path.read_bytes()
    at = next(i for i, byte in enumerate(data) if byte >= 0x80)
    line = data[:at].count(b"\n") + 1
    code, _, err = _fit(path, "sales", capsys)
    assert code == 0
    assert err.strip().splitlines()[0] == (
        f"note: {path} is not UTF-8 (byte 0x{data[at]:02x} on line {line}); read it as cp1252. "
        "If accented letters look wrong, save the file as UTF-8")


def test_excel_unicode_text_is_read_as_utf16(tmp_path):
    path = tmp_path / "sales.txt"
    frame = _sales(30).assign(shelf="Größe")
    frame.to_csv(path, sep="\t", index=False, encoding="utf-16")
    notes = []
    table = read_table(path, say=notes.append)
    assert list(table.columns) == ["date", "price", "shelf", "sales"] and set(table["shelf"]) == {"Größe"}
    assert notes == [f"note: {path} has fields separated by tab"]


@pytest.mark.parametrize("task,message", [
    ("auto", "target column 'sales' holds '5' in every row, so there is nothing to learn; pick a column that varies "
             "(--target)"),
    ("regression", "target column 'sales' holds '5' in every row, so there is nothing to learn; pick a column that "
                   "varies (--target)"),
    ("classification", "target column 'sales' has a single class '5'; classification needs two"),
])
def test_a_constant_target_is_refused(task, message, tmp_path, capsys):
    path = tmp_path / "sales.csv"
    _sales(40).assign(sales=5).to_csv(path, index=False)
    assert _refused(path, "sales", capsys, "--task", task) == f"descend: error: {message}"


@pytest.mark.parametrize("task", ["auto", "regression"])
def test_a_target_constant_up_to_rounding_is_refused_as_a_constant_one(task, tmp_path, capsys):
    """0.1 + 0.2 beside 0.3: two floats 5.6e-17 apart, which standardizing by their spread blew up into a target."""
    path = tmp_path / "sales.csv"
    _sales(40).assign(sales=[0.1 + 0.2, 0.3] * 20).to_csv(path, index=False)
    assert _refused(path, "sales", capsys, "--task", task) == (
        "descend: error: target column 'sales' holds '0.30000000000000004' in every row, so there is nothing to "
        "learn; pick a column that varies (--target)")


def test_a_target_with_a_real_spread_of_1e_9_is_learned_on_its_scale():
    rng = np.random.default_rng(0)
    sales = pd.Series(1.0 + 1e-9 * rng.normal(size=40)).astype(str)
    target = infer_target(sales, "sales", "regression")
    assert target.task == "regression" and target.std == pytest.approx(float(sales.astype(float).std(ddof=0)))
    assert 5e-10 < target.std < 2e-9


def test_a_target_whose_classes_mostly_occur_once_is_refused(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    _sales(40).to_csv(path, index=False)
    assert _refused(path, "date", capsys) == (
        "descend: error: target column 'date' has 40 different values in 40 rows, most of them in one row each, "
        "which cannot be learned; pick the column to predict (--target), or --task regression if its values are "
        "numbers")


def test_integer_identifiers_are_left_out_with_a_line(tmp_path, capsys):
    rng = np.random.default_rng(3)
    frame = _sales().assign(CustomerID=rng.permutation(120) + 1, ticket=rng.choice(900_000, 120, replace=False)
                            + 100_000, week=np.arange(120) // 7, **{"Unnamed: 0": np.arange(120)})
    out = _fitted(frame, tmp_path, "sales", capsys)
    assert ("  CustomerID: whole numbers, a different one in each of the 96 rows, look like an identifier: left "
            "out (--numeric CustomerID to keep it)") in out.splitlines()
    assert ("  ticket: whole numbers, a different one in each of the 96 rows, look like an identifier: left out "
            "(--numeric ticket to keep it)") in out.splitlines()
    assert ("  Unnamed: 0: whole numbers, a different one in each of the 96 rows, look like an identifier: left out "
            "(--numeric 'Unnamed: 0' to keep it)") in out.splitlines()
    kinds = _kinds(out)
    assert "CustomerID" not in kinds and "ticket" not in kinds and kinds["week"] == "numeric"   # repeats: kept
    assert ("  week: numeric - integers with 14 values, used as a number (one-hot for them too would exceed one "
            "one-hot column per 25 training rows; --categorical week for one-hot)") in out.splitlines()   # 96 rows
    assert _kinds(_fitted(frame, tmp_path, "sales", capsys, "--numeric", "CustomerID"))["CustomerID"] == "numeric"


def test_a_column_that_gives_the_answer_away_is_warned_about(tmp_path, capsys):
    rng = np.random.default_rng(1)
    today = rng.normal(0.05, 1.2, 400)
    frame = pd.DataFrame({"Lag1": rng.normal(size=400).round(3), "Volume": rng.uniform(1, 3, 400).round(3),
                          "Today": today.round(3), "Direction": np.where(today > 0, "Up", "Down")})
    out = _fitted(frame, tmp_path, "Direction", capsys)
    warnings = [line for line in out.splitlines() if line.startswith("warning: column")]
    assert warnings == ["warning: column 'Today' alone predicts 'Direction' almost perfectly on the validation rows "
                        "(accuracy 1.000); if it is not known when you predict, it leaks the answer: --drop Today"]
    assert "warning: column" not in _fitted(frame, tmp_path, "Direction", capsys, "--drop", "Today")


def test_a_regression_leak_is_warned_about_and_honest_columns_are_not(tmp_path, capsys):
    frame = _sales(200)
    frame["sales_in_thousands"] = (frame.sales / 1000).round(3)
    out = _fitted(frame, tmp_path, "sales", capsys)
    warnings = [line for line in out.splitlines() if line.startswith("warning: column")]
    assert warnings == ["warning: column 'sales_in_thousands' alone predicts 'sales' almost perfectly on the "
                        "validation rows (R2 1.000); if it is not known when you predict, it leaks the answer: --drop "
                        "sales_in_thousands"]


def test_parts_beside_their_total_are_warned_about_together(tmp_path, capsys):
    rng = np.random.default_rng(4)
    casual, registered = rng.uniform(0, 100, 300).round(0), rng.uniform(0, 300, 300).round(0)
    frame = pd.DataFrame({"temp": rng.normal(20, 5, 300).round(1), "casual": casual, "registered": registered,
                          "riders": casual + registered})   # neither part alone explains the total
    warnings = [line for line in _fitted(frame, tmp_path, "riders", capsys).splitlines() if line.startswith("warning")]
    assert warnings == ["warning: columns 'registered', 'casual' together predict 'riders' almost exactly on the "
                        "validation rows (a straight line through them: R2 1.0000); if they are not known when you "
                        "predict, they leak the answer: --drop registered,casual"]
    honest = _fitted(_sales(200), tmp_path, "sales", capsys)   # sales rise with price and day, with noise: R2 ~0.99
    assert not [line for line in honest.splitlines() if line.startswith("warning")]


def test_a_strong_honest_column_is_not_called_a_leak():
    from sklearn.datasets import load_iris    # bundled with scikit-learn: petal width alone is about 95% right
    irises = load_iris(as_frame=True).frame
    rng = np.random.default_rng(0)
    frame = pd.concat([irises] * 4, ignore_index=True)
    frame.iloc[:, :4] += rng.normal(0, 0.05, (len(frame), 4))   # 600 rows, so 90 of them validate
    for split_seed in range(3):
        said = []
        prepare(frame, Options(target="target", split="random", split_seed=split_seed), say=said.append)
        assert not [line for line in said if line.startswith("warning:")]


def test_fit_says_when_test_rows_hold_levels_training_never_saw(tmp_path, capsys):
    frame = _sales(100).assign(store=["north", "east"] * 40 + ["south"] * 20)   # the 20 test rows: a new store
    out = _fitted(frame, tmp_path, "sales", capsys)
    assert ("note: 20 of 20 test rows have a 'store' level that training never saw; the model gives it no effect "
            "of its own") in out.splitlines()
    assert "validation rows have" not in out and "'date_month' level" not in out


def test_unquoted_decimal_commas_between_commas_are_refused_with_the_reason(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    path.write_text("price,sales\n" + "".join(f"{i},5,{10 + i}\n" for i in range(20)))
    assert _refused(path, "sales", capsys) == (
        f"descend: error: {path}: data row 1 has more fields than the header's 2; fix that line (numbers written "
        "with decimal commas (3,5) need quotes, or ';' between the fields)")
    path.write_text("price,sales\n" + "".join(f"{i},{10 + i}\n" for i in range(20)).replace("3,13\n", "3,5,13\n"))
    assert _refused(path, "sales", capsys) == (
        f"descend: error: {path}: data row 4 has more fields than the header's 2; fix that line (a stray delimiter, "
        "or a value that needs quotes)")


def test_a_binary_file_is_still_refused(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    path.write_bytes(b"a,b\n" + bytes(range(256)))
    assert _refused(path, "b", capsys) == (f"descend: error: {path}: cannot be read as CSV (it holds NUL bytes); is "
                                           "it a text file?")


def test_reading_notes_do_not_mix_into_predictions_on_stdout(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    frame = _sales(60)
    frame.assign(date=frame.date.dt.strftime("%Y-%m-%d")).to_csv(path, sep=";", index=False)
    out = tmp_path / "run"
    assert main(["fit", str(path), "--target", "sales", "--out", str(out), *QUICK]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"note: {path} has fields separated by ';'")
    assert list(pd.read_csv(pd.io.common.StringIO(captured.out)).columns) == ["prediction"]
    assert json.loads((out / "preprocess.json").read_text())["preprocess"]["columns"][0]["dayfirst"] is None


@pytest.mark.parametrize("written,dayfirst", [("%d.%m.%Y", True), ("%d-%m-%y", True), ("%m/%d/%Y", False),
                                              ("%Y-%m-%d", None), ("%d %b %Y", None), ("%B %d, %Y", None)])
def test_dates_as_people_write_them_read_back_to_the_same_days(written, dayfirst):
    days = pd.date_range("2001-01-01", periods=60, freq="D")
    column = infer_column("when", pd.Series(days.strftime(written)), 60)
    assert (column.kind, column.dayfirst) == ("date", dayfirst)
    assert (as_dates(pd.Series(days.strftime(written)), column.dayfirst) == days).all()


@pytest.mark.parametrize("trained,given", [("%d/%m/%Y", "%Y-%m-%d"), ("%Y-%m-%d", "%d/%m/%Y")])
def test_a_model_reads_new_rows_dates_as_written_whatever_form_it_was_trained_on(trained, given):
    days = pd.date_range("2001-01-01", periods=40, freq="D")   # the 13th onwards say which number is the day
    column = infer_column("when", pd.Series(days.strftime(trained)), 40)
    assert (as_dates(pd.Series(days.strftime(given)), column.dayfirst) == days).all()
    mixed = pd.Series(["2001-01-02", None, "13/01/2001", "02/01/2001", "not a date"])
    assert as_dates(mixed, True).tolist() == [pd.Timestamp("2001-01-02"), pd.NaT, pd.Timestamp("2001-01-13"),
                                             pd.Timestamp("2001-01-02"), pd.NaT]


def test_new_rows_dates_that_read_as_no_date_or_either_way_are_named_not_guessed(tmp_path, capsys):
    path, new = tmp_path / "sales.csv", tmp_path / "new.csv"
    _sales(60).to_csv(path, index=False)
    out = tmp_path / "run"
    assert main(["fit", str(path), "--target", "sales", "--out", str(out), *QUICK]) == 0
    frame = _sales(60).astype({"date": str})
    frame.loc[4, "date"] = "sometime"
    frame.loc[5, "date"] = ""   # an empty cell is unknown, as in training
    frame.to_csv(new, index=False)
    capsys.readouterr()
    for command, where in (("predict", new), ("update", "the new data")):
        assert main([command, str(out), str(new)]) == 2
        assert capsys.readouterr().err == (f"descend: error: column 'date' of {where} has 'sometime' in data row 5, "
                                           "which is not a date; correct it, or empty the cell to have it read as "
                                           "unknown\n")
    _sales(12).assign(date=lambda f: f.date.dt.strftime("%d/%m/%Y")).to_csv(new, index=False)   # 01/01 .. 12/01
    assert main(["predict", str(out), str(new)]) == 2
    assert capsys.readouterr().err == (f"descend: error: column 'date' of {new} has dates such as '02/01/2001', which "
                                       "read as day/month or as month/day (no number above 12 says which), and the "
                                       "model met none such in training; write them year first (2001-01-15)\n")


def test_an_update_reads_a_short_stretch_of_dates_as_the_fit_did(tmp_path, capsys):
    days = pd.date_range("2001-01-01", periods=120, freq="D")
    path, _ = _dated(tmp_path, list(days.strftime("%d/%m/%Y")))
    out = tmp_path / "run"
    assert main(["fit", str(path), "--target", "sales", "--time-column", "date", "--out", str(out), *QUICK]) == 0
    later = _sales(12).assign(date=pd.date_range("2001-06-01", periods=12, freq="D").strftime("%d/%m/%Y"))
    later.to_csv(tmp_path / "later.csv", index=False)    # 01/06 to 12/06: no number above 12
    capsys.readouterr()
    assert main(["update", str(out), str(tmp_path / "later.csv"), "--max-epochs", "1"]) == 0
    assert "'date_month' level" not in capsys.readouterr().out   # June is new, but day of year carries it
