"""Issue 14's twelfth pass: the loop stops calling a callback whose work is over (LoopState.retire: a callback that
retires is told of no later step, the others go on as before, and auto's lr sweep retires once its pick has been
watched); the doctor's rules read the history's finite losses, norms and lrs from one pass per column
(Readings.finite), which the loss curve (curves.measure) reads too. The copies without detached views are in
test_overhead_paths.py."""
import torch
from torch import nn

import descend as ds
from descend.core.loop import Callback
from descend.fit.auto import sweep as sweep_lib
from descend.fit.auto.collapse import CHECKS


class _Counting(Callback):
    """Counts what the loop asks and tells it; retires at step `until` (never when None)."""

    def __init__(self, until=None):
        self.until, self.calls = until, {"begin": 0, "step": 0, "step_end": 0, "sync": 0, "end": 0}
        self.steps = []

    def needs_sync(self, state):
        self.calls["sync"] += 1
        return True

    def on_step_begin(self, state):
        self.calls["begin"] += 1

    def on_step(self, state, record):
        self.calls["step"] += 1
        self.steps.append(state.step)

    def on_step_end(self, state, record):
        self.calls["step_end"] += 1
        if state.step == self.until:
            state.retire(self)

    def on_end(self, state):
        self.calls["end"] += 1


def _data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(640, 6, generator=g)
    return X, X @ torch.randn(6, generator=g) + 0.1 * torch.randn(640, generator=g)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))


def test_a_callback_that_retires_is_told_of_no_later_step_and_the_others_of_every_step():
    retiring, staying = _Counting(until=5), _Counting()
    result = ds.fit(_mlp(), _data(), optimizer="adamw", lr=1e-3, batch_size=32, max_steps=40, doctor=False,
                    progress=False, callbacks=[retiring, staying])
    assert len(result.history) == 40
    assert retiring.steps == [1, 2, 3, 4, 5]
    assert retiring.calls == {"begin": 5, "step": 5, "step_end": 5, "sync": 5, "end": 1}
    assert staying.steps == list(range(1, 41))
    assert staying.calls["step_end"] == 40 and staying.calls["end"] == 1


def test_the_lr_sweep_is_told_of_no_step_after_its_pick_has_been_watched(monkeypatch):
    seen = []
    for name in ("on_step", "on_step_end", "needs_sync"):
        original = getattr(sweep_lib.Sweep, name)

        def counted(self, state, *record, _original=original, _name=name):
            seen.append((_name, state.step))
            return _original(self, state, *record)
        monkeypatch.setattr(sweep_lib.Sweep, name, counted)
    result = ds.fit(_mlp(), _data(), loss="mse", batch_size=16, max_epochs=8, progress=False)
    picked = result.choice.observed["sweep_steps"]
    watched = picked + 2 ** (CHECKS - 1)   # the watch's last check
    assert len(result.history) == 320 and watched + 2 < 320
    last = {name: max(step for called, step in seen if called == name) for name, _ in seen}
    assert last["on_step"] == last["on_step_end"] == watched   # told of the last check's step, of none after
    assert watched - 32 < last["needs_sync"] <= watched   # asked up to it (a 32-step window may end on it)


def test_the_finite_column_of_the_history_is_read_once_and_again_when_the_history_changes():
    from descend.doctor.instruments import Readings
    records = [{"step": 1, "loss": 2.0, "grad_norm": 1.0}, {"step": 2, "loss": float("nan"), "grad_norm": 3.0},
               {"step": 3, "loss": 1.5}, {"step": 4, "loss": 1.0, "grad_norm": float("inf")}]
    readings = Readings(history=list(records))
    assert readings.finite("loss") == [(1, 2.0), (3, 1.5), (4, 1.0)]
    assert readings.finite("grad_norm") == [(1, 1.0), (2, 3.0)]
    assert readings.finite("lr") == []
    assert readings.finite("loss") is readings.finite("loss")   # gone through once
    readings.history.append({"step": 5, "loss": 0.5, "grad_norm": 2.0})
    assert readings.finite("grad_norm") == [(1, 1.0), (2, 3.0), (5, 2.0)]
    readings.history = records[2:]   # another history (the diagnosis leaves auto's sweep out so)
    assert readings.finite("loss") == [(3, 1.5), (4, 1.0)]


def test_the_curve_read_from_the_readings_finite_columns_is_the_curve_read_from_the_history():
    from descend.doctor.curves import measure
    from descend.doctor.instruments import Readings
    losses = [10, 5, 2, *[1] * 10, float("nan"), *[20] * 5, 2, 1, 0.5, float("inf"), 0.4, 0.3]   # one rebound
    history = [{"step": i + 1, "loss": float(loss)} for i, loss in enumerate(losses)]
    for step, val in ((5, 3.0), (10, float("nan")), (15, 7.0), (25, 0.6)):
        history[step - 1]["val_loss"] = val
    readings = Readings(history=history)
    curve = measure(history, readings.finite)
    alone = measure(history)
    assert curve.steps == alone.steps and len(curve.steps) == 23   # the NaN and the Inf left out
    assert curve.smoothed == alone.smoothed and curve.swings == alone.swings and len(curve.swings) == 1
    assert [step for step, _, _ in curve.gap] == [5, 15, 25] and curve.gap == alone.gap
    assert readings.finite("loss") is readings.finite("loss")   # kept for the rules that read it next
