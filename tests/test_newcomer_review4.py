"""What a new user met in a fourth review (ISLP and statsmodels tables saved as people save them, models of kinds
not tried before), each fixed and pinned."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

import descend as ds

from descend.apps.tabular.columns import infer_columns
from descend.apps.tabular.preprocess import Preprocessor
from descend.apps.tabular import Options, importance
from descend.apps.tabular.train import prepare
from descend.cli import main
from tabular_data import fitted_with_new_rows
from test_newcomer_review import dynamo_imported_after

QUICK = ["--max-epochs", "3", "--patience", "2"]


def _patients(rows: int, seed: int = 0, start: int = 1) -> pd.DataFrame:
    """A clinic's table as exported: a zero-padded patient number, a grade, a size, the months to predict."""
    rng = np.random.default_rng(seed)
    size = rng.normal(10, 3, rows).round(2)
    return pd.DataFrame({"patient_id": [f"{i:05d}" for i in range(start, start + rows)],
                         "grade": rng.choice(["low", "mid", "high"], rows), "size": size,
                         "months": (40 - 2 * size + rng.normal(0, 3, rows)).round(1)})


@pytest.fixture(scope="module")
def patients_run(tmp_path_factory):
    return fitted_with_new_rows(tmp_path_factory.mktemp("patients"), "patients", _patients(60), "months",
                                _patients(4, seed=1, start=98), QUICK)


def test_predict_writes_an_identifier_with_its_leading_zeros(patients_run, capsys):
    out, new = patients_run
    capsys.readouterr()
    assert main(["predict", str(out), str(new)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["patient_id", "00098", "00099", "00100", "00101"]


def test_a_kept_column_the_model_reads_stays_a_number_and_its_predictions_are_unchanged(patients_run, capsys):
    out, new = patients_run
    capsys.readouterr()
    assert main(["predict", str(out), str(new), "--keep", "size,patient_id"]) == 0
    got = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"patient_id": str})
    assert got["size"].tolist() == _patients(4, seed=1)["size"].tolist()
    assert got["patient_id"].tolist() == ["00098", "00099", "00100", "00101"]
    assert main(["predict", str(out), str(new), "--keep", ""]) == 0
    alone = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert alone["prediction"].tolist() == got["prediction"].tolist()


def test_a_wide_tables_columns_described_alike_share_one_line_with_their_numbers_as_ranges():
    rng = np.random.default_rng(0)
    genes = {f"G{i}": rng.normal(size=60).round(1) for i in range(1, 26)}
    frame = pd.DataFrame({**genes, "sex": rng.choice(["F", "M"], 60), "tumour": rng.choice(["a", "b"], 60)})
    frame.loc[:4, "G2"] = np.nan
    columns, _ = infer_columns(frame, "tumour", [], [], [], None)
    distinct = [frame[f"G{i}"].nunique() for i in range(1, 26)]
    lines = Preprocessor.fit(columns, frame).describe()
    assert lines[:3] == [
        f"G1, G2, G3, ..., G25 (25 columns): numeric - numbers, {min(distinct)}-{max(distinct)} distinct values",
        "sex: categorical - text with 2 levels",
        f"G2: has empty cells -> filled with the training median {frame['G2'].median():g}, plus a was-missing flag"]


def test_a_table_of_twenty_input_columns_keeps_one_line_a_column():
    frame = pd.DataFrame({f"x{i}": np.arange(30.0) * i for i in range(1, 21)} | {"y": np.arange(30.0)})
    columns, _ = infer_columns(frame, "y", [], [], [], None)
    lines = Preprocessor.fit(columns, frame).describe()
    assert lines[:20] == [f"x{i}: numeric - numbers, 30 distinct values" for i in range(1, 21)]


