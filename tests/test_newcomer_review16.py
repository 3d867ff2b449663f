"""A new user's sixteenth review: argparse's type errors in words, lr-find's unused flags, help defaults, a title
line above the header, two targets, minimize's scipy-style callback, far dates in predict, report labels, tune's
notes and importance plot, and a folder that holds no run."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import descend as ds
from descend.apps.tuning.report import importance_figure
from descend.cli import build_parser, main
from descend.core.errors import DescendTypeError
from descend.runs.plots import _mark_start


def _dated_rows(count: int = 120, seed: int = 0) -> pd.DataFrame:
    """Daily sales from 2022-01-01 that rise with the price, the day's count and a yes/no member column."""
    rng = np.random.default_rng(seed)
    price = rng.uniform(1, 100, count).round(2)
    member = rng.random(count) < 0.5
    day = np.arange(count)
    return pd.DataFrame({"date": pd.date_range("2022-01-01", periods=count).strftime("%Y-%m-%d"), "price": price,
                         "member": np.where(member, "yes", "no"),
                         "sales": (2 * price + 10 * member + 0.1 * day + rng.normal(0, 2, count)).round(2)})


@pytest.fixture(scope="module")
def dated_run(tmp_path_factory):
    """A 2-epoch fit of 120 dated rows: (its data file, its run folder)."""
    folder = tmp_path_factory.mktemp("dated")
    _dated_rows().to_csv(folder / "sales.csv", index=False)
    assert main(["fit", str(folder / "sales.csv"), "--target", "sales", "--out", str(folder / "run"),
                 "--max-epochs", "2"]) == 0
    return folder / "sales.csv", folder / "run"


@pytest.mark.parametrize("flag, value, words", [("--max-epochs", "1.5", "expected a whole number, got '1.5'"),
                                                ("--weight-decay", "abc", "expected a number (such as 0.5 or 1e-3), "
                                                                          "got 'abc'")])
def test_a_number_flag_given_the_wrong_kind_of_number_is_said_in_words(flag, value, words, tmp_path, capsys):
    """`--max-epochs 1.5` said "invalid int value: '1.5'" (Python's type name); nothing is read or written."""
    with pytest.raises(SystemExit) as stopped:
        main(["fit", str(tmp_path / "absent.csv"), "--target", "y", flag, value])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"descend: error: argument {flag}: {words}\n"
    assert list(tmp_path.iterdir()) == []


def test_lr_find_refuses_fit_flags_its_sweep_ignores(tmp_path, capsys):
    """`descend lr-find ... --max-epochs 5 --patience 3` swept as if the flags were not there, and --help listed them
    with fit's words ("stop after this many epochs ...")."""
    assert main(["lr-find", str(tmp_path / "absent.csv"), "--target", "y", "--max-epochs", "5", "--patience", "3"]) == 2
    assert capsys.readouterr().err.startswith("descend: error: --max-epochs, --patience: lr-find takes none of these "
                                              "descend fit options")
    lr_find_help = build_parser("lr-find")._subparsers._group_actions[0].choices["lr-find"].format_help()
    for flag in ("--max-epochs", "--patience", "--refit", "--schedule ", "--lr LR"):
        assert flag not in lr_find_help


def _help_of(command: str) -> str:
    return " ".join(build_parser(command)._subparsers._group_actions[0].choices[command].format_help().split())


def test_help_says_what_max_epochs_split_and_tune_flags_do_and_their_defaults():
    """fit's `--max-epochs N  default 100`, `--split ... random` (nothing said of random), tune's `--seed SEED` (no
    help at all), `--max-epochs`/`--timeout` without their defaults."""
    fit_help, tune_help = _help_of("fit"), _help_of("tune")
    assert "--max-epochs N the most epochs each network trains; early stopping (--patience) usually ends it sooner " \
           "(default 100)" in fit_help
    assert "random: test rows drawn at random (see --split-seed)" in fit_help
    assert "--time-column COL sort rows by this column before a time split (default: the rows in file order)" \
        in fit_help
    assert "--seed N the sampler's draws, and each trial's initialization and batch order (default 0)" in tune_help
    assert "--max-epochs N epoch limit of each trial (default 100, as descend fit's)" in tune_help
    assert "(default: none, --trials alone ends it)" in tune_help


def test_a_title_line_above_the_header_is_named_with_the_fix(tmp_path, capsys):
    """An Excel export with 'Sales report Q1 2022,,,' above the header listed 'Unnamed: 1', ... as the columns."""
    data = tmp_path / "report.csv"
    with open(data, "w") as file:
        file.write("Sales report Q1 2022,,,\n")
        _dated_rows(30).to_csv(file, index=False)
    assert main(["fit", str(data), "--target", "sales", "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        "descend: error: 'sales' is in a row below the file's first line, which names 1 of 4 columns ('Sales report "
        "Q1 2022'): a title or notes above the header; delete the lines above the column names, so the file starts "
        "with them\n")
    assert not (tmp_path / "run").exists()


def test_a_target_naming_two_columns_is_told_to_name_one(tmp_path, capsys):
    """`--target sales,price` said "target column 'sales,price' is not in the data; columns: ...", both listed."""
    data = tmp_path / "sales.csv"
    _dated_rows(30).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "sales,price"]) == 2
    assert capsys.readouterr().err == ("descend: error: --target 'sales,price' names 2 columns (sales, price); a model "
                                       "here predicts one: give one of them (--target sales), and the others are "
                                       "inputs it learns from\n")


