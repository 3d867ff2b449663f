"""Issue 14's twelfth pass: the loop stops calling a callback whose work is over (LoopState.retire: a callback that
retires is told of no later step, the others go on as before, and auto's lr sweep retires once its pick has been
watched); the doctor's rules read the history's finite losses, norms and lrs from one pass per column
(Readings.finite), which the loss curve (curves.measure) reads too. The copies without detached views are in
test_overhead_paths.py. The thirteenth pass's fixed per-run pieces: the sweep sums its snapshots' bytes once, the
doctor sorts the target's first rows once, and the references of a numeric target read no class count. The
fourteenth pass's per-step cuts: a float32 step enters no autocast context and calls none of the gradient scaler's
wrappers, and the batch stream draws past a pass's first batch straight from the pass's iterator."""
import torch
from torch import nn

import descend as ds
from descend.core.loop import Callback
from descend.fit.auto import sweep as sweep_lib
from descend.fit import data as data_lib, precision as precision_lib
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


def test_the_sweep_sums_the_weights_bytes_once_for_the_snapshots_of_the_same_tensors(monkeypatch):
    model = _mlp()
    sweep = sweep_lib.Sweep(model, torch.optim.SGD(model.parameters(), lr=1.0), "sgd", total_steps=1000)
    sized = []
    size = sweep_lib._size
    monkeypatch.setattr(sweep_lib, "_size", lambda weights: sized.append(len(weights)) or size(weights))
    monkeypatch.setattr(sweep_lib, "SNAPSHOT_MEMORY", 3 * size(model.state_dict()))   # room for three snapshots
    for step in range(1, 8):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        sweep._keep(step)
    assert sized == [len(model.state_dict())]   # once, not at each of the seven steps
    assert [step for step, _ in sweep.kept] == [5, 6, 7]
    torch.testing.assert_close(sweep.kept[-1][1]["0.weight"] - sweep.kept[0][1]["0.weight"],
                               torch.full_like(model[0].weight, 2.0))


def test_the_target_is_sorted_once_for_its_size_and_percentiles_and_reads_as_each_alone():
    from torch.utils._python_dispatch import TorchDispatchMode
    from descend.doctor import inputs

    class Sorts(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Sorts.count += func.overloadpacket.__name__ == "sort"
            return func(*args, **(kwargs or {}))

    g = torch.Generator().manual_seed(3)
    x = torch.randn(900, 4, generator=g)
    for y in (torch.randn(900, 1, generator=g).exp() * 50, torch.randn(900, 3, generator=g) * 7 + 2,
              torch.randn(900, generator=g)):
        alone = (inputs.target_size(y), inputs.target_percentiles(y))
        assert alone[0] is not None and len(alone[1]) == 101 and alone[1] == sorted(alone[1])
        ordered = inputs.ordered_head(y)
        assert (inputs.target_size(y, ordered), inputs.target_percentiles(y, ordered)) == alone
        with Sorts():
            found = inputs.read(x, y, "mse")
        assert (found["target_size"], found["target_percentiles"]) == alone
        assert Sorts.count == (1 if y.dim() == 1 or y.shape[1] == 1 else 2)   # several columns: one more, flat
        Sorts.count = 0
    nan = torch.randn(900, 1, generator=g)
    nan[700] = float("nan")   # past the rows read: both are read
    nan_early = nan.clone()
    nan_early[3] = float("nan")
    assert inputs.target_percentiles(nan) is not None and inputs.target_size(nan) is not None
    assert inputs.ordered_head(nan_early) is None and inputs.target_percentiles(nan_early) is None
    assert inputs.target_size(torch.tensor([0.0, 1.0, 1.0])) is None   # 0/1 labels have no size


def test_the_references_of_a_numeric_target_read_no_class_count():
    from descend.doctor import reference

    g = torch.Generator().manual_seed(4)
    x = torch.randn(300, 5, generator=g)
    numeric = reference.sample((x, x[:, :1] * 3 + torch.randn(300, 1, generator=g)), None)
    classes = reference.sample((x, (x[:, 0] > 0).long() + 2 * (x[:, 1] > 1).long()), None)
    assert reference._classes(numeric, "regression") == 0 and reference._classes(numeric, "binary") == 0
    assert reference._classes(classes, "classes") == 4
    found = reference.references("mse", numeric)
    assert float(found.linear.mean()) < 0.5 * float(found.constant.mean())   # the linear fit finds the signal


def _precision_calls(monkeypatch, precision: str) -> tuple[dict, list[dict]]:
    """How often a 20-step fit in `precision` asks its Precision for a context, a backward and an unscale."""
    calls = {"autocast": 0, "backward": 0, "unscale": 0}
    for name in calls:
        method = getattr(precision_lib.Precision, name)

        def counted(self, *args, method=method, name=name):
            calls[name] += 1
            return method(self, *args)
        monkeypatch.setattr(precision_lib.Precision, name, counted)
    result = ds.fit(_mlp(), _data(), optimizer="adamw", lr=1e-2, batch_size=32, max_steps=20, doctor=False,
                    progress=False, precision=precision)
    return calls, result.history


def test_a_float32_step_enters_no_autocast_context_and_no_scaler_wrapper_where_bf16_does(monkeypatch):
    calls, history = _precision_calls(monkeypatch, "fp32")
    assert calls == {"autocast": 0, "backward": 0, "unscale": 0}
    assert len(history) == 20 and history[-1]["loss"] < 0.5 * history[0]["loss"]
    calls, history = _precision_calls(monkeypatch, "bf16")
    assert calls["autocast"] >= 20   # one a step (the preflight's batches aside)
    assert len(history) == 20 and history[-1]["loss"] < 0.5 * history[0]["loss"]


def test_the_stream_asks_pull_only_for_a_pass_first_batch_and_draws_the_same_rows(monkeypatch):
    X = torch.arange(100.0).reshape(50, 2)
    batches = lambda: data_lib.TensorBatches([X, X[:, 0]], 16, True, torch.Generator().manual_seed(3))  # noqa: E731
    source = batches()
    expected = [batch for _ in range(3) for batch in source][:10]
    pulls = []
    pull = data_lib.BatchStream._pull
    monkeypatch.setattr(data_lib.BatchStream, "_pull", lambda self: pulls.append(self.position) or pull(self))
    stream = data_lib.BatchStream(batches(), torch.device("cpu"))
    drawn = [stream.next() for _ in range(10)]   # four batches a pass: two passes and two batches of a third
    assert pulls == [0, 0, 0] and stream.epoch == 2
    assert all(torch.equal(a, b) for got, want in zip(drawn, expected) for a, b in zip(got, want))
    assert sorted(int(i) for got in drawn[:4] for i in got[1]) == list(range(0, 100, 2))   # one pass: every row
