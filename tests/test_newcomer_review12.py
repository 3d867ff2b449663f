"""A new user's twelfth review: a Python warning printed through the command line with descend's file, line and
source, lr_find's advice to lower start_lr on a sweep that started flat, the report's "before clipping" under a run
that clipped nothing, a mistyped file or a column's first word met with no suggestion, and minimize's grammar for two
bad bound sides."""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import descend as ds
from descend.apps.tabular import Options, fit_table
from descend.apps.tuning.space import Float
from descend.cli import main
from descend.cli.commands import lr_find as lr_find_command
from descend.fit.lr_find import LRFindResult
from descend.runs.report import write_report
from tabular_data import bakery


def noisy_labels(rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Three columns and a yes/no label that the first one sets only weakly: the best log-loss is near ln 2's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    return x, (rng.random(rows) < 1 / (1 + np.exp(-0.8 * x[:, 0]))).astype(int)


def shallow_sweep() -> LRFindResult:
    """lr_find on the noisy labels: flat from 1e-7 to 0.1, a fall of 3% then, never the valley's 20%."""
    x, y = noisy_labels()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    return ds.lr_find(model, (torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]),
                      "bce")


def test_a_sweep_flat_at_its_start_is_not_told_to_lower_start_lr():
    """The curve held at 0.686 over six decades of lr before its small fall: a lower start_lr adds flat steps."""
    with pytest.warns(UserWarning) as caught:
        found = shallow_sweep()
    message = str(caught[0].message)
    assert found.rule.startswith("a tenth of the lowest point") and found.smoothed[0] == pytest.approx(0.686, abs=0.01)
    assert "lower start_lr:" not in message
    assert "the loss held at 0.6859 up to lr 1.4e-01, then fell only to 0.6629 before it rose" in message
    assert "the valley is shallow, and a lower start_lr would add only flat steps" in message


def test_the_command_line_prints_a_warning_as_one_line(tmp_path, monkeypatch, capsys):
    """`descend lr-find` showed lr_find's UserWarning as Python does: descend's file path and line number, then the
    source line `return lr_find(run.model, ...)`; now one `warning: ...` line on stderr."""
    x, y = noisy_labels(60)
    data = tmp_path / "noisy.csv"
    pd.DataFrame({"a": x[:, 0], "label": np.where(y, "yes", "no")}).to_csv(data, index=False)
    monkeypatch.setattr(lr_find_command, "find_lr", lambda prepared, opts: shallow_sweep())
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["lr-find", str(data), "--target", "label"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "lr_find" in line]
    assert len(err) == 1 and err[0].startswith("warning: lr_find: the smoothed loss never fell steadily by 20%")
    assert "UserWarning" not in err[0] and ".py:" not in err[0]


def fitted_run(tmp_path, **kwargs):
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    ds.fit(nn.Linear(3, 1), (x, x.sum(1, keepdim=True)), loss="mse", lr=0.01, max_steps=8, progress=False,
           run_dir=tmp_path / "run", **kwargs)
    return write_report(tmp_path / "run").read_text()


@pytest.mark.parametrize("clip, words", [(None, "Norm of the whole gradient at each step (this run clipped no "
                                                 "gradients)."),
                                         (1.0, "before clipping the norm to 1."),
                                         ({"value": 0.5}, "before clipping each element to +-0.5.")])
def test_the_gradient_norm_caption_says_what_the_run_clipped(tmp_path, clip, words):
    """Every report said "before clipping", also for runs that clip nothing (every `descend fit` table)."""
    html = fitted_run(tmp_path, grad_clip=clip)
    assert words in html and html.count("before clipping") == (clip is not None)