def test_permutation_importance_scores_many_shuffles_a_pass_as_one_at_a_time_would(monkeypatch):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({f"g{i}": rng.normal(size=120) for i in range(6)} | {"kind": rng.choice(["a", "b"], 120)})
    frame["y"] = 2 * frame["g0"] - frame["g3"] + (frame["kind"] == "a") + rng.normal(0, 0.3, 120)
    prepared = prepare(frame, Options(target="y", max_epochs=2, progress=False), say=lambda line: None)
    run, pre, x = prepared.run, prepared.run.preprocessor, prepared.x[:40]
    truth = frame["y"].to_numpy()[:40]
    monkeypatch.setattr(importance, "BATCH_ROWS", 100)   # 2 shuffled copies of the 40 rows a pass
    found = importance.permutation_importance(run, pre, x, truth, seed=5)["columns"]
    generator, base, expected = torch.Generator().manual_seed(5), _rmse(run, x, truth), {}
    for name, places in pre.feature_positions().items():   # the definition: one shuffled copy at a time
        rises = []
        for _ in range(importance.REPEATS):
            shuffled = x.clone()
            shuffled[:, places] = x[torch.randperm(40, generator=generator)][:, places]
            rises.append(_rmse(run, shuffled, truth) - base)
        expected[name] = sum(rises) / importance.REPEATS
    assert list(found) == sorted(expected, key=lambda name: -expected[name])
    assert found == pytest.approx(expected, abs=1e-6)


def _rmse(run, x, truth) -> float:
    return float(np.sqrt(np.mean((run.outputs(x) - truth) ** 2)))


def _sorted_by_class() -> pd.DataFrame:
    """A table saved sorted by its class, as Khan's gene table is: the last, smallest class fills the last rows."""
    rng = np.random.default_rng(0)
    labels = np.repeat(["RMS", "BL", "NB", "EWS"], [24, 24, 24, 8])
    return pd.DataFrame({"g1": rng.normal(size=len(labels)) + (labels == "BL"), "g2": rng.normal(size=len(labels)),
                         "tumour": labels})


def test_a_class_only_the_test_rows_hold_is_said_with_the_sorted_file_as_its_likely_cause():
    lines = []
    prepared = prepare(_sorted_by_class(), Options(target="tumour", max_epochs=1, progress=False), say=lines.append)
    note = ("note: class 'EWS' is in 8 of 16 test rows and in no training row: the model cannot predict it; the rows "
            "may be sorted by 'tumour': --split random draws the test rows at random")
    assert note in lines and note in prepared.warnings
    shuffled = prepare(_sorted_by_class(), Options(target="tumour", split="random", max_epochs=1, progress=False),
                       say=lines.append)
    assert not [line for line in shuffled.warnings if "no training row" in line]


class _Parts(torch.utils.data.Dataset):
    """Rows served as ({"age": ..., "dose": ...}, target): a model with two named inputs."""

    def __init__(self, age: torch.Tensor, dose: torch.Tensor, y: torch.Tensor) -> None:
        self.age, self.dose, self.y = age, dose, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return {"age": self.age[i], "dose": self.dose[i]}, self.y[i]


class _TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.age, self.dose = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(2, 1)

    def forward(self, parts: dict) -> torch.Tensor:
        return (self.age(parts["age"]) + self.dose(parts["dose"])).squeeze(1)


def _parts(rows: int, seed: int) -> _Parts:
    generator = torch.Generator().manual_seed(seed)
    age, dose = torch.randn(rows, 1, generator=generator), torch.randn(rows, 2, generator=generator)
    return _Parts(age, dose, 2 * age[:, 0] - dose[:, 0] + 0.5 * dose[:, 1] + 1)


def test_a_model_taking_a_dict_of_inputs_trains_and_validates_with_the_doctor_quiet():
    result = ds.fit(_TwoInputs(), _parts(200, 0), loss="mse", val=_parts(50, 1), optimizer="adamw", lr=0.05,
                    max_epochs=40, progress=False, seed=0)
    assert result.best["val_loss"] < 1e-3   # the exact linear map, learned through both inputs
    assert torch.allclose(result.model.dose.weight, torch.tensor([[-1.0, 0.5]]), atol=0.01)
    assert [f.code for f in result.findings if f.code == "doctor_error"] == []


