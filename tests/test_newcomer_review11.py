"""A new user's eleventh review: `make demo` ended with a doctor_error, the doctor advised a gradient clip that
`descend fit` cannot set, README's map lacked eight benchmarks, scores shown as n/a or None without a reason, a
date-and-time column that gave the report no time axis, a panel split by series while called time order, and
minimize's words for maximize and for a scipy-style constraint."""
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import descend as ds
from descend.apps.bench.profiles import profile, ratios, taus
from descend.apps.tabular import Options, fit_table
from descend.apps.tabular.evaluate import classification_scores, regression_scores, table
from descend.cli import main
from descend.doctor.instruments import Readings
from descend.doctor.probes import size_blind
from descend.doctor.rules import exploding_gradients


class OneHotThenLinear(nn.Module):
    """A model that takes a category code in a float column (as descend fit's networks do) and one-hots it."""

    def __init__(self, levels: int):
        super().__init__()
        self.levels, self.linear = levels, nn.Linear(levels + 1, 1)

    def forward(self, x):
        return self.linear(torch.cat([x[:, :1], F.one_hot(x[:, 1].long(), self.levels).float()], dim=1))


def test_the_size_probe_reads_a_model_of_category_codes_as_having_no_size():
    """Scaling every input by 10 sent codes past their levels: F.one_hot raised, and the doctor's whole comparison
    of the model with its references failed (a doctor_error in `make demo`'s output)."""
    x = torch.stack([torch.randn(32), torch.arange(32.0) % 24], dim=1)
    assert size_blind(OneHotThenLinear(24), x) is None


def test_the_demo_table_ends_without_a_doctor_error():
    """`make demo` printed "[info] the doctor's check 'measuring the model against references' failed on this run
    (RuntimeError: Class values must be smaller than num_classes.)"."""
    frame = pd.read_csv(resources.files("descend") / "data" / "bikeshare.csv.gz").iloc[:3000]
    opts = Options(target="bikers", drop=["casual", "registered"], split="time", max_epochs=1)
    run = fit_table(frame, opts, say=lambda line: None)
    assert run.findings is not None and "doctor_error" not in [f.code for f in run.findings]


ROOT = Path(__file__).resolve().parents[1]


def test_readmes_map_of_the_benchmarks_gives_every_script_one_line():
    """The map named a dozen scripts in prose and lacked keep_best.py, wide_ridge.py and six more; each script now
    has its own line, and a script added without one fails here."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Map of the benchmarks", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^  (\w+\.(?:py|sh)) +\S", section, flags=re.M)
    scripts = sorted(p.name for p in (ROOT / "benchmarks").iterdir() if p.suffix in (".py", ".sh"))
    assert sorted(listed) == scripts and len(listed) == len(set(listed))


def spiking_history(member_loss: bool):
    """The readings of a run whose gradient norm sits near 3 and jumps 10 million times at step 53 (charity's
    refit through `descend fit`), with the loss that jumped with it and never came back below its start."""
    history = [{"step": s, "epoch": 1 + s // 100, "loss": 5.0 - 0.01 * s if s < 53 else 40.0,
                "grad_norm": 3.0e7 if s == 53 else 2.9 + 0.01 * (s % 7)} for s in range(1, 91)]
    return Readings(history=history, member_loss=member_loss)


def test_exploding_gradients_in_descend_fits_networks_names_no_clip_it_cannot_set():
    """Through `descend fit` the advice was "clip gradients with grad_clip=3", an option the command lacks (and
    clipping at 1, 3 or 10 made charity's test error worse); a model of one's own still gets the clip."""
    own = exploding_gradients(spiking_history(member_loss=False))
    assert own.change == {"grad_clip": 3.0} and "grad_clip=3" in own.fix
    table = exploding_gradients(spiking_history(member_loss=True))
    assert table.code == "exploding_gradients" and table.change == {}
    assert "grad_clip" not in table.fix and table.fix.startswith("descend fit clips no gradients and has no option")
    assert "fix or drop the rows that are errors" in table.fix


def test_a_score_shown_as_n_a_says_why():
    """A time split whose last rows all had 0 affairs printed "r2 n/a" on every line and nothing else."""
    zeros = np.zeros(40)
    rows = {"model": regression_scores(zeros, np.full(40, 0.7)), "training mean": regression_scores(zeros, zeros + 1)}
    shown = table(rows).splitlines()
    assert shown[1].split()[-1] == "n/a" and shown[-1] == (
        "r2 n/a: every row scored has the same target value, so there is no spread for a model to explain")
    one_class = {"model": classification_scores(np.ones(10), np.tile([[0.2, 0.8]], (10, 1)))}
    assert table(one_class).splitlines()[-1] == (
        "roc_auc n/a: the rows scored hold one class only, so there is no pair of classes to rank")
    assert "n/a" not in table({"model": regression_scores(np.arange(5.0), np.arange(5.0) + 1)})


def test_a_date_and_time_column_gives_the_test_predictions_their_times():
    """A survey stamped "01/01/2019 03:00" was split in time order, but test_predictions.csv had no time column and
    the report plotted the residuals "by row of the file (no dates)"."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"when": pd.date_range("2019-01-01", periods=300, freq="3h").strftime("%d/%m/%Y %H:%M"),
                          "x": rng.normal(size=300)})
    frame["y"] = 2 * frame["x"] + rng.normal(scale=0.1, size=300)
    run = fit_table(frame, Options(target="y", max_epochs=2), say=lambda line: None)
    times = run.test_predictions["time"]
    assert [c.kind for c in run.preprocessor.columns if c.name == "when"] == ["datetime"]
    assert list(run.test_predictions.columns) == ["row", "time", "actual", "predicted"]
    assert str(times.iloc[0]) == "2019-01-31 00:00:00" and times.is_monotonic_increasing


