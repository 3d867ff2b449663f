"""`descend report` and `descend compare`: pages that embed their pictures and show the run's own numbers."""
import base64
import html
import json
import re
import struct

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import descend as ds
from descend.cli import main
from descend.runs.directory import record_checksums
from descend.runs import plots

IMAGE = re.compile(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def _run(run_dir, lr: float) -> ds.FitResult:
    torch.manual_seed(2)
    X = torch.randn(80, 3)
    y = X @ torch.tensor([[2.0], [-1.0], [0.5]]) + 0.1 * torch.randn(80, 1)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    return ds.fit(model, (X[:60], y[:60]), val=(X[60:], y[60:]), lr=lr, max_steps=30, batch_size=10,
                  schedule=ds.schedules.cosine(), progress=False, run_dir=str(run_dir), checkpoint_every=30)


def _images(page: str) -> dict[str, tuple[int, int]]:
    """alt text -> (width, height) of each embedded PNG, read from its header."""
    found = {}
    for alt, data in IMAGE.findall(page):
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        found[alt] = struct.unpack(">II", png[16:24])
    return found


def _cells(page: str, label: str) -> list[float]:
    row = re.search(rf"<tr><td>{re.escape(html.escape(label))}</td>(.*?)</tr>", page).group(1)
    return [float(v) for v in re.findall(r'data-value="([^"]+)"', row)]


@pytest.fixture
def tabular_run(tmp_path):
    run = tmp_path / "bakery"
    result = _run(run, lr=1e-2)
    metrics = {"test_rows": 20, "scores": {"mlp (mse loss)": {"rmse": 0.3141, "mae": 0.2718, "r2": 0.9123},
                                           "training mean": {"rmse": 2.25, "mae": 1.75, "r2": -0.0123}},
               "validation": {"rows": 12, "how": "slice", "losses": {"networks": 0.11, "linear": 0.25},
                              "scores": {"blend": {"rmse": 0.33, "mae": 0.29, "r2": 0.9},
                                         "ridge regression": {"rmse": 0.5, "mae": 0.41, "r2": 0.77}}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    findings = [{"code": "lr_too_low", "severity": "warning", "message": "loss fell only 3% <in> 30 steps",
                 "fix": "raise lr to 3e-2"}]
    (run / "findings.json").write_text(json.dumps(findings))
    actual = np.linspace(0.0, 10.0, 40)
    pd.DataFrame({"time": pd.date_range("2024-03-01", periods=40, freq="D"), "actual": actual,
                  "predicted": actual + np.sin(actual)}).to_csv(run / "test_predictions.csv", index=False)
    record_checksums(run, ["metrics.json", "findings.json", "test_predictions.csv"])   # as a tool writing them must
    return run, result, metrics


def test_report_embeds_every_picture_and_the_runs_numbers(tabular_run, capsys):
    run, result, metrics = tabular_run
    assert main(["report", str(run)]) == 0
    assert str(run / "report.html") in capsys.readouterr().out
    page = (run / "report.html").read_text()
    images = _images(page)
    assert set(images) == {"loss curves", "learning rate", "gradient norm", "predicted vs actual",
                           "residuals over time"}
    assert all(w > 300 and h > 150 for w, h in images.values())
    for label, scores in metrics["scores"].items():
        assert _cells(page, label) == list(scores.values())
    assert _cells(page, "test_rows") == [20]
    assert _cells(page, "rows") == [12] and _cells(page, "losses linear") == [0.25]
    validation = page[page.index("<h3>validation scores</h3>"):]   # the validation rows' scores read as the test's
    assert validation.startswith("<h3>validation scores</h3><table><tr><th></th><th>rmse</th><th>mae</th><th>r2</th>")
    assert _cells(validation, "blend") == [0.33, 0.29, 0.9]
    assert _cells(validation, "ridge regression") == [0.5, 0.41, 0.77]
    assert "loss fell only 3% &lt;in&gt; 30 steps" in page and "raise lr to 3e-2" in page
    last_val = [r["val_loss"] for r in result.history if "val_loss" in r][-1]
    assert _cells(page, "final validation loss") == [last_val]
    assert _cells(page, "final training loss") == [result.history[-1]["loss"]]
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched


def test_report_of_a_folder_with_history_csv_only(tmp_path):
    folder = tmp_path / "tabular"
    folder.mkdir()
    pd.DataFrame({"step": [1, 2, 3], "epoch": [1, 2, 3], "loss": [4.0, 2.0, 1.0], "lr": [0.1] * 3,
                  "grad_norm": [3.0, 2.0, 1.0]}).to_csv(folder / "history.csv", index=False)
    assert main(["report", str(folder), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert set(_images(page)) == {"loss curves", "learning rate", "gradient norm"}
    assert "No findings recorded" in page and _cells(page, "final training loss") == [1.0]


def test_report_of_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is not a run directory" in err and len(err.strip().splitlines()) == 1


def test_compare_overlays_runs_and_names_what_differs(tmp_path):
    first, second = _run(tmp_path / "fast", lr=1e-2), _run(tmp_path / "slow", lr=1e-3)
    out = tmp_path / "compare.html"
    assert main(["compare", str(tmp_path / "fast"), str(tmp_path / "slow"), "--out", str(out)]) == 0
    page = out.read_text()
    assert set(_images(page)) == {"training loss", "validation loss", "learning rate", "gradient norm"}
    # the resume wording ("in the run ... now") made no sense between two runs: each value names its run
    assert "<li>slow: lr 0.01 in fast, 0.001 in slow</li>" in page
    for name, result in (("fast", first), ("slow", second)):
        best_val = min(r["val_loss"] for r in result.history if "val_loss" in r)
        assert _cells(page, name) == [30, result.history[-1]["loss"], best_val]


def test_smoothing_is_unbiased_from_the_first_point():
    assert np.allclose(plots.smooth(np.full(5, 3.0)), 3.0)
    assert plots.smooth(np.array([1.0, 0.0]))[1] == pytest.approx(0.9 / 1.9)


def test_overlay_scale_follows_the_smoothed_curve_it_draws():
    steps = np.arange(1, 101)
    spiky = pd.DataFrame({"step": steps, "loss": np.where(steps % 2, 1.0, 0.02)})   # raw values span 50x
    falling = pd.DataFrame({"step": steps, "loss": 100.0 * 0.9 ** steps})            # smoothed still spans >1000x
    assert plots.overlay_figure({"a": spiky}, "loss", "t", smoothed=True).axes[0].get_yscale() == "linear"
    assert plots.overlay_figure({"a": spiky}, "loss", "t", smoothed=False).axes[0].get_yscale() == "log"
    assert plots.overlay_figure({"a": spiky, "b": falling}, "loss", "t", smoothed=True).axes[0].get_yscale() == "log"


def test_report_of_a_healthy_run_says_the_doctor_found_nothing(tmp_path, capsys):
    run = tmp_path / "healthy"
    result = _run(run, lr=0.1)   # at lr 1e-2 the 30 steps end far above a linear fit while still falling
    assert result.findings == [] and json.loads((run / "findings.json").read_text()) == []
    assert main(["doctor", str(run)]) == 0
    assert capsys.readouterr().out.strip() == "doctor: no problems found"
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "doctor: no problems found" in page and "No findings recorded" not in page


@pytest.mark.parametrize("command", ["report", "compare"])
def test_out_that_cannot_be_written_is_one_line_naming_it(tmp_path, capsys, monkeypatch, command):
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"step": [1, 2], "epoch": [1, 1], "loss": [2.0, 1.0]}).to_csv(run / "history.csv", index=False)
    runs = [str(run)] if command == "report" else [str(run), str(run)]
    (tmp_path / "a_file").write_text("x")
    cases = {tmp_path: "it is a directory; give a file name such as",
             tmp_path / "nodir" / "r.html": f"the folder {tmp_path / 'nodir'} does not exist",
             tmp_path / "a_file" / "r.html": f"the folder {tmp_path / 'a_file'} does not exist (or is not a folder)"}
    for target, reason in cases.items():
        assert main([command, *runs, "--out", str(target)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f"to {target}: {reason}" in err and ".tmp-" not in err

    # We run the tests as root, for whom chmod does not stop a write; a refused write is simulated instead.
    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path.with_name(f".{path.name}.tmp-1")))

    monkeypatch.setattr("descend.runs.report.write_atomic", refuse)
    assert main([command, *runs, "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"descend: error: cannot write the {'report' if command == 'report' else 'comparison'} "
                           f"to {tmp_path / 'r.html'}: Permission denied; choose a writable path (--out, or out= "
                           "in Python)")


def test_settings_read_as_words_not_as_json():
    from descend.runs.records import setting_text
    wrapped = {"optimizer": "EMA", "defaults": {"lr": 0.003}, "inner": {
        "optimizer": "AdamWFlat", "defaults": {"lr": 0.003, "betas": [0.9, 0.999], "weight_decay": 0.01,
                                               "grad_clip": None}}}
    assert setting_text(wrapped) == ("AdamW (lr 0.003, betas (0.9, 0.999), weight_decay 0.01), its weights averaged "
                                     "(EMA)")
    assert setting_text([{"rule": "Patience", "patience": 15, "monitor": None, "restore_best": True}]) == \
        "Patience (patience 15, restore_best True)"
    assert setting_text({"schedule": "cosine(length=None)", "values": [1.0, 0.5, 0.0]}) == "cosine over the whole run"
    assert setting_text({"schedule": "warmup(length=300)"}) == "warmup over 300 steps"
    assert setting_text({"schedule": "cosine(length=0.5)"}) == "cosine over 0.5 of the run"
    assert setting_text({"optimizer": "Lookahead", "inner": {"optimizer": "SGD"}}) == "Lookahead over SGD"
    assert setting_text(["descend.apps.tabular.members.MemberMetric"]) == "MemberMetric"
    assert setting_text("mse") == "mse"


def test_autos_lr_sweep_is_drawn_apart_from_the_training_curve(monkeypatch):
    sweep = [{"step": s, "loss": 400.0 + s, "lr": 1e-4 * 10 ** (s / 5), "sweep": True} for s in range(1, 26)]
    sweep[-1]["loss"] = 37515.0   # the last sweep step overshot; its weights were undone
    sweep[9]["val_loss"] = 1057.0
    train = [{"step": s, "loss": 100.0 / s, "lr": 0.25} for s in range(26, 60)]
    train[4]["val_loss"] = 250.0
    drawn = []
    monkeypatch.setattr(plots, "_png", lambda fig: drawn.append(fig) or "png")
    assert plots.loss_curves(pd.DataFrame(sweep + train)) == "png"
    lines = {line.get_label(): line for line in drawn[0].axes[0].get_lines()}
    swept_line = lines["lr sweep (auto; steps past its pick undone)"]
    assert list(swept_line.get_xdata()) == list(range(1, 26)) and max(swept_line.get_ydata()) == 37515.0
    smoothed = lines["train (smoothed)"]   # only the steps that trained from the kept weights
    assert list(smoothed.get_xdata()) == list(range(26, 60))
    np.testing.assert_allclose(smoothed.get_ydata(), plots.smooth(np.array([100.0 / s for s in range(26, 60)])))
    assert list(lines["validation"].get_xdata()) == [30]   # the sweep's evaluation is a grey point of its own
