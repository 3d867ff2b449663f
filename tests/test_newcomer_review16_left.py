"""What the sixteenth new-user review noticed and left: the demo's split in words, the doctor's underfitting
number, lr-find's --threads, and the report of an updated run."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn

import descend as ds
from descend.apps.tabular import Options, fit_table
from descend.apps.tabular import train as tabular_train
from descend.cli import main
from descend.runs import plots
from descend.runs.report import _metrics

README = Path(__file__).resolve().parents[1] / "README.md"


def _table(rows: int) -> pd.DataFrame:
    """A small table with no dates: a month name, a number, and a target linear in the number."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows).round(3)
    month = np.array(["Jan", "Feb", "Mar"])[np.arange(rows) * 3 // rows]
    return pd.DataFrame({"mnth": month, "x": x, "y": (2 * x + rng.normal(0, 0.1, rows)).round(3)})


def test_the_split_line_says_no_column_holds_dates_and_readme_says_the_demo_file_runs_in_time_order():
    lines = []
    fit_table(_table(60), Options(target="y", max_epochs=1, progress=False), say=lines.append)
    split = [line for line in lines if line.startswith("split:")]
    assert split[0].startswith("split: rows in file order (no column holds dates, so the file's order stands for "
                               "time; --split random draws the test rows at random);")
    demo = " ".join(README.read_text().split("## Quick tour")[0].split())
    assert ("The file has no date column (month, weekday and hour are columns of their own), but its rows run hour "
            "by hour through 2011, so the split's rows in file order are time order: the last 20% (late October to "
            "December) are the test set") in demo


def _sine_fit():
    """A straight line fitted to a sine, 256 validation rows: the doctor's underfitting."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1024, 1, generator=g) * 6 - 3
    y = torch.sin(2 * x[:, 0]) * 3
    return ds.fit(nn.Linear(1, 1), (x, y), val=(x[:256], y[:256]), loss="mse", lr=0.05, max_steps=150,
                  progress=False)


def _slow_fit():
    """A small network after 30 plain SGD steps at a tiny lr on a linear target, no validation rows: far from the
    linear reference, so underfitting on its 400 training rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=400)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    return ds.fit(model, (torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]),
                  loss="mse", lr=1e-4, optimizer="sgd", max_steps=30, batch_size=64, progress=False)


def test_underfitting_says_which_rows_its_loss_was_read_on():
    held = next(f for f in _sine_fit().findings if f.code == "underfitting")
    assert held.message.startswith(f"underfitting: the trained model's mean loss on 256 validation rows is "
                                   f"{held.evidence['model_loss']:.4g}, clearly worse than a reference's on the same "
                                   f"rows ({held.evidence['reference_loss']:.4g}; ")
    result = _slow_fit()
    own = next(f for f in result.findings if f.code == "underfitting")
    assert own.message.startswith(f"underfitting: the trained model's mean loss on 400 training rows, scored after "
                                  f"training (not one batch's, as the history's last loss is) is "
                                  f"{own.evidence['model_loss']:.4g}, ")
    assert own.evidence["model_loss"] != result.history[-1]["loss"]   # why the sentence has to say so


def test_lr_find_sweeps_on_the_threads_given(monkeypatch, capsys, tmp_path):
    data = tmp_path / "t.csv"
    _table(80).to_csv(data, index=False)
    before = torch.get_num_threads()
    wanted, seen = before + 1, []
    sweep = tabular_train.lr_find

    def watched(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return sweep(*args, **kwargs)

    monkeypatch.setattr(tabular_train, "lr_find", watched)
    assert main(["lr-find", str(data), "--target", "y", "--threads", str(wanted)]) == 0
    assert seen == [wanted] and torch.get_num_threads() == before
    assert "use it: descend fit" in capsys.readouterr().out


def test_an_updated_runs_scores_say_they_are_the_first_fits():
    scores = {"scores": {"blend": {"rmse": 1.0}, "ridge": {"rmse": 1.2}}}
    updated = _metrics(SimpleNamespace(metrics={**scores, "updates": [{"rows": 8}, {"rows": 9}]}))
    assert ("<p>These are the first fit's scores on its test rows, from before the 2 update(s) that came later; each "
            "update's scores, on its own newest rows, are in the updates table.</p>") in updated
    assert "first fit's" not in _metrics(SimpleNamespace(metrics=scores))


def test_a_short_refit_has_a_legend_entry_of_its_own():
    steps = np.arange(1, 109)
    phase = ["fit"] * 100 + ["refit"] * 8
    history = pd.DataFrame({"step": steps, "loss": np.linspace(3, 1, 108), "phase": phase})
    labels = plots.loss_figure(history).axes[0].get_legend_handles_labels()[1]
    assert labels == ["train (per step)", "train (smoothed)", "train (per step, refit)"]
