"""Honest reports: the linear baseline for classes, comparisons said in words, update segments and findings,
permutation importance, and a split seed apart from the training seed."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from descend.apps.tabular import Options, fit_table
from descend.apps.tabular.evaluate import in_words
from descend.apps.tabular.train import prepare
from descend.cli import main
from descend.cli.tabular_options import report, validation_line
from descend.runs import plots
from tabular_data import bakery


def _quiet(line: str) -> None:
    pass


def test_the_class_baseline_is_logistic_regression_near_the_best_possible_log_loss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - x[:, 1])))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": np.where(rng.random(3000) < p, "yes", "no")})
    run = fit_table(frame, Options(target="label", max_epochs=1, progress=False), say=_quiet)
    scores = run.metrics["scores"]
    assert list(scores)[:2] == ["mlp + logistic regression (bce loss)", "logistic regression (C 1)"]
    test_p, test_y = p[-600:], frame["label"].to_numpy()[-600:] == "yes"
    truth = -np.mean(np.where(test_y, np.log(test_p), np.log(1 - test_p)))   # log-loss of the true probabilities
    assert scores["logistic regression (C 1)"]["log_loss"] == pytest.approx(truth, abs=0.01)


def test_comparisons_are_said_as_better_or_worse():
    rows = {"mlp + logistic regression (bce loss)": {"accuracy": 0.492, "log_loss": 0.6939, "roc_auc": 0.51},
            "logistic regression (C 1)": {"accuracy": 0.476, "log_loss": 0.6959, "roc_auc": 0.50},
            "training majority class": {"accuracy": 0.504, "log_loss": 0.6932, "roc_auc": 0.5}}
    assert in_words(rows) == [
        "against logistic regression (C 1): accuracy 0.492 vs 0.476 (1.6 points higher: better), log-loss 0.6939 vs "
        "0.6959 (0.3% lower: better)",
        "against training majority class: accuracy 0.492 vs 0.504 (1.2 points lower: worse), log-loss 0.6939 vs "
        "0.6932 (0.1% higher: worse)"]
    numbers = {"mlp": {"rmse": 54.0, "mae": 1.0, "r2": 0.5}, "ridge": {"rmse": 60.0, "mae": 1.0, "r2": 0.4},
               "training mean": {"rmse": 54.0, "mae": 2.0, "r2": 0.0}}
    assert in_words(numbers) == ["against ridge: RMSE 54 vs 60 (10% lower: better)",
                                 "against training mean: RMSE 54 vs 54 (the same)"]
    rounding = {"mlp + ridge": {"rmse": 1.13512, "mae": 0.9, "r2": 0.8},
                "ridge": {"rmse": 1.13514, "mae": 0.9, "r2": 0.8}}
    assert in_words(rounding) == ["against ridge: RMSE 1.135 vs 1.135 (the same to the digits shown)"]   # not 0.0%


def test_fit_prints_the_comparison_in_words(tmp_path, capsys):
    data = tmp_path / "sales.csv"
    bakery(120).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "loaves", "--max-epochs", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    said = [line for line in lines if line.startswith("the trained model against")]
    assert [line.split(":")[0] for line in said] == ["the trained model against ridge, closed form (alpha 1)",
                                                     "the trained model against training mean"]
    assert all(line.endswith(("better)", "worse)", "(the same)")) for line in said)


def test_the_model_choice_line_says_which_rows_chose_and_what_was_chosen():
    losses = {"networks": 0.0786, "linear": 0.07659, "blend": 0.07598}
    folds = {"rows": 120, "how": "5-fold, out of fold", "blend": 0.27, "losses": losses}
    assert validation_line(folds) == (
        "model choice on 120 training rows, each scored by the networks that did not learn from it (5-fold, out of "
        "fold): networks weighted 0.27, linear model 0.73 (validation loss: networks 0.0786, linear 0.07659, blend "
        "0.07598)")
    dated = {"rows": 60, "how": "slice", "blend": 1.0, "residual": True,
             "losses": {"networks": 1.213, "linear": 1.281, "blend": 1.213}}
    assert validation_line(dated) == (
        "model choice on 60 validation rows (held out from the networks' training): the linear model plus 1 x the "
        "networks, which learned its residuals (validation loss: with the networks 1.213, linear 1.281, chosen 1.213)")


def test_an_untested_dated_model_shows_its_validation_scores_under_the_choice_lines_names():
    validation = {"rows": 75, "how": "slice", "blend": 0.05, "residual": True,
                  "losses": {"networks": 0.01659, "linear": 0.01649, "blend": 0.01649},
                  "scores": {"blend": {"rmse": 3.279}, "networks": {"rmse": 3.29}, "ridge regression": {"rmse": 3.28}}}
    said = report(SimpleNamespace(metrics={"test_rows": 0, "scores": {}, "validation": validation})).splitlines()
    assert said[1].startswith("not tested: --test-fraction 0 kept no test rows")
    rows = [line.split()[:-1] for line in said[3:]]
    assert rows == [["chosen"], ["linear", "+", "networks"], ["ridge", "regression"]]


def test_split_seed_picks_the_rows_and_seed_does_not():
    frame = bakery(100)
    split = {}
    for seed, split_seed in ((0, 1), (5, 1), (0, 2)):
        lines = []
        prepared = prepare(frame, Options(target="loaves", split="random", seed=seed, split_seed=split_seed),
                           say=lines.append)
        split[seed, split_seed] = prepared.split.test
    assert np.array_equal(split[0, 1], split[5, 1]) and not np.array_equal(split[0, 1], split[0, 2])
    assert [line for line in lines if line.startswith("split:")] == [
        "split: random (--split-seed 2); 68 training, 12 validation rows (early stopping and the blend), 20 test "
        "rows (a random 0.2, used once at the end); then trained again on all 80 training rows"]


def test_permutation_importance_finds_the_column_the_target_depends_on():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=600), "noise": rng.normal(size=600)})
    frame["y"] = 3 * frame["signal"] + rng.normal(0, 0.5, 600)
    run = fit_table(frame, Options(target="y", model="linear", lr=0.05, max_epochs=100, progress=False), say=_quiet)
    model = run.metrics["scores"]["linear + ridge regression (mse loss)"]
    assert model["rmse"] == pytest.approx(0.5, rel=0.1)   # it learned y = 3x
    importance = run.metrics["importance"]
    assert list(importance["columns"]) == ["signal", "noise"]
    # shuffling x (sd 1, weight 3) in y = 3x + e (sd 0.5) lifts RMSE from about 0.5 to sqrt(2 * 9 + 0.25) = 4.27
    assert importance["columns"]["signal"] == pytest.approx(4.27 - 0.5, rel=0.15)
    assert abs(importance["columns"]["noise"]) < 0.05
    assert importance["measure"].startswith("rise in validation RMSE (from ")
    assert importance["measure"].endswith("; the final model was trained again on these rows too (the refit)")


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """A bakery model and one update so wild (lr 3) that it is discarded."""
    folder = tmp_path_factory.mktemp("updated")
    bakery(160).to_csv(folder / "sales.csv", index=False)
    bakery(80, seed=7, start="2024-06-09").to_csv(folder / "new.csv", index=False)
    out = folder / "run"
    assert main(["fit", str(folder / "sales.csv"), "--target", "loaves", "--out", str(out), "--max-epochs", "20"]) == 0
    fitted = pd.read_csv(out / "history.csv")
    assert main(["update", str(out), str(folder / "new.csv"), "--max-epochs", "10", "--lr", "3"]) == 0
    return out, fitted


def test_an_update_continues_the_step_count_and_is_its_own_part(updated):
    out, fitted = updated
    history = pd.read_csv(out / "history.csv")
    assert history["step"].is_monotonic_increasing and history["step"].is_unique
    update = history[history["phase"] == "update 1"]
    assert update["step"].iloc[0] == fitted["step"].iloc[-1] + 1
    jsonl = pd.DataFrame([json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()])
    parts = plots.phases(jsonl)
    assert [name for name, _ in parts] == ["fit", "refit", "update 1"]   # a small dated table is refitted
    assert list(parts[2][1]["step"]) == list(update["step"]) and len(parts[0][1]) + len(parts[1][1]) == len(fitted)


def test_update_findings_are_saved_and_the_doctor_shows_them(updated, capsys):
    out, _ = updated
    record = json.loads((out / "metrics.json").read_text())["updates"][0]
    assert record["kept_previous"] is True
    findings = json.loads((out / "findings.json").read_text())
    assert [f["code"] for f in findings if f["message"].startswith("update 1: ")] == ["non_finite"]
    capsys.readouterr()
    assert main(["doctor", str(out)]) == 0
    assert "update 1: non-finite values (NaN/Inf) at step 3" in capsys.readouterr().out   # lr 3: a blow-up


def test_the_report_shows_the_kept_weights_updates_table_and_importance(updated):
    out, fitted = updated
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    final = re.search(r"<tr><td>final training loss</td><td class=\"num\" data-value=\"([^\"]+)\"", page).group(1)
    assert float(final) == pytest.approx(fitted["loss"].iloc[-1])   # not the discarded update's last loss
    assert "<td>update 1</td><td>discarded: the previous weights were kept</td>" in page
    assert "<h3>updates</h3><table><tr><th>#</th><th>rows</th><th>newest_rows</th><th>before rmse</th>" in page
    assert 'alt="permutation importance"' in page and "<li>against ridge, closed form (alpha 1): RMSE" in page
    assert "{&#x27;rows&#x27;" not in page and "{'rows'" not in page   # no raw dict


def test_class_test_predictions_hold_probabilities_and_the_report_draws_them(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "kind": np.where(x[:, 0] + 0.3 * rng.normal(size=300) > 0,
                                                                       "big", "small")})
    run = fit_table(frame, Options(target="kind", max_epochs=5, progress=False), say=_quiet)
    run.save(tmp_path / "run")
    table = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    assert list(table.columns) == ["row", "actual", "predicted", "p_big", "p_small"]
    assert list(table["row"]) == list(range(241, 301))
    np.testing.assert_allclose(table[["p_big", "p_small"]].sum(axis=1), 1.0, rtol=1e-5)
    assert list(table["predicted"]) == list(np.where(table["p_big"] > table["p_small"], "big", "small"))
    accuracy = float(np.mean(table["actual"] == table["predicted"]))
    assert accuracy == pytest.approx(run.metrics["scores"]["mlp + logistic regression (bce loss)"]["accuracy"])
    assert main(["report", str(tmp_path / "run")]) == 0
    page = (tmp_path / "run" / "report.html").read_text()
    assert page.count('alt="calibration"') == 1 and 'alt="predicted vs actual"' not in page
    assert "share of them it got right" in page


def test_what_fit_warned_about_the_data_is_kept_for_the_report(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(size=200), "shop": ["north", "east"] * 80 + ["south"] * 40})
    frame["y"] = 2 * frame["a"] + rng.normal(0, 1.0, 200)
    frame["total"] = frame["y"].round(1)   # the answer, rounded: a leak; 'a' explains only part of y
    said = []
    run = fit_table(frame, Options(target="y", max_epochs=2, progress=False), say=said.append)
    expected = ["note: 40 of 40 test rows have a 'shop' level that training never saw; the model gives it no effect "
                "of its own"]
    expected += [line for line in said if line.startswith("warning: column 'total'")]
    assert len(expected) == 2 and run.metrics["data_warnings"] == expected
    assert [line for line in said if line.startswith(("note:", "warning:"))] == expected
    run.save(tmp_path / "run")
    assert main(["report", str(tmp_path / "run")]) == 0
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<h3>data warnings</h3><ul><li>note: 40 of 40 test rows have a &#x27;shop&#x27; level" in page


def test_test_predictions_hold_day_first_dates_as_iso_so_the_report_reads_their_order():
    """60 days from 1 February written day first: the last test row, '01/04/2023', read month first is 4 January,
    before every other row. The table holds the dates as training read them, so the residual plot needs no guess."""
    days = pd.date_range("2023-02-01", periods=60, freq="D")
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"day": days.strftime("%d/%m/%Y"), "x": rng.normal(size=60)})
    frame["y"] = 2 * frame["x"] + rng.normal(scale=0.1, size=60)
    run = fit_table(frame, Options(target="y", max_epochs=2, progress=False), say=_quiet)
    table = run.test_predictions
    assert list(table["time"]) == list(days[48:])   # the last 0.2 of the rows, 21 March to 1 April
    lines = table.to_csv(index=False).splitlines()
    assert lines[1].split(",")[1] == "2023-03-21" and lines[-1].split(",")[1] == "2023-04-01"
