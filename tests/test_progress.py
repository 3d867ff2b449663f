"""What a person sees while fit runs: plain lines in logs, nothing when off, and schedules on any hyperparameter."""
import math
import sys
import types

import pytest
import torch
from torch import nn

import descend as ds
from descend.fit import progress


def _data():
    X = torch.randn(64, 3)
    return X, X.sum(1)


def test_plain_progress_prints_every_n_steps_with_validation(capsys):
    X, y = _data()
    ds.fit(nn.Linear(3, 1), (X, y), val=(X, y), loss="mse", batch_size=16, max_epochs=4, progress=4)
    lines = capsys.readouterr().err.strip().splitlines()
    said = [line for line in lines if line.startswith("auto: adamw, lr ")]   # once the sweep has chosen
    lines = [line for line in lines if line not in said]
    assert len(said) == 1 and len(lines) == 6
    assert lines[0].startswith("step 4/16  epoch 1  loss ") and "val_loss" in lines[0]
    assert lines[-2].startswith("stopped after 16 steps (")
    # with validation data auto's run ends with its best evaluated weights (fit/auto/best.py), and says so
    assert lines[-2].split("): ", 1)[1].startswith("reached the epoch limit (4 epochs); the model holds the weights "
                                                   "of step 12, whose val_loss ")
    assert lines[-1] == ("doctor: no problems found, but 16 steps are too few to judge the learning rate, plateaus "
                         "or overfitting (20 or more are needed)")


def test_progress_off_prints_nothing(capsys):
    X, y = _data()
    ds.fit(nn.Linear(3, 1), (X, y), loss="mse", max_epochs=2, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_schedule_drives_lr_as_multiplier_and_momentum_as_value():
    X, y = _data()
    seen = []

    class Watch(ds.loop.Callback):
        def on_step(self, state, record):
            group = state.optimizer.param_groups[0]
            seen.append((group["lr"], group["momentum"]))

    schedule = {"lr": ds.schedules.linear(1.0, 0.0), "momentum": ds.schedules.linear(0.5, 0.9)}
    ds.fit(nn.Linear(3, 1), (X, y), loss="mse", optimizer="sgd", lr=0.2, batch_size=16, max_steps=5,
           schedule=schedule, callbacks=[Watch()], progress=False)
    assert [round(lr, 10) for lr, _ in seen] == [0.2, 0.16, 0.12, 0.08, 0.04]
    assert [round(m, 10) for _, m in seen] == [0.5, 0.58, 0.66, 0.74, 0.82]


def test_the_rich_bar_on_a_terminal_writes_to_stderr_and_leaves_stdout_clean(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert isinstance(progress.reporter(True)[0], progress.RichProgress)
    X, y = _data()
    ds.fit(nn.Linear(3, 1), (X, y), loss="mse", batch_size=16, max_epochs=2, doctor=False)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "fit" in captured.err and "8/8" in captured.err
    assert "stopped after 8 steps (" in captured.err and "reached the epoch limit (2 epochs)" in captured.err


def test_total_steps_count_accumulated_steps_that_span_epochs(capsys):
    X = torch.randn(100, 3)
    # 10 batches per epoch, 3 per step: 30 batches in 3 epochs take ceil(30 / 3) = 10 steps (the 4th spans epochs)
    result = ds.fit(nn.Linear(3, 1), (X, X.sum(1)), loss="mse", batch_size=10, accumulate=3, max_epochs=3,
                    progress=5, doctor=False)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(result.history) == 10
    assert [line.split("  ")[0] for line in lines[:2]] == ["step 5/10", "step 10/10"]
    X = torch.randn(110, 3)  # 11 batches per epoch: 33 batches, 11 steps
    result = ds.fit(nn.Linear(3, 1), (X, X.sum(1)), loss="mse", batch_size=10, accumulate=3, max_epochs=3,
                    progress=False, doctor=False, schedule=ds.schedules.cosine(end=0.1), lr=0.5)
    lrs = [r["lr"] for r in result.history]
    assert len(lrs) == 11 and [r["epoch"] for r in result.history][-1] == 3
    expected = [0.5 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * k / 11))) for k in range(11)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert lrs[-1] > 0.5 * 0.1  # the last step still runs on the schedule, not past its end
    assert ds.schedules.cosine(end=0.1).bind(11)(11) == pytest.approx(0.1)  # the end value, reached after it


def test_a_run_ended_by_an_error_says_so_in_its_last_line(capsys):
    X, y = _data()
    with pytest.raises(ValueError, match="Patience monitors 'val_rmse'"):
        ds.fit(nn.Linear(3, 1), (X, y), val=(X, y), loss="mse", batch_size=16, max_epochs=3, progress=4,
               doctor=False, stop=[ds.stop.Patience(2, monitor="val_rmse")])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("stopped after 4 steps (") and last.endswith("): ended by an error (DescendError, below)")


class FakeKernel:
    """What a Jupyter kernel provides, as far as the progress bar uses it: IPython's shell (with the kernel app in
    its config) and display(..., display_id=True) returning a handle whose update redraws in place."""

    def __init__(self):
        self.shown: list[str] = []
        self.config = {"IPKernelApp": {}}

    def modules(self) -> dict:
        kernel = self

        class Handle:
            def update(self, obj):
                kernel.shown.append(obj.data)

        def display(obj, display_id=False):
            assert display_id is True   # only a handle can be updated in place
            kernel.shown.append(obj.data)
            return Handle()

        HTML = type("HTML", (), {"__init__": lambda self, data: setattr(self, "data", data)})
        ipython = types.ModuleType("IPython")
        ipython.get_ipython = lambda: kernel
        ipython.display = types.ModuleType("IPython.display")
        ipython.display.display, ipython.display.HTML = display, HTML
        return {"IPython": ipython, "IPython.display": ipython.display}


def test_in_a_notebook_the_bar_is_html_redrawn_in_place(monkeypatch, capsys):
    assert not progress.in_notebook()   # plain Python: no kernel
    kernel = FakeKernel()
    for name, module in kernel.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    assert progress.in_notebook() and isinstance(progress.reporter(True)[0], progress.NotebookProgress)
    X, y = _data()
    ds.fit(nn.Linear(3, 1), (X, y), loss="mse", batch_size=16, max_epochs=2, doctor=False)
    first, last = kernel.shown[0], kernel.shown[-1]
    assert '<progress value="0" max="8"' in first and '<progress value="8" max="8"' in last
    assert "8/8 steps" in last and "stopped after 8 steps" in last and "reached the epoch limit" in last
    assert "stopped after" not in capsys.readouterr().err   # no plain progress lines: the cell shows the bar
    kernel.config = {}   # IPython in a terminal is not a notebook
    assert not progress.in_notebook()