def test_a_missing_file_names_the_one_beside_it_that_was_meant(tmp_path, monkeypatch, capsys):
    """`descend fit housing.csv` when the folder holds housing.txt (a table exported as text): "no such file" alone."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "housing.txt").write_text("a,b\n1,2\n")
    (tmp_path / "sales_2024.csv").write_text("a,b\n1,2\n")
    cases = [("housing.csv", "did you mean housing.txt?"), ("sales_2042.csv", "did you mean sales_2024.csv?"),
             ("nowhere/x.csv", "(there is no folder nowhere)")]
    for given, meant in cases:
        assert main(["fit", given, "--target", "b"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"descend: error: {given}: no such file{'; ' if meant.startswith('did') else ' '}{meant}"
    assert main(["fit", "elsewhere.csv", "--target", "b"]) == 2
    assert capsys.readouterr().err.strip() == "descend: error: elsewhere.csv: no such file"


def test_a_column_named_by_its_first_word_is_suggested(tmp_path, capsys):
    """--time-column month for month_start: a near spelling is 0.625 alike, under the 0.75 cutoff, so no hint."""
    data = tmp_path / "homes.csv"
    pd.DataFrame({"month_start": ["2000-01", "2000-02", "2000-03"] * 10, "sales": range(30),
                  "start_price": range(30)}).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "sales", "--time-column", "month", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("descend: error: --time-column 'month' is not a column of the data; did you mean "
                              "'month_start'?")
    assert main(["fit", str(data), "--target", "sales", "--drop", "start", "--out", str(tmp_path / "r")]) == 2
    assert "did you mean" not in capsys.readouterr().err   # two columns hold 'start': neither is guessed
    assert not (tmp_path / "r").exists()


def test_two_bound_sides_that_are_not_numbers_read_as_plural():
    with pytest.raises(TypeError) as caught:
        ds.minimize(lambda x: (x ** 2).sum(), [0.2, 0.2], bounds=[("0", "2"), (0, 2)])
    assert str(caught.value).startswith("bounds[0] = ('0', '2'): lo '0' and hi '2' are not numbers; give numbers")


def test_the_trials_table_keeps_a_small_weight_decay_readable():
    """`descend tune` printed a weight decay of 4.3e-06 as 0.000004 (pandas' one format per column: 1 digit of it
    left) and seconds to six decimals; the table now gives each number to 4 significant digits."""
    result = ds.tune(lambda params: (params["lr"] - 0.01) ** 2 + params["weight_decay"],
                     {"lr": Float(1e-4, 0.1, log=True), "weight_decay": Float(1e-6, 1e-3, log=True)}, 4, seed=3,
                     progress=False)
    rows = [line.split() for line in result.table().splitlines()[1:]]
    decays = sorted(result.trials["weight_decay"])
    assert decays[0] < 1e-5 and rows[0][5] == f"{decays[0]:.4g}" and len(rows[0][5].replace(".", "")) > 4
    assert [row[5] for row in rows] == [f"{v:.4g}" for v in result.trials.sort_values("value")["weight_decay"]]


def test_bounds_that_fix_every_element_warn_and_show_the_pairs_meant():
    """bounds=[[0, 0], [0.5, 0.5]] (scipy's [lows, highs] rows) on two elements reads as two pairs that pin both:
    minimize returned the projected x0 as converged, fun 26, with no word that nothing could move."""
    def rosen(x):
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    with pytest.warns(UserWarning) as caught:
        result = ds.minimize(rosen, [0.2, 0.2], bounds=[[0, 0], [0.5, 0.5]])
    assert result.fun == pytest.approx(26.0) and caught[0].filename == __file__
    assert str(caught[0].message) == (
        "bounds [[0, 0], [0.5, 0.5]] fix every element of x (lo == hi in each pair), so minimize has nothing to "
        "move; if [[0, 0], [0.5, 0.5]] meant [lows, highs] (scipy's Bounds(lb, ub) layout), write the pairs "
        "[(0, 0.5), (0, 0.5)]")
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the pairs meant: no warning, and the box's corner is found
        assert ds.minimize(rosen, [0.2, 0.2], bounds=[(0, 0.5), (0, 0.5)]).x.tolist() == pytest.approx([0.5, 0.25])


def test_update_with_a_class_the_model_never_saw_is_one_line(tmp_path, capsys):
    """`descend update` on rows labelled 'maybe' where the model knows 'no' and 'yes' ended in "internal error
    (KeyError: 'maybe'); please report it"; now one line that names the label, its row and the way out."""
    run = fit_table(bakery(120), Options(target="rain", max_epochs=1, members=1, progress=False), say=lambda s: None)
    run.save(tmp_path / "run")
    new = bakery(40, seed=1)
    new.loc[[4, 9], "rain"] = ["maybe", "hail"]
    new.to_csv(tmp_path / "week.csv", index=False)
    before = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert main(["update", str(tmp_path / "run"), str(tmp_path / "week.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("descend: error: target 'rain' has 'maybe' in data row 5 (also: 'hail'), a class the model was not "
                   "trained on (its classes: 'no', 'yes'); the model cannot learn a new class by an update: fit it "
                   "again on all the rows with descend fit, or correct the label")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before