def test_minimize_refuses_a_scipy_style_callback_before_the_first_step():
    """`callback=lambda xk: ...` failed inside the loop with "takes 1 positional argument but 2 were given"."""
    calls = []

    def fun(x):
        calls.append(1)
        return (x ** 2).sum()

    def watch(xk):
        return False

    with pytest.raises(DescendTypeError, match=r"callback watch\(xk\) cannot take the two arguments minimize passes, "
                                               r"callback\(x, record\).*write def watch\(x, record\): \.\.\. \(scipy"):
        ds.minimize(fun, [1.0, 2.0], callback=watch)
    assert calls == []
    with pytest.raises(DescendTypeError, match=r"write lambda x, record: \.\.\."):
        ds.minimize(fun, [1.0, 2.0], callback=lambda: None)
    assert ds.minimize(fun, [1.0, 2.0], callback=lambda *values: False).success   # (x, record) fits *values
    stopped = ds.minimize(fun, [1.0, 2.0], callback=lambda x, record: record["step"] >= 1)
    assert stopped.message == "stopped: the callback asked to stop at step 1"


def test_predict_notes_dates_further_from_training_than_its_dates_span(dated_run, tmp_path, capsys):
    """A row dated 2030 (training: 2022-01-01 to 03-23) was predicted from the date's trend carried 8 years on,
    without a word; a date a few weeks on (the usual forecast) says nothing."""
    data, run = dated_run
    rows = pd.read_csv(data).drop(columns=["sales"]).head(3)
    rows.loc[0, "date"], rows.loc[1, "date"] = "2030-06-01", "2022-04-15"
    new = tmp_path / "new.csv"
    rows.to_csv(new, index=False)
    capsys.readouterr()
    assert main(["predict", str(run), str(new)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "'date'" in line]
    assert notes == [f"note: {new}: 1 row(s) have 'date' further from the dates the model was fitted on (2022-01-01 "
                     "to 2022-03-23, before the validation rows) than those span, as far as 2030-06-01; their "
                     "predictions carry the trend learned over those dates that far, so trust them less"]


def test_the_names_of_parts_starting_steps_apart_step_down_a_line():
    """A refit of 8 steps then an update: "refit" and "update 1" were printed over each other ("refupdate 1")."""
    ax = Figure().subplots()
    ax.plot([0, 200], [0, 1])
    for row, (name, step) in enumerate([("refit", 128), ("update 1", 136), ("update 2", 175), ("update 3", 190)]):
        _mark_start(ax, name, np.array([step]), row)
    offsets = [text.xyann[1] for text in ax.texts]
    assert offsets == [-12, -23, -34, -12]


def test_importance_plot_says_how_many_trials_it_rests_on():
    """Two trials ranked six settings (lr 0.50, weight_decay 0.48, ...) under the title "parameter importance"."""
    six = {name: 1 / 6 for name in ("lr", "weight_decay", "depth", "width", "batch_size", "schedule")}
    assert importance_figure(six, 2).axes[0].get_title() == ("parameter importance (2 trials)\n2 trials for 6 "
                                                             "settings: too few to rank them")
    assert importance_figure(six, 20).axes[0].get_title() == "parameter importance (20 trials)"


def test_tune_says_the_data_notes_once(tmp_path, capsys):
    """`descend tune` repeated "note: sales.csv: ... read as missing" for every trial."""
    data = tmp_path / "sales.csv"
    rows = _dated_rows(60).astype({"price": object})
    rows.loc[[3, 7], "price"] = "?"
    rows.to_csv(data, index=False)
    assert main(["tune", str(data), "--target", "sales", "--trials", "2", "--max-epochs", "1",
                 "--out", str(tmp_path / "tune")]) == 0
    captured = capsys.readouterr()
    notes = [line for line in (captured.out + captured.err).splitlines() if "read as missing" in line]
    assert notes == ["note: " + str(data) + ": 2 cell(s) holding '?' read as missing"]


@pytest.mark.parametrize("command", ["predict", "update"])
def test_a_folder_that_holds_no_run_is_said_to_be_none(command, tmp_path, capsys):
    """`descend predict runs/empty new.csv` said "runs/empty/summary.json is missing: it holds the checksums ...;
    train the run again (or restore the file)", of a folder no run was ever in."""
    (tmp_path / "runs" / "empty").mkdir(parents=True)
    (tmp_path / "runs" / "a").mkdir()
    (tmp_path / "runs" / "a" / "config.json").write_text("{}")
    data = tmp_path / "new.csv"
    _dated_rows(20).to_csv(data, index=False)
    assert main([command, str(tmp_path / "runs" / "empty"), str(data)]) == 2
    assert capsys.readouterr().err == (f"descend: error: {tmp_path / 'runs' / 'empty'} is not a run folder: it holds "
                                       "none of a run's files (config.json, summary.json, the model); give the folder "
                                       "that `descend fit --out DIR` (or fit(run_dir=...)) wrote\n")
    assert main([command, str(tmp_path / "runs"), str(data)]) == 2
    assert capsys.readouterr().err.endswith(f"it holds the run a: give that folder, {tmp_path / 'runs' / 'a'}\n")


def test_compare_names_the_last_steps_loss_and_drops_an_empty_val_column(tmp_path):
    """compare.html of two runs without validation: "final loss" 2.43 (the last step's) beside a smoothed curve ending
    at 4.26, and a "best val_loss" column empty in every row."""
    import torch
    from torch import nn

    from descend.runs.records import read_run
    from descend.runs.report import render_comparison

    x = torch.randn(64, 3)
    y = x.sum(1)
    for name, lr in (("a", 1e-3), ("b", 1e-2)):
        ds.fit(nn.Linear(3, 1), (x, y), loss="mse", lr=lr, max_epochs=2, progress=False, doctor=False,
               run_dir=tmp_path / name)
    page = render_comparison([read_run(tmp_path / "a"), read_run(tmp_path / "b")])
    assert "<th>last step&#x27;s loss</th>" in page
    assert "best val_loss" not in page and "final loss" not in page