def test_a_dict_input_holding_nan_is_named_by_its_key():
    data = _parts(40, 0)
    data.dose[3, 1] = float("nan")
    with pytest.raises(ValueError) as caught:
        ds.fit(_TwoInputs(), data, loss="mse", max_epochs=1, progress=False)
    assert str(caught.value) == ("train inputs (first batch)['dose'] contains NaN at row 3, column 1 (1 non-finite "
                                 "values in all); drop or impute those rows before training")


def test_a_model_returning_a_tuple_trains_on_a_loss_of_its_own_without_a_doctor_error():
    class WithAux(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)

        def forward(self, x):
            return self.layer(x).squeeze(1), x.abs().mean()

    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    result = ds.fit(WithAux(), (x, y), loss=lambda out, t: torch.nn.functional.mse_loss(out[0], t),
                    optimizer="lbfgs", batch_size=300, progress=False)
    assert result.history[-1]["loss"] < 1e-8
    assert [f.code for f in result.findings if f.code == "doctor_error"] == []


def test_accuracy_stuck_below_the_majority_share_is_said_against_that_share_not_called_equal_to_it():
    from descend.doctor.instruments import Readings
    from descend.doctor.outcome_rules import loss_metric_mismatch

    history = [{"step": s, "loss": 1.0, "val_loss": v, "val_accuracy": 0.25} for s, v in
               [(3, 1.063), (6, 0.95), (9, 0.8341)]]
    found = loss_metric_mismatch(Readings(history=history, val_size=8, majority_share=0.7917))
    assert found.message == ("loss and metric disagree: validation loss fell from 1.063 to 0.8341 but val_accuracy "
                             "went from 0.25 to 0.25, no better than always predicting the most common training "
                             "class (0.792)")


def test_metrics_asked_for_without_validation_data_are_said_to_be_never_computed():
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    with pytest.warns(UserWarning) as caught:
        result = ds.fit(torch.nn.Linear(3, 2), (x, y), loss="cross_entropy", metrics=["accuracy"], max_epochs=1,
                        progress=False)
    assert [str(w.message) for w in caught] == [
        "metrics accuracy are computed on validation data and there is none, so no record will hold them; pass "
        "val=(X_val, y_val)"]
    assert not any("accuracy" in key for record in result.history for key in record)


@pytest.mark.parametrize("name, value, says", [
    ("constraints", [{"type": "ineq", "fun": lambda x: x[0]}],
     "constraints=: minimize takes one constraint= set, projected onto at every step (linear equalities A x = b are "
     "Affine(A, b), inequalities A x <= b LinearInequality(A, b), a budget Simplex(total), several together "
     "Intersection(...); see descend.constraints), not scipy's constraints= list of {'type': ..., 'fun': ...}; a "
     "nonlinear one is best built into x: minimize over a free z and form x from it inside fun (x = z / z.norm() keeps "
     "||x|| = 1, x = z.exp() keeps x > 0), then form x from the result's z the same way; a penalty added to fun holds "
     "a constraint only approximately"),
    ("jac", lambda x: 2 * x, "jac=: minimize takes gradients from autograd, so it has no jac=: write fun with torch "
                             "operations on the tensor x it is given"),
    ("args", (1.0,), "args=: minimize passes fun only x: bind the other arguments, minimize(lambda x: fun(x, *args), "
                     "x0)"),
    ("tol", 1e-8, "tol=: minimize has no tol=: give gtol= (largest gradient component) or ftol= (relative change of "
                  "f)"),
    ("gtoll", 1e-8, "minimize() got an unexpected keyword argument 'gtoll'"),
])
def test_scipy_only_arguments_are_refused_saying_what_minimize_takes_instead(name, value, says):
    with pytest.raises(TypeError) as caught:
        ds.minimize(lambda x: ((x - 1) ** 2).sum(), np.zeros(2), **{name: value})
    assert str(caught.value) == says


def test_a_fun_written_with_numpy_is_refused_naming_what_to_write_instead():
    with pytest.raises(TypeError) as caught:
        ds.minimize(lambda x: float(np.sum((np.asarray(x) - 3) ** 2)), np.zeros(3))
    assert str(caught.value) == (
        "fun at x0 turned x into a numpy array (np.asarray, np.sum, .numpy()), where autograd cannot follow it to a "
        "gradient: write fun with torch operations on the tensor x it is given (torch.sum, torch.exp, x ** 2, x @ A)")


