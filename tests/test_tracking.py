"""Experiment trackers: what TensorBoard's and MLflow's own readers find after a fit is the run's history,
settings, findings and final model; a missing package or a bad --log value is one clear line."""
from __future__ import annotations

import contextlib
import io
import json
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import descend as ds
from descend.apps.tracking import MLflow, TensorBoard
from descend.cli import main
from descend.core.errors import DescendError
from tabular_data import bakery


def problem(n=256, seed=0):
    """A linear target with one input column 10^4 times wider than the others: the doctor finds unscaled_inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g) * torch.tensor([1e4, 1.0, 1.0, 1.0])
    return x, x @ torch.tensor([1e-4, 2.0, -1.0, 0.5]) + 0.1 * torch.randn(n, generator=g)


def fit_with(*callbacks, **settings):
    x, y = problem()
    return ds.fit(torch.nn.Linear(4, 1), (x[:192], y[:192]), val=(x[192:], y[192:]), metrics=["mae"],
                  optimizer="adamw", lr=0.01, max_epochs=4, progress=False, callbacks=list(callbacks), **settings)


def history_series(history, key):
    return [(r["step"], r[key]) for r in history if key in r]


def test_tensorboard_event_files_hold_the_history_settings_findings_and_model(tmp_path):
    board = TensorBoard(tmp_path / "tb")
    result = fit_with(board)
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    for key in ("loss", "lr", "grad_norm", "epoch", "val_loss", "val_mae"):
        expected = history_series(result.history, key)
        read = [(e.step, e.value) for e in events.Scalars(key)]
        assert [s for s, _ in read] == [s for s, _ in expected], key
        np.testing.assert_allclose([v for _, v in read], [v for _, v in expected], rtol=1e-6, err_msg=key)
    assert len(events.Scalars("loss")) == len(result.history) == 12   # 3 batches a epoch, 4 epochs
    assert events.Scalars("best_val_loss")[0].value == pytest.approx(result.best["val_loss"], rel=1e-6)
    start = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
    assert hparams["lr"].number_value == pytest.approx(0.01) and hparams["optimizer"].string_value == "adamw"
    assert hparams["max_epochs"].number_value == 4 and json.loads(hparams["metrics"].string_value) == ["mae"]
    findings = events.Tensors("findings/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "unscaled_inputs" in findings and [f.code for f in result.findings][0] == "unscaled_inputs"
    weights = load_file(tmp_path / "tb" / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in result.model.state_dict().items())
    fit_with(board)   # the same callback again: a run of its own beside the first
    assert list((tmp_path / "tb" / "fit-2").glob("events.out.tfevents.*")) and board.folder.name == "fit-2"


@pytest.fixture
def file_store(tmp_path, monkeypatch):
    """A local MLflow file store (MLflow 3 asks for this variable before it opens one)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


def test_mlflow_run_holds_params_metrics_findings_and_the_model(file_store, tmp_path):
    from mlflow.tracking import MlflowClient
    tracker = MLflow(file_store, experiment="bakery", run_name="first")
    result = fit_with(tracker)
    client = MlflowClient(tracking_uri=file_store)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "first"
    assert client.get_experiment(run.info.experiment_id).name == "bakery"
    params = run.data.params
    assert params["optimizer"] == "adamw" and float(params["lr"]) == 0.01 and params["max_epochs"] == "4"
    for key in ("loss", "lr", "grad_norm", "val_loss", "val_mae"):
        logged = sorted((m.step, m.value) for m in client.get_metric_history(tracker.run_id, key))
        expected = history_series(result.history, key)
        assert [s for s, _ in logged] == [s for s, _ in expected], key
        np.testing.assert_allclose([v for _, v in logged], [v for _, v in expected], rtol=1e-12, err_msg=key)
    assert run.data.metrics["best_val_loss"] == pytest.approx(result.best["val_loss"])
    assert run.data.tags["descend.findings"].split(", ")[0] == "unscaled_inputs"
    assert run.data.tags["descend.stop_reason"] == result.stop_reason
    folder = client.download_artifacts(tracker.run_id, "", str(tmp_path / "artifacts"))
    saved = json.loads((tmp_path / "artifacts" / "findings.json").read_text())
    assert [f["code"] for f in saved] == [f.code for f in result.findings] and folder
    weights = load_file(tmp_path / "artifacts" / "model" / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in result.model.state_dict().items())


class StopWithError(ds.loop.Callback):
    def on_step_end(self, state, record):
        if state.step == 5:
            raise RuntimeError("the power went out")


def test_an_mlflow_run_cut_short_is_failed_with_the_steps_it_took(file_store):
    from mlflow.tracking import MlflowClient
    tracker = MLflow(file_store)
    with pytest.raises(RuntimeError, match="power"):
        fit_with(tracker, StopWithError())
    client = MlflowClient(tracking_uri=file_store)
    assert client.get_run(tracker.run_id).info.status == "FAILED"
    assert [m.step for m in client.get_metric_history(tracker.run_id, "loss")] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("module, tracker, extra", [("mlflow", MLflow, "mlflow"),
                                                    ("torch.utils.tensorboard", TensorBoard, "tensorboard")])
def test_a_missing_tracker_package_is_one_clear_message(monkeypatch, module, tracker, extra):
    monkeypatch.setitem(sys.modules, module, None)   # what Python does when the import fails
    with pytest.raises(DescendError, match=rf"needs the {extra} package.*pip install 'descend\[{extra}\]'"):
        tracker("somewhere")


def _cli(argv):
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


def test_descend_fit_log_writes_the_first_run_and_the_refit_to_tensorboard(tmp_path):
    bakery(120).to_csv(tmp_path / "sales.csv", index=False)
    code, err = _cli(["fit", str(tmp_path / "sales.csv"), "--target", "loaves", "--max-epochs", "2",
                      "--log", f"tensorboard:{tmp_path / 'tb'}", "--out", str(tmp_path / "run")])
    assert code == 0, err
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert len(events.Scalars("loss")) > 0 and (tmp_path / "tb" / "model.safetensors").is_file()
    assert (tmp_path / "tb" / "fit-2" / "model.safetensors").is_file()   # the refit on every training row


@pytest.mark.parametrize("value, words", [("wandb:x", "TRACKER one of tensorboard, mlflow"),
                                          ("tensorboard", "TRACKER:WHERE"), ("mlflow:", "TRACKER:WHERE")])
def test_a_bad_log_value_is_one_line(tmp_path, value, words):
    bakery(40).to_csv(tmp_path / "sales.csv", index=False)
    code, err = _cli(["fit", str(tmp_path / "sales.csv"), "--target", "loaves", "--log", value])
    assert code == 2 and err.count("\n") == 1 and words in err and "--log" in err


def test_descend_fit_refuses_a_missing_tracker_package_before_writing_anything(tmp_path, monkeypatch):
    bakery(40).to_csv(tmp_path / "sales.csv", index=False)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    code, err = _cli(["fit", str(tmp_path / "sales.csv"), "--target", "loaves", "--log", "mlflow:sqlite:///m.db",
                      "--out", str(tmp_path / "run")])
    assert code == 2 and err.count("\n") == 1 and "pip install 'descend[mlflow]'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sales.csv"]
