"""What a new user met on tables and models never used here before (a third review), each fixed and pinned: the
identifier kept beside `descend predict`'s output, the lines fit prints about small and wide tables, the doctor's
flags as a user types them."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from descend.apps.tabular import Options, fit_table, read_table
from descend.apps.tabular.columns import infer_columns
from descend.cli import main
from tabular_data import fitted_with_new_rows
from descend.doctor.advice import with_flags
from descend.core.frontend import command_line

QUICK = ["--max-epochs", "3", "--patience", "2"]


def _survey(rows: int, seed: int = 0) -> pd.DataFrame:
    """A small table as people save it: an ID column kept in, a share in percent, a value to predict."""
    rng = np.random.default_rng(seed)
    share = rng.uniform(0, 100, rows).round(1)
    size = rng.normal(50, 10, rows).round(2)
    return pd.DataFrame({"RespondentID": np.arange(5001, 5001 + rows), "share": share, "size": size,
                         "spend": (2 * size + 0.3 * share + rng.normal(0, 5, rows)).round(2)})


@pytest.fixture(scope="module")
def survey_run(tmp_path_factory):
    return fitted_with_new_rows(tmp_path_factory.mktemp("survey"), "survey", _survey(60), "spend",
                                _survey(8, seed=1), QUICK)


def test_predict_keeps_the_identifier_fit_left_out_before_the_predictions(survey_run, capsys):
    out, new = survey_run
    capsys.readouterr()
    assert main(["predict", str(out), str(new)]) == 0
    got = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(got.columns) == ["RespondentID", "prediction"]
    assert got["RespondentID"].tolist() == list(range(5001, 5009))


def test_predict_keep_names_the_columns_copied_or_none(survey_run, capsys, tmp_path):
    out, new = survey_run
    capsys.readouterr()
    assert main(["predict", str(out), str(new), "--keep", "share,RespondentID"]) == 0
    got = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(got.columns) == ["share", "RespondentID", "prediction"]
    assert got["share"].tolist() == _survey(8, seed=1)["share"].tolist()
    assert main(["predict", str(out), str(new), "--keep", ""]) == 0
    assert list(pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out)).columns) == ["prediction"]


def test_an_identifier_with_empty_cells_is_written_as_whole_numbers(survey_run, capsys, tmp_path):
    out, _ = survey_run
    frame = _survey(4, seed=2).drop(columns=["spend"]).astype({"RespondentID": float})
    frame.loc[1, "RespondentID"] = np.nan
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    capsys.readouterr()
    assert main(["predict", str(out), str(path)]) == 0
    assert [line.split(",")[0] for line in capsys.readouterr().out.splitlines()] == [
        "RespondentID", "5001", "", "5003", "5004"]


def test_predict_keep_refuses_a_column_the_data_lacks_or_an_output_name(survey_run, capsys, tmp_path):
    out, new = survey_run
    capsys.readouterr()
    assert main(["predict", str(out), str(new), "--keep", "respondentid"]) == 2
    assert capsys.readouterr().err == (
        f"descend: error: --keep names column 'respondentid', which {new} does not have; did you mean "
        "'RespondentID'? columns: RespondentID, share, size\n")
    clashing = tmp_path / "clash.csv"
    _survey(3).drop(columns=["spend"]).assign(prediction=1).to_csv(clashing, index=False)
    assert main(["predict", str(out), str(clashing), "--keep", "prediction"]) == 2
    assert capsys.readouterr().err == ("descend: error: --keep: column 'prediction' has the name of an output "
                                       "column; rename it in the data\n")


def test_a_small_table_says_it_has_no_quantile_bins_and_the_split_is_in_file_order(capsys, tmp_path):
    data = tmp_path / "survey.csv"
    _survey(40).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "spend", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "-1" not in out
    assert ("  numbers (2): standardized with the training mean and spread; the networks and the linear model take "
            "them as they are (beyond the training range, a straight line carries on); no training-quantile bins "
            "(too few training rows: a column gets them from 80 rows, 40 a bin)\n") in out
    assert ("split: rows in file order (no column holds dates, so the file's order stands for time; --split random "
            "draws the test rows at random); 32 training rows in 5 folds") in out


def test_a_table_with_dates_keeps_its_time_order_line(tmp_path):
    frame = _survey(120).assign(Date=pd.date_range("2020-01-01", periods=120).strftime("%Y-%m-%d"))
    lines = []
    fit_table(frame, Options(target="spend", max_epochs=1, progress=False), say=lines.append)
    assert [line.split(";")[0] for line in lines if line.startswith("split:")] == ["split: time order (rows as given)"]


def test_columns_empty_in_every_row_are_left_out_in_one_line():
    frame = _survey(30).assign(**{f"extra_{i}": np.nan for i in range(24)})
    columns, notes = infer_columns(frame, "spend")
    assert [c.name for c in columns] == ["share", "size"]
    assert notes == [
        "RespondentID: whole numbers, a different one in each of the 30 rows, look like an identifier: left out "
        "(--numeric RespondentID to keep it)",
        "24 columns left out (empty in every row): " + ", ".join(f"extra_{i}" for i in range(20)) + " and 4 more"]


@pytest.mark.parametrize("change, flags", [({"lr": 0.01}, "--lr 0.01"), ({"lr": 0.00024}, "--lr 0.00024"),
                                           ({"weight_decay": 0.1}, "--weight-decay 0.1"),
                                           ({"lr": 1e-5}, "--lr 1e-05")])
def test_the_doctors_flags_are_written_as_a_user_types_them(change, flags):
    with command_line():
        assert with_flags("try it", change) == f"try it (descend fit: {flags})"


def test_a_python_fit_is_told_the_fit_keywords_its_fix_leaves_unnamed_not_the_commands_flags():
    """A Python fit has no `descend fit` flags: what the words already name stands alone, and a keyword they do
    not name (the optimizer an lr fix under optimizer="auto" sets, a batch size said in rows) follows in code."""
    assert with_flags("lower weight_decay to 0.01", {"weight_decay": 0.01}) == "lower weight_decay to 0.01"
    assert with_flags("try lr 0.00024", {"lr": 0.00024, "optimizer": "adamw"}) == "try lr 0.00024 (optimizer='adamw')"
    assert with_flags("use batches of 32 rows", {"batch_size": 32}) == "use batches of 32 rows (batch_size=32)"
    assert with_flags("use stop=[Patience(10)]", {"patience": 10}) == "use stop=[Patience(10)]"
    assert with_flags("use lr_find", {"lr": "auto"}) == "use lr_find (lr='auto')"


def test_an_lr_find_result_prints_its_suggestion_not_its_whole_curve():
    from descend.fit.lr_find import LRFindResult
    lrs = list(np.geomspace(1e-7, 10, 100))
    found = LRFindResult(lrs=lrs, losses=[1.0] * 100, smoothed=[1.0] * 100, suggestion=0.13848, min_loss_lr=6.8926,
                         stop_reason="reached the step limit (100 steps)", diverged=False, rule="a rule")
    assert repr(found) == ("LRFindResult(suggestion=0.138, min_loss_lr=6.89, 100 steps over lr 1.0e-07 .. 1.0e+01, "
                           "diverged=False; the curve: .lrs, .losses, .smoothed)")
    assert str(found) == found.summary() and str(found).endswith("suggested lr 1.38e-01 (a rule)")


def test_the_reports_settings_name_a_tables_loss_and_metric_in_words(survey_run):
    from descend.runs import read_run
    out, _ = survey_run
    rows = dict(read_run(out).settings_rows())
    assert rows["loss"] == "mse, each network on the rows of its training folds, averaged"
    assert rows["metrics"] == "rmse"


def test_a_loss_that_names_itself_is_shown_by_its_name_beside_the_compared_class_path(tmp_path):
    import torch
    import descend as ds
    from descend.runs import read_run

    class Scaled:
        setting_label = "mse, doubled"

        def __call__(self, output, target):
            return 2 * torch.nn.functional.mse_loss(output[:, 0], target)

    torch.manual_seed(0)
    x, y = torch.randn(64, 3), torch.randn(64)
    ds.fit(torch.nn.Linear(3, 1), (x, y), loss=Scaled(), metrics=["rmse"], lr=0.01, optimizer="sgd", max_steps=4,
           run_dir=tmp_path / "run", progress=False)
    record = read_run(tmp_path / "run")
    assert record.config["labels"] == {"loss": "mse, doubled"}
    assert record.config["run"]["loss"].endswith("Scaled")   # the compared record keeps the class path
    assert dict(record.settings_rows())["loss"] == "mse, doubled"


@pytest.mark.parametrize("name, cells, task, says", [
    ("turnout", [f"{v}%" for v in range(20, 95, 3)], "regression", "(written with '%')"),
    ("pass_pct", list(range(20, 95, 3)), "regression", "(the name 'pass_pct' says so)"),
    ("PercentFilled", list(range(20, 95, 3)), "regression", "(the name 'PercentFilled' says so)"),
    ("visits", list(range(20, 95, 3)), "count", "Poisson loss"),
    ("pass_pct", list(range(20, 250, 9)), "count", "Poisson loss")])   # above 100: no percentage
def test_a_percentage_target_is_a_share_not_a_count(name, cells, task, says):
    from descend.apps.tabular.target import infer_target
    target = infer_target(pd.Series(cells, dtype=object if isinstance(cells[0], str) else None), name)
    assert target.task == task and says in target.reason
    if task == "regression":
        assert target.reason.startswith("inferred: whole numbers from 0 to 100 that are percentages") and \
            target.reason.endswith("-> squared error on the standardized target (a share has a ceiling a count has "
                                   "not; --task count for Poisson)")
        assert target.mean == pytest.approx(np.mean(range(20, 95, 3)))


def test_an_update_kept_on_its_validation_rows_but_worse_on_the_newest_says_so():
    from descend.apps.tabular.update import judged
    before = {"accuracy": 0.7, "log_loss": 0.681, "roc_auc": 0.5729}
    after = {"accuracy": 0.6, "log_loss": 0.7633, "roc_auc": 0.5208}
    record = {"rows": 100, "newest_rows": 20, "before": before, "after": after, "kept_previous": False}
    assert judged(record) == [
        "on the newest 20 rows, after the update against before it: accuracy 0.6 vs 0.7 (10.0 points lower: "
        "worse), log-loss 0.7633 vs 0.681 (12% higher: worse)",
        "note: the update was kept because it lowered the validation rows' loss; the newest 20 rows, which it never "
        "saw, score it worse: on so few rows either can be chance; judge it on more new rows before relying on it"]
    better = dict(record, before=after, after=before)
    assert judged(better) == ["on the newest 20 rows, after the update against before it: accuracy 0.7 vs 0.6 "
                              "(10.0 points higher: better), log-loss 0.681 vs 0.7633 (11% lower: better)"]
    assert len(judged(dict(record, kept_previous=True))) == 1   # the previous weights stayed: nothing to explain


def test_lbfgs_named_on_mini_batches_warns_before_its_slow_run():
    import warnings
    import torch
    import descend as ds
    x, y = torch.randn(256, 6), torch.randn(256)
    with pytest.warns(UserWarning) as caught:
        ds.fit(torch.nn.Linear(6, 1), (x, y), loss="mse", optimizer="lbfgs", batch_size=64, max_steps=1,
               progress=False)
    assert [str(w.message) for w in caught] == [
        "L-BFGS on 4 mini-batches per epoch: each step runs up to 20 L-BFGS iterations (max_iter) on one batch, "
        "each a forward and backward pass, so the run is slow (tens of times slower than a first-order run), and "
        "its curvature memory mixes batches; for L-BFGS give batch_size at least the row count (one full batch, "
        "where it converges), or leave optimizer to 'auto' for mini-batches"]
    model = torch.nn.Linear(6, 1)
    with pytest.warns(UserWarning, match="up to 5 L-BFGS iterations"):
        ds.fit(model, (x, y), loss="mse", optimizer=torch.optim.LBFGS(model.parameters(), max_iter=5),
               batch_size=128, max_steps=1, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # one full batch: L-BFGS as it is meant, nothing to say
        ds.fit(torch.nn.Linear(6, 1), (x, y), loss="mse", optimizer="lbfgs", batch_size=256, max_steps=1,
               progress=False)


def test_overfitting_says_the_last_weights_stayed_when_auto_did_not_restore_its_best():
    import torch
    import torch.nn.functional as F
    import descend as ds
    torch.manual_seed(0)
    x = torch.randn(800, 10)
    y = (x[:, :3].sum(1) > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, 64), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(64, 2))
    result = ds.fit(model, (x[:600], y[:600]), val=(x[600:], y[600:]), loss="cross_entropy", metrics=["accuracy"],
                    progress=False)
    best = result.best["step"]
    assert re.fullmatch(rf"reached the epoch limit \(20 epochs\); the model holds the last weights \(step {best}'s "
                        rf"val_loss {result.best['val_loss']:.6g} was lower, but by 0\.\d standard errors over the "
                        r"validation rows, within their noise\)", result.stop_reason)
    model.eval()
    with torch.no_grad():
        held = F.cross_entropy(model(x[600:]), y[600:]).item()
    assert held == pytest.approx(result.history[-1]["val_loss"], rel=1e-5)   # the last weights, as said below
    (finding,) = [f for f in result.findings if f.code == "overfitting"]
    assert finding.fix.startswith(
        f"the model holds the last weights (auto keeps its best evaluation's only when they beat the last beyond the "
        f"validation rows' noise, and step {best}'s did not); stop earlier with stop=[Patience(5, restore_best=True)]")
    assert "auto kept its best evaluation's weights" not in str(finding)


def _quadratic(x):
    return (x[0] - 3) ** 2 + (x[1] + 1) ** 2 + x[0] * x[1]


def test_minimize_takes_bounds_and_a_constraint_together_as_scipy_does():
    import descend as ds
    from descend.minimize.constraints import Affine
    from scipy.optimize import minimize as scipy_minimize
    res = ds.minimize(_quadratic, [0.0, 0.0], bounds=[(0, 2), (-5, 5)], constraint=Affine([[1.0, 1.0]], [1.0]))
    reference = scipy_minimize(lambda x: _quadratic(x), [0.0, 0.0], bounds=[(0, 2), (-5, 5)],
                               constraints=[{"type": "eq", "fun": lambda x: x[0] + x[1] - 1}])
    assert res.success and res.x == pytest.approx(reference.x, abs=1e-6) and res.x.tolist() == pytest.approx([2, -1])
    assert res.fun == pytest.approx(reference.fun, abs=1e-8)


def test_bounds_and_a_budget_hold_at_every_element():
    import torch
    import descend as ds
    a, b = torch.tensor([3.0, 2.0, 1.5, 1.0, 0.5]), torch.tensor([0.5, 1.0, 2.0, 3.0, 4.0])
    res = ds.minimize(lambda x: (a * torch.log1p(b * x)).sum(), [1.0] * 5, constraint=ds.constraints.Simplex(10.0),
                      bounds=(0.5, 4.0), maximize=True)
    x = np.asarray(res.x)
    assert res.success and x.sum() == pytest.approx(10.0, abs=1e-8) and x.min() >= 0.5 and x.max() <= 4.0
    grad = (a * b).numpy() / (1 + b.numpy() * x)   # KKT: elements strictly inside the bounds share one marginal value
    inside = (x > 0.5 + 1e-6) & (x < 4.0 - 1e-6)
    assert inside.sum() >= 2 and np.ptp(grad[inside]) < 1e-5


def test_the_intersection_projects_to_the_nearest_common_point():
    import torch
    from descend.minimize.constraints import Affine, Box, Intersection
    both = Intersection(Affine([[1.0, 1.0, 1.0]], [1.0]), Box(0.0, 0.5)).bind(3, torch.float64, "x")
    # the nearest point of {sum = 1, 0 <= x <= 0.5} to (2, 0, 0) is (0.5, 0.25, 0.25)
    assert both.project(torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64)).tolist() == pytest.approx(
        [0.5, 0.25, 0.25], abs=1e-9)


def test_sets_with_no_common_point_and_scipy_style_constraints_are_refused_saying_why():
    import descend as ds
    from descend.core.errors import DescendError, DescendTypeError
    from descend.minimize.constraints import Affine
    with pytest.raises(DescendError) as caught:
        ds.minimize(_quadratic, [0.0, 0.0], bounds=[(0, 1), (0, 1)], constraint=Affine([[1.0, 1.0]], [5.0]))
    assert str(caught.value) == ("the sets constraining x (Affine, Box) have no point in common: the nearest try lies "
                                 "2.12 outside its Affine; loosen the bounds or the constraint")
    for scipy_style in (lambda x: x[0] + x[1] - 1, {"type": "eq", "fun": lambda x: x[0] + x[1] - 1}):
        with pytest.raises(DescendTypeError) as caught:
            ds.minimize(_quadratic, [0.0, 0.0], constraint=scipy_style)
        assert str(caught.value).endswith(
            "; minimize projects onto sets rather than taking constraint functions (scipy's {'type': 'eq', 'fun': "
            "...}): a linear equality is Affine(A, b), an inequality A x <= b LinearInequality(A, b), a budget "
            "Simplex(total); a nonlinear one is best built into x: minimize over a free z and form x from it inside "
            "fun (x = z / z.norm() keeps ||x|| = 1, x = z.exp() keeps x > 0), then form x from the result's z the "
            "same way; a penalty added to fun holds a constraint only approximately")


def dynamo_imported_after(call: str) -> bool:
    """Whether torch._dynamo (about 2 s to import) is loaded after `call` runs in a fresh Python process."""
    import subprocess
    import sys
    probe = f"import sys, descend as ds\n{call}\nprint('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_a_first_minimize_in_a_fresh_process_does_not_import_torch_dynamo():
    assert not dynamo_imported_after("ds.minimize(lambda x: (x[0] - 3) ** 2 + x[1] ** 2, [0.0, 0.0], bounds=(0, 2))")


def _dated(rows: int) -> pd.DataFrame:
    return _survey(rows).assign(Date=pd.date_range("2020-01-01", periods=rows).strftime("%Y-%m-%d"))


def _split_lines(frame: pd.DataFrame, **options) -> list[str]:
    lines = []
    fit_table(frame, Options(target="spend", max_epochs=1, progress=False, **options), say=lines.append)
    return [line for line in lines if line.startswith(("split:", "note: the rows"))]


def test_rows_newest_first_are_said_to_put_the_oldest_rows_in_the_test_set():
    """(A frame reversed with iloc[::-1] is read too: its target once reached torch with negative strides.)"""
    lines = _split_lines(_dated(120).iloc[::-1])
    assert lines[0].startswith("split: rows in file order, which is not time order (see the note below); ")
    assert lines[1] == ("note: the rows run from newest to oldest by 'Date' (2020-04-29 first, 2020-01-01 last), so "
                        "the test rows are the oldest, not the newest; --time-column Date puts them in time order")
    assert len(lines) == 1 + 1


def test_rows_out_of_date_order_are_said_so_and_time_column_settles_it():
    shuffled = _dated(120).sample(frac=1.0, random_state=0)
    lines = _split_lines(shuffled)
    assert re.fullmatch(r"note: the rows are not in 'Date' order \(\d+ of 119 steps from one row to the next go back "
                        r"in time\), so the last rows are not the latest; --time-column Date puts them in time order, "
                        r"or --split random draws the test rows", lines[1])
    assert [line.split(";")[0] for line in _split_lines(shuffled, time_column="Date")] == [
        "split: time order by 'Date'"]
    assert [line.split(";")[0] for line in _split_lines(_dated(120))] == ["split: time order (rows as given)"]


def test_lr_find_on_a_target_with_a_few_huge_values_sweeps_instead_of_failing_at_the_first_steps():
    """A batch holding one of the few huge targets has a loss a hundred times the others at any lr: the sweep
    used to call that divergence from a one-batch best at step 2 and fail ('could not measure a curve')."""
    import warnings
    import torch
    import descend as ds
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 4, generator=g)
    y = 0.3 * x.sum(1)
    y[torch.randperm(400, generator=g)[:4]] = 40.0
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a curve this noisy may have no valley: the guess is warned of
        found = ds.lr_find(torch.nn.Linear(4, 1), (x, y), "mse", batch_size=16)
    assert len(found.lrs) == 100 and found.stop_reason == "reached the step limit (100 steps)"
    assert max(found.losses[:3]) > 50 * min(found.losses[:3])   # the batches that once stopped it are there


def test_ctrl_c_while_the_command_loads_is_one_line_not_a_traceback(monkeypatch, capsys):
    """Ctrl-C in the first seconds, while `descend fit` imports torch, printed forty lines of import traceback."""
    import descend.cli as cli

    def interrupted(command):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["fit", "sales.csv", "--target", "loaves"]) == 130
    assert capsys.readouterr().err == "descend: interrupted\n"


def test_the_report_of_a_table_without_dates_does_not_call_its_residuals_a_time_series(survey_run, capsys):
    out, _ = survey_run
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert ("Residuals in the order of the data file (the table has no dates); a drifting rolling mean means later "
            "rows are predicted worse.") in page
    assert "the model ages" not in page


def test_a_tables_growing_patience_is_named_in_words_in_config_labels():
    from descend.apps.tabular.stopping import GrowingPatience
    from descend.runs.config import labels
    assert labels({"stop": [GrowingPatience(15, 10)], "lr": 0.1}) == {
        "stop": "early stopping on val_loss: after 10 to 15 evaluations without a better one (as many as the best "
                "took), the best weights restored"}   # at least 100 steps: 10 epochs of 10 steps


def test_update_on_rows_without_the_target_points_to_predict(survey_run, capsys):
    out, new = survey_run   # the new rows have no 'spend': rows to predict, not to train on
    capsys.readouterr()
    assert main(["update", str(out), str(new)]) == 2
    assert capsys.readouterr().err == (
        "descend: error: the new data has no target column 'spend': update trains on rows whose target is known "
        "(for rows without it, `descend predict` predicts them); columns: RespondentID, share, size\n")
