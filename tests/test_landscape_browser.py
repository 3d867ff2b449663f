"""The landscape page and a report with its landscape section, opened in a real headless browser (Chromium over
the DevTools protocol, see tests/browser.py): every picture decodes at its PNG's size and nothing is fetched.
Skipped, saying why, only where no Chrome/Chromium is installed (`apt-get install chromium`)."""
from __future__ import annotations

import json
import struct

import pytest
import torch

import browser
from descend.apps import landscape as ls

pytestmark = pytest.mark.skipif(browser.find() is None, reason="no Chrome/Chromium on this machine: install it "
                                "(apt-get install chromium) or set DESCEND_BROWSER; see tests/browser.py")


def png_size(path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])   # the IHDR chunk
    return width, height


def check_rendered(page, folder, screenshot):
    facts = browser.render(page, screenshot)
    listed = json.loads((folder / "landscape.json").read_text())["figures"]
    shown = {image["alt"]: image for image in facts["images"]}
    for figure in listed:
        image = shown[figure["title"]]
        assert image["complete"] and (image["width"], image["height"]) == png_size(folder / figure["file"])
        assert image["shown"] > 100                                   # laid out on the page, not collapsed
    assert facts["external"] == []                                    # self-contained: nothing from a network
    assert "Loss landscape" in facts["text"]
    assert screenshot.read_bytes()[:4] == b"\x89PNG"
    return facts


def test_landscape_page_renders_in_a_browser(tmp_path):
    folder = ls.LandscapeFolder(tmp_path / "out")
    valley = lambda x: (1 - x[0]) ** 2 + 10 * (x[1] - x[0] ** 2) ** 2                   # noqa: E731
    runs = [ls.trace(valley, [-1.0, 1.0], "L-BFGS"), ls.trace(valley, [-1.0, 1.0], "gd", method="gd", lr=0.01,
                                                               max_steps=40)]
    ls.draw_runs(valley, runs, folder.picture("runs.png", "Two runs", "L-BFGS and gradient descent"), "a valley",
                 steps=31)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x, y = torch.randn(64, 2), torch.randn(64, 1)
    objective = ls.model_objective(model, torch.nn.functional.mse_loss, x, y)
    w = ls.weights_of(model)
    ls.plot_slice_2d(ls.slice_2d(objective, w, ls.random_directions(w, 2), steps=11),
                     folder.picture("plane.png", "A plane", "around the weights"))
    page = folder.finish({"points": 121}, ["rendered by a test"], {})
    facts = check_rendered(page, folder.out, tmp_path / "page.png")
    assert len(facts["images"]) == 2 and "rendered by a test" in facts["text"]


def test_report_with_landscape_renders_in_a_browser(saved_run, tmp_path):
    import shutil
    from descend.cli import main
    data, original = saved_run
    run = tmp_path / "run"
    shutil.copytree(original, run)
    assert main(["landscape", str(run), str(data), "--steps", "5", "--rows", "60", "--no-progress"]) == 0
    assert main(["report", str(run)]) == 0
    facts = check_rendered(run / "report.html", run / "landscape", tmp_path / "report.png")
    assert len(facts["images"]) > 2                                   # the run's own curves and the landscape's