def test_a_tune_result_prints_its_best_trial_and_how_the_trials_ended(tmp_path):
    def objective(params):
        return (params["x"] - 1.5) ** 2 + params["n"]

    result = ds.tune(objective, {"x": (-5.0, 5.0), "n": (0, 3)}, 5, seed=1, progress=False, out=tmp_path / "t")
    settings = f"x {result.best_params['x']:.3g}, n {result.best_params['n']}"
    assert str(result) == repr(result) == "\n".join([
        "TuneResult",
        f"  best: value {result.best_value:.4g} at trial {result.best_trial} ({settings})",   # its own number
        "  trials: 5 (5 complete)",
        "  files: " + ", ".join(str(tmp_path / "t" / name) for name in
                               ("best.json", "trials.csv", "history.png", "importance.png")),
        "  (.best_params, .best_value; .trials: one row per trial, .table() best first; .study: Optuna's)"])


def test_a_flag_offered_for_a_column_whose_name_has_a_space_is_quoted_for_the_shell():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"Unnamed: 0": np.arange(50), "unit price": rng.random(50), "y": rng.random(50)})
    _, notes = infer_columns(frame, "y", [], [], [], None)
    assert notes == ["Unnamed: 0: whole numbers, a different one in each of the 50 rows, look like an identifier: left "
                     "out (--numeric 'Unnamed: 0' to keep it)"]


def _weighted_quadratic(x):
    return ((x - torch.tensor([1.0, -2.0, 3.0], dtype=x.dtype)) ** 2 * torch.tensor([1.0, 10.0, 100.0],
                                                                                     dtype=x.dtype)).sum()


def test_minimize_with_adam_takes_torchs_adam_steps_without_importing_torch_dynamo():
    assert not dynamo_imported_after("ds.minimize(lambda x: ((x - 1) ** 2).sum(), [0.0, 0.0], method='adam', "
                                     "max_steps=5)")
    found = ds.minimize(_weighted_quadratic, [0.0, 0.0, 0.0], method="adam", lr=0.05, max_steps=300)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    adam = torch.optim.Adam([x], lr=0.05)
    for _ in range(300):
        adam.zero_grad()
        _weighted_quadratic(x).backward()
        adam.step()
    assert np.array_equal(found.x, x.detach().numpy())


def test_predict_names_the_columns_training_never_had(patients_run, capsys, tmp_path):
    out, new = patients_run
    extra = tmp_path / "extra.csv"
    pd.read_csv(new, dtype=str).assign(hospital="St Mary", ward="B").to_csv(extra, index=False)
    capsys.readouterr()
    assert main(["predict", str(out), str(extra)]) == 0
    assert capsys.readouterr().err == (f"note: {extra}: 2 column(s) the training file did not have, which the model "
                                       "cannot use: hospital, ward\n")
    assert main(["predict", str(out), str(new)]) == 0
    assert capsys.readouterr().err == ""


def test_the_report_draws_and_lists_a_wide_tables_thirty_most_important_columns_and_sums_up_the_rest():
    import base64
    import re
    import struct

    from descend.runs.report import _importance
    rises = {f"V{i}": round(1.0 - i / 100, 2) for i in range(1, 2309)}
    page = _importance({"measure": "rise in validation log-loss (from 0.1363) when the column is shuffled",
                        "columns": rises})
    assert page.count("<tr>") == 1 + 30   # the header and the 30 largest
    assert "<td>V30</td>" in page and "<td>V31</td>" not in page
    assert ("longer bars: the model leans on that column more. The 30 largest of 2308 columns; the other 2278 rise "
            "between -22.08 and 0.69 (metrics.json has every column).</figcaption>") in page
    png = base64.b64decode(re.search(r"base64,([^\"]+)", page).group(1))
    width, height = struct.unpack(">II", png[16:24])
    assert height < 1200   # 30 bars, not 2308 (about 16,000 pixels)
