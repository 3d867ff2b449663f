"""A new user's eighth review: month names read as unordered text, an update's discarded findings, argparse's
abbreviations and a mistyped command."""
import numpy as np
import pandas as pd
import pytest

from descend.apps.tabular import Options, fit_table
from descend.apps.tabular.columns import infer_column
from descend.apps.tabular.preprocess import derive
from descend.cli import main
from descend.core.errors import DescendError
from tabular_data import bakery

MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec"]


@pytest.mark.parametrize("cells, kind", [(MONTHS, "month"), ([m.upper() for m in MONTHS[:5]], "month"),
                                         (["january", "february", "march"], "month"),
                                         (["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "weekday"),
                                         (["monday", "TUESDAY", "Thurs."], "weekday")])
def test_month_and_weekday_names_are_read_as_their_own_kind(cells, kind):
    column = infer_column("when", pd.Series(cells * 3), 3 * len(cells))
    assert column.kind == kind and column.reason.endswith(f"one-hot by {kind} (--categorical when keeps them as text)")


@pytest.mark.parametrize("cells", [["Jan", "Feb", "Smarch"], ["Mon", "Tue", "Holiday"], ["ma", "ju", "de"]])
def test_text_that_is_not_all_names_stays_text(cells):
    assert infer_column("when", pd.Series(cells * 3), 9).kind == "categorical"


def test_a_month_written_two_ways_is_one_level():
    column = infer_column("mnth", pd.Series(MONTHS), 12)
    _, categories = derive(column, pd.Series(["Dec", "dec.", "December", "Sept", "sep", "", None]))
    assert list(categories["mnth"]) == ["12", "12", "12", "9", "9", None, None]


def _months_in_time_order(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """A year of rentals in time order, month names as text: a time split puts the last months in the test rows
    alone, as the demo's Bikeshare table does with Nov-Dec."""
    rng = np.random.default_rng(seed)
    month = np.repeat(np.arange(12), rows // 12)
    temperature = rng.normal(15 - 10 * np.cos(2 * np.pi * month / 12), 2)
    return pd.DataFrame({"mnth": [MONTHS[m] for m in month], "temperature": temperature.round(1),
                         "bikers": rng.poisson(np.exp(3 + 0.4 * np.sin(2 * np.pi * month / 12)))})


def test_months_the_training_rows_lack_are_named_as_months_and_predict_reads_them_alike():
    """`descend demo` said "1729 of 1729 test rows have a 'mnth' level that training never saw", as of any text.
    Read as months, the column line says so and the note names the months a time split left to the test rows."""
    lines = []
    frame = _months_in_time_order()
    run = fit_table(frame, Options(target="bikers", split="time", max_epochs=2, progress=False), say=lines.append)
    said = "\n".join(lines)
    assert "mnth: month - month names (Jan, Feb, March, ...), one-hot by month" in said
    assert ("note: 48 of 48 test rows fall in months of 'mnth' that training never saw (Oct, Nov, Dec); the model "
            "gives those months no effect of their own") in said
    written = frame.assign(mnth=frame["mnth"].str.lower().str[:3] + ".")   # "sep." for "Sept", "dec." for "Dec"
    np.testing.assert_allclose(run.predictions(written)[0]["prediction"], run.predictions(frame)[0]["prediction"])
    with pytest.raises(DescendError, match=r"column 'mnth' holds month names but data row 2 has 'Smarch'"):
        run.predictions(frame.assign(mnth=["Jan", "Smarch"] + list(frame["mnth"][2:])), "new.csv")


def test_an_update_whose_weights_are_discarded_says_its_findings_are_about_them(tmp_path, capsys):
    """`descend update` that kept the previous weights printed the doctor's findings on the update's run (here
    its blow-up at lr 3) with nothing saying they are about weights thrown away."""
    bakery(160).to_csv(tmp_path / "sales.csv", index=False)
    bakery(80, seed=7, start="2024-06-09").to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "run"
    assert main(["fit", str(tmp_path / "sales.csv"), "--target", "loaves", "--out", str(out),
                 "--max-epochs", "20"]) == 0
    capsys.readouterr()
    assert main(["update", str(out), str(tmp_path / "new.csv"), "--max-epochs", "5", "--lr", "3"]) == 0
    captured = capsys.readouterr()
    assert "doctor: 1 finding(s)" in captured.err and "non-finite values" in captured.err
    (kept,) = [line for line in captured.out.splitlines() if line.startswith("kept the previous weights")]
    assert kept.endswith("the doctor's 1 finding(s) on the update's run are about its discarded weights, not the "
                         "ones kept")


@pytest.mark.parametrize("argv, says", [(["fitt", "data.csv"], "unknown command 'fitt'; did you mean fit?"),
                                        (["predcit"], "unknown command 'predcit'; did you mean predict?"),
                                        (["frobnicate"], "unknown command 'frobnicate'; commands: bench, compare")])
def test_a_mistyped_command_is_answered_with_the_command_meant(argv, says, capsys):
    assert main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"descend: error: {says}")


def test_an_abbreviated_flag_is_refused_with_the_flag_meant(tmp_path, capsys):
    """`--test 0.3` was silently taken as --test-fraction 0.3 (argparse's prefix matching)."""
    data = tmp_path / "shop.csv"
    data.write_text("x,y\n1,2\n2,4\n")
    with pytest.raises(SystemExit) as stopped:
        main(["fit", str(data), "--target", "y", "--test", "0.3"])
    line = capsys.readouterr().err.strip()
    assert stopped.value.code == 2
    assert line == "descend: error: unrecognized arguments: --test 0.3; did you mean --test-fraction?"
    assert not (tmp_path / "runs").exists()
