"""Notes on how a table was read and split (the twelfth review's leftovers): a target written with a currency
sign says so as a '%' target does, the count of rows with an empty target goes to stderr with the file's other
reading notes, the doctor judges a short refit as it judges a short first run, and a table sorted by an input
column says that its test rows are not like its training rows."""
import numpy as np
import pandas as pd
import torch
from torch import nn

import descend as ds
from descend.apps.tabular import Options
from descend.apps.tabular.target import infer_target
from descend.apps.tabular.train import prepare


def test_a_target_written_with_a_currency_sign_says_the_sign_was_read_off():
    prices = infer_target(pd.Series(["$71,400", "$80,150.5", "$65,000", "$102,300"] * 5), "median")
    assert prices.reason == ("inferred: numbers (written with '$': $71,400 is read and predicted as 71400) -> "
                             "squared error on the standardized target")
    whole = infer_target(pd.Series([f"{v:,} €" for v in range(50_000, 90_000, 1_000)]), "price")
    assert whole.task == "count"
    assert "(50000 to 89000; written with '€': 50,000 € is read and predicted as 50000) -> Poisson" in whole.reason
    assert "written with" not in infer_target(pd.Series([1.5, 2.5, 3.0, 4.0]), "w").reason


def test_the_empty_target_note_goes_to_stderr_with_the_other_reading_notes(capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60).astype(object)})
    frame.loc[[4, 9, 30], "y"] = ""
    prepare(frame, Options(target="y", progress=False))   # fit's own lines: print, on stdout
    out, err = capsys.readouterr()
    note = "note: 3 row(s) with an empty 'y' left out (first: data row 5)"
    assert note in err.splitlines() and note not in out and "target 'y': regression" in out
    said = []   # a caller routing fit's lines (tune's silent trials) gets the note there, not on stderr
    prepare(frame, Options(target="y", progress=False), say=said.append)
    assert note in said and note not in capsys.readouterr().err


def _short_fit(steps: int) -> list[str]:
    """Finding codes of a small network after `steps` plain SGD steps at a tiny lr on a linear target: far from
    the linear reference at any length, so only the number of steps can keep the doctor from a verdict."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=400)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    result = ds.fit(model, (torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]),
                    loss="mse", lr=1e-4, optimizer="sgd", max_steps=steps, batch_size=64, progress=False)
    return [finding.code for finding in result.findings]


def test_underfitting_is_not_judged_on_a_run_too_short_for_the_doctor():
    assert _short_fit(6) == []
    assert _short_fit(30) == ["underfitting"]


def _classes(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    level = rng.choice(["1st", "2nd", "3rd"], size=rows, p=[0.25, 0.25, 0.5])
    return pd.DataFrame({"level": level, "age": rng.normal(40, 10, rows).round(1),
                         "y": np.where(rng.random(rows) < 0.4, "yes", "no")})


def _notes(frame: pd.DataFrame, **options) -> list[str]:
    said = []
    prepare(frame, Options(target="y", progress=False, **options), say=said.append)
    return [line for line in said if "look sorted" in line]


def test_a_table_sorted_by_an_input_column_says_its_test_rows_are_unlike_training():
    frame = _classes().sort_values("level", kind="stable").reset_index(drop=True)
    (note,) = _notes(frame)
    share = (frame["level"].iloc[:240] == "3rd").mean()
    assert note == (f"note: the rows look sorted by 'level': the 60 test rows (the file's last) are 100% its level "
                    f"'3rd', against {share:.0%} of the training rows: --split random draws the test rows at random")
    by_age = _classes().sort_values("age").reset_index(drop=True)
    (note,) = _notes(by_age)
    low = by_age["age"].iloc[240:].min()
    assert note.startswith(f"note: the rows look sorted by 'age': the 60 test rows (the file's last) hold its values "
                           f"{low:g} to {by_age['age'].max():g}, where ")
    assert _notes(_classes()) == [] and _notes(frame, split="random") == []
