"""What Jupyter shows (`_repr_html_`) for a FitResult, its findings and a run directory, checked as HTML and as
pixels a real headless browser rendered."""
from __future__ import annotations

import base64
import re
import struct

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch import nn

import browser
import descend as ds
from descend.core.html import SEVERITY_STYLES
from descend.doctor import Finding, Findings
from descend.fit import FitResult
from descend.fit.auto.choice import Choice



def unscaled(n=240):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g) * torch.tensor([1e4, 1.0, 1.0, 1.0])
    return x, x @ torch.tensor([1e-4, 2.0, -1.0, 0.5])


def fitted(**settings):
    x, y = unscaled()
    return ds.fit(nn.Linear(4, 1), (x[:180], y[:180]), val=(x[180:], y[180:]), optimizer="adamw", lr=0.01,
                  max_epochs=8, progress=False, **settings)


def cells(page: str, label: str) -> list[str]:
    row = re.search(rf"<tr><td[^>]*>{re.escape(label)}</td>(.*?)</tr>", page).group(1)
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


def png_size(page: str) -> tuple[int, int]:
    data = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def three_findings() -> Findings:
    return Findings([Finding("non_finite", "error", (7, 7), message="NaN in the <loss> at step 7", fix="lower lr"),
                     Finding("unscaled_inputs", "warning", None, message="column 0 reaches 1e4"),
                     Finding("plateau", "info", (1, 40), message="the loss barely moved")])


def test_a_fit_results_html_holds_its_numbers_its_curve_and_its_findings():
    result = fitted()
    page = result._repr_html_()
    assert cells(page, "steps") == ["24"] and len(result.history) == 24
    assert cells(page, "stopped because") == [result.stop_reason]
    assert float(re.search(r'data-value="([^"]+)"', cells(page, "final training loss")[0] and
                           page[page.index(">final training loss<"):]).group(1)) == result.history[-1]["loss"]
    width, height = png_size(page)
    assert width > 500 and height > 250
    assert "unscaled_inputs" in page and SEVERITY_STYLES["warning"] in page
    assert isinstance(result.findings, Findings) and result.findings == list(result.findings)


def test_a_terminal_prints_a_fit_result_as_its_summary_and_findings_not_its_history():
    history = [{"step": s, "epoch": s // 4, "loss": 1.0 / s, "lr": 0.01} for s in range(1, 9)]
    history[-1]["val_loss"] = 0.2
    result = FitResult(nn.Linear(2, 1), history, dict(history[-1]), "reached the epoch limit (2 epochs)",
                              three_findings()[1:], elapsed=0.123456, lr=0.01, stop_code="max_epochs")
    assert repr(result) == "\n".join([
        "FitResult", "  steps: 8", "  epochs: 2", "  stopped because: reached the epoch limit (2 epochs)",
        "  elapsed (s): 0.123", "  lr: 0.01", "  final training loss: 0.125", "  final validation loss: 0.2",
        "  best step: 8", "  best val_loss: 0.2", "  doctor: 2 finding(s)",   # no batch loss beside validation
        "    [warning] column 0 reaches 1e4 (code unscaled_inputs)",
        "    [info] the loss barely moved (code plateau)",
        "  (.model: Linear; .history: 8 records, one a step; .findings, .choice, .best)"])
    assert str(result.findings) == ("doctor: 2 finding(s)\n  [warning] column 0 reaches 1e4 (code unscaled_inputs)\n"
                                    "  [info] the loss barely moved (code plateau)")


def test_a_summary_names_the_best_loss_without_validation_for_what_it_is_and_line_search_has_no_lr():
    history = [{"step": s, "epoch": 1, "loss": [0.5, 0.2, 0.4][s - 1], "lr": 1.0} for s in range(1, 4)]
    choice = Choice("lbfgs", None, "line search", "a deterministic objective")
    result = FitResult(nn.Linear(2, 1), history, dict(history[1]), "converged", [], lr=1.0, choice=choice)
    rows = dict(result.summary_rows())
    assert rows["lr"] == "none: a line search sets each step's length"
    assert rows["best step"] == 2 and rows["lowest training loss (one step's batch)"] == 0.2
    assert "best loss" not in rows


def test_findings_are_coloured_by_severity_and_escaped():
    page = three_findings()._repr_html_()
    rows = re.findall(r"<tr class='(\w+)' style='([^']*)'>", page)
    assert rows == [(severity, SEVERITY_STYLES[severity]) for severity in ("error", "warning", "info")]
    assert "NaN in the &lt;loss&gt; at step 7" in page and "<td style" in page and ">7-7<" in page
    assert "no problems found" in Findings()._repr_html_()


def test_a_run_directory_shows_its_summary_curve_findings_and_settings(tmp_path):
    result = fitted(run_dir=tmp_path / "run")
    page = ds.runs.read_run(tmp_path / "run")._repr_html_()
    assert cells(page, "steps") == ["24"] and cells(page, "run directory") == [str(tmp_path / "run")]
    assert "unscaled_inputs" in page and png_size(page)[0] > 500
    assert "<details" in page and cells(page, "optimizer") == ["adamw"]
    assert [f.code for f in result.findings] == ["unscaled_inputs"]


@pytest.mark.skipif(browser.find() is None, reason="no Chrome/Chromium on this machine: install it (apt-get install "
                                                   "chromium) or set DESCEND_BROWSER; see tests/browser.py")
def test_the_html_renders_in_a_headless_browser(tmp_path):
    """Chromium draws the fragments as Jupyter would (no stylesheet of ours): the curve's colours and each
    severity's background are on the screenshot. The picture is docs/notebook.png (README)."""
    result = fitted()
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><meta charset='utf-8'><body>" + result._repr_html_()
                    + "<h4>three severities</h4>" + three_findings()._repr_html_() + "</body>")
    shot = tmp_path / "shot.png"
    browser.render(page, shot)
    pixels = (imread(shot)[..., :3] * 255).round().astype(int).reshape(-1, 3)

    def share(hex_colour: str, tolerance: int = 3) -> float:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return float((np.abs(pixels - rgb).max(axis=1) <= tolerance).mean())

    for severity, style in SEVERITY_STYLES.items():
        background = re.search(r"background:(#\w{6})", style).group(1)
        assert share(background) > 0.002, severity   # each row's background fills part of the screen
    # the smoothed training curve and the validation curve (thin lines, scaled: their edges blend into white)
    assert share("#1f77b4", tolerance=30) > 0.0002 and share("#ff7f0e", tolerance=30) > 0.0002