def test_a_constant_test_target_reads_n_a_with_its_reason_in_the_terminal_and_the_report(tmp_path, capsys):
    """The report's metrics tables showed such a score as "None" (metrics.json's null)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "y": np.where(np.arange(200) < 160, 2 * x, 0.0)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "run"
    assert main(["fit", str(tmp_path / "t.csv"), "--target", "y", "--max-epochs", "2", "--out", str(out)]) == 0
    assert "r2 n/a: every row scored has the same target value" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    metrics = (out / "report.html").read_text().split("<section id='metrics'>")[1].split("</section>")[0]
    assert "None" not in metrics and metrics.count('data-value="nan">n/a</td>') >= 3


def split_lines(frame: pd.DataFrame, **options) -> list[str]:
    """The split line and the notes on the rows' date order that fitting `frame` (target y) prints."""
    lines = []
    fit_table(frame, Options(target="y", max_epochs=1, **options), say=lines.append)
    return [line for line in lines if line.startswith(("split:", "note: the rows"))]


def test_a_panel_saved_one_series_after_another_is_said_to_test_the_last_series():
    """statsmodels' Grunfeld (11 firms x 20 years, firm after firm) was split "in time order (rows as given)"
    while its 44 test rows were the last two firms, every year of them."""
    rng = np.random.default_rng(0)
    years = pd.date_range("1935-12-31", periods=30, freq="YE").strftime("%Y-%m-%d")
    panel = pd.DataFrame({"year": np.tile(years, 4), "firm": np.repeat(list("ABCD"), 30),
                          "x": rng.normal(size=120)})
    panel["y"] = panel["x"] + rng.normal(scale=0.1, size=120)
    lines = split_lines(panel)
    assert lines[0].startswith("split: rows in file order, which is not time order (see the note below); ")
    assert lines[1] == ("note: the rows go back in time by 'year' 3 times, as a panel saved one series after another "
                        "does, so the test rows are the last series' rows, not the latest dates; --time-column year "
                        "puts them in time order across the series")
    assert [line.split(";")[0] for line in split_lines(panel, time_column="year")] == ["split: time order by 'year'"]
    in_order = panel.sort_values("year", kind="stable")
    assert [line.split(";")[0] for line in split_lines(in_order)] == ["split: time order (rows as given)"]


def test_a_panel_saved_one_series_after_another_validates_on_blocks_of_rows_not_of_time():
    """Beside the note that the rows are not in time order, the split line said the validation rows were "the last
    57 in 3 blocks of time": they are blocks of rows in file order (the last series' rows), as the note says."""
    years = pd.date_range("1935-12-31", periods=30, freq="YE").strftime("%Y-%m-%d")
    panel = pd.DataFrame({"year": np.tile(years, 4), "x": np.arange(120) % 7})
    panel["y"] = panel["x"] * 2.0 + np.arange(120) % 3
    blocks = [line.split("; ")[1] for line in split_lines(panel) if line.startswith("split:")]
    assert blocks == ["96 training rows, the last 30 in 3 blocks of rows in file order (2 networks a block, each "
                      "learning from the rows before its block and validated on it, for early stopping and the blend), "
                      "24 test rows (last 0.2, used once at the end)"]
    timed = [line.split("; ")[1] for line in split_lines(panel, time_column="year") if line.startswith("split:")]
    assert timed == [blocks[0].replace("blocks of rows in file order", "blocks of time")]


def test_a_maximize_run_whose_line_search_fails_is_told_the_search_ran_on_minus_fun():
    """maximize=True on an unbounded fun ended "could not find a lower value" without saying lower than what: the
    search minimizes -fun."""
    up = ds.minimize(lambda x: (x ** 2).sum(), [1.0, 2.0], maximize=True, max_steps=50)
    assert not up.success and "the line search could not find a lower value along" in up.message
    assert up.message.endswith("; the search runs on -fun (maximize=True): a lower -fun is a higher fun")
    down = ds.minimize(lambda x: -(x ** 2).sum(), [1.0, 2.0], max_steps=50)
    assert "the line search could not find a lower value along" in down.message and "-fun" not in down.message


def test_a_scipy_style_constraint_is_told_the_inequality_set_too():
    """The list of sets lacked LinearInequality, the one a scipy user's {'type': 'ineq', ...} maps to."""
    with pytest.raises(TypeError) as caught:
        ds.minimize(lambda x: (x ** 2).sum(), [1.0, 2.0], constraint={"type": "ineq", "fun": lambda x: 1 - x.sum()})
    assert "Affine, LinearInequality, Intersection) or a dict of them by part name (Parts)" in str(caught.value)
    assert "an inequality A x <= b LinearInequality(A, b)" in str(caught.value)


def test_the_performance_profile_reaches_every_workload_an_entrant_reached():
    """`descend bench --quick` drew tau from 1 to 4 only: auto, 4.07x the fastest on iris, looked as if it had
    reached one workload of two, the same as the entrants that missed one."""
    rows = ratios({"auto": {"iris": 0.0729, "rosen": 0.094}, "sgd": {"iris": 0.0179, "rosen": math.inf}})
    grid = taus(rows)
    assert grid[0] == 1.0 and grid[-1] > rows["auto"]["iris"] > 4
    assert profile(rows["auto"], grid)[-1] == 1.0 and profile(rows["sgd"], grid)[-1] == 0.5
    assert taus({"a": {"w": 1.0}})[-1] == pytest.approx(4.4)   # never narrower than 1-4
