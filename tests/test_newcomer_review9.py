"""A new user's ninth review: `python -m descend`, a data file where a run folder goes, a renamed column at
predict, a refit run's report, and what Ctrl-C says."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from descend.cli import main

SRC = Path(__file__).parent.parent / "src"


def test_python_dash_m_descend_runs_the_command_line():
    """`python -m descend doctor RUN` said "No module named descend.__main__" (only descend.cli had one)."""
    done = subprocess.run([sys.executable, "-m", "descend", "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr
    assert "    predict " in done.stdout and "    report " in done.stdout


@pytest.mark.parametrize("command", ["predict", "update", "landscape"])
def test_a_data_file_and_run_folder_given_the_other_way_round_are_told_the_order(saved_run, command, capsys):
    """`descend predict new.csv runs/x` said "run folder new.csv does not exist (or is not a folder)"."""
    data, run = saved_run
    assert main([command, str(data), str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"descend: error: {data} is a file and {run} a folder: the run folder comes first, "
                   f"descend {command} {run} {data}")


@pytest.mark.parametrize("command", ["report", "doctor"])
def test_a_data_file_given_as_the_run_folder_says_what_to_give(saved_run, command, capsys):
    """`descend doctor data.csv` said "no run directory at data.csv (its findings.json is written when a run
    ends)", as if the file did not exist."""
    data, _ = saved_run
    assert main([command, str(data)]) == 2
    assert capsys.readouterr().err.strip() == (f"descend: error: {data} is a file, not a run folder; give the "
                                               "folder that `descend fit --out` (or fit(run_dir=...)) wrote")


def test_predict_names_the_column_a_missing_one_was_renamed_to(saved_run, tmp_path, capsys):
    """A new file with 'Shop' for 'shop' and no 'b' said only "has no column 'b' ... (also missing: shop); add it":
    the renamed column was not named, and "it" was two columns."""
    import pandas as pd
    data, run = saved_run
    new = tmp_path / "new.csv"
    pd.read_csv(data).drop(columns=["sales", "b"]).rename(columns={"shop": "Shop"}).head(5).to_csv(new, index=False)
    assert main(["predict", str(run), str(new)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: {new} has no column 'b', which the model was trained on (also missing: shop); it has "
        "'Shop': rename it 'shop'; add 'b', with empty cells where the values are unknown")
    pd.read_csv(data).drop(columns=["sales", "a", "b"]).head(5).to_csv(new, index=False)
    assert main(["predict", str(run), str(new)]) == 2
    assert capsys.readouterr().err.strip().endswith("(also missing: b); add them, with empty cells where the values "
                                                    "are unknown")
