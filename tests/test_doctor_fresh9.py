"""What the ninth fresh set (benchmarks/doctor_fresh9.py) taught the doctor, each on a variant no list stages, with
a healthy twin that must stay silent: the label written into one step of a sequence, a second target column in
millimetres beside a standardized one, and a model that mixes rows read before the data's own lack of signal."""
import torch
from torch import nn

import descend as ds
from descend.doctor.diagnose import fold
from descend.doctor.findings import Finding
from descend.doctor.inputs import position_leak

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def sequences(labelled: bool, n: int = 900, steps: int = 10, seed: int = 0):
    """(n, steps, 2) sequences of three classes (the class shifts channel 0's level, with noise); `labelled` writes
    the class id into channel 1 of the last step, as a pipeline that appends the label to the sequence does."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, steps, 2, generator=g)
    x[:, :, 0] += 0.3 * y[:, None]
    if labelled:
        x[:, -1, 1] = y.float()
    return x, y


def sequence_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3))


def fit_sequences(labelled: bool):
    x, y = sequences(labelled)
    return ds.fit(sequence_model(), (x[:700], y[:700]), val=(x[700:], y[700:]), loss="cross_entropy",
                  max_epochs=8, progress=False)


def test_a_label_written_into_a_sequence_step_is_a_target_leak_naming_its_position():
    result = fit_sequences(labelled=True)
    first = result.findings[0]
    assert warnings(result)[0] == "target_leak" and first.evidence["position"] == [9, 1]
    assert "[9, 1]" in first.message and not first.change   # no column to drop from a sequence
    assert "target_leak" not in warnings(fit_sequences(labelled=False))


def test_position_leak_reads_only_one_value_per_class_and_only_beyond_tables():
    x, y = sequences(labelled=True)
    assert position_leak(x, y)["separates_classes"] == 3
    clean, labels = sequences(labelled=False)
    assert position_leak(clean, labels) is None
    assert position_leak(x.reshape(len(x), -1), y) is None   # a table: the column readings cover it
    assert position_leak(x, y.float()) is None               # a numeric target has no classes to stamp


def two_targets(millimetres: bool, n: int = 1200, seed: int = 1):
    """Six inputs and two targets: a standardized score, and a length (about 5,000 mm, spread 800) unless
    standardized too."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    score = x[:, 0] - 0.7 * x[:, 1] + 0.3 * torch.randn(n, generator=g)
    length = 5000 + 800 * (x[:, 2] + 0.5 * x[:, 3]) + 100 * torch.randn(n, generator=g)
    y = torch.stack([(score - score.mean()) / score.std(), length], 1)
    if not millimetres:
        y = (y - y.mean(0)) / y.std(0)
    return x, y


def fit_two_targets(millimetres: bool):
    x, y = two_targets(millimetres)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 2))
    return ds.fit(model, (x[:900], y[:900]), val=(x[900:], y[900:]), max_epochs=10, progress=False)


def test_a_column_left_unfitted_beside_one_in_millimetres_is_an_unscaled_target():
    result = fit_two_targets(millimetres=True)
    found = next(f for f in result.findings if f.code == "unscaled_target")
    assert found.severity == "warning" and found.change == {"standardize_target": True}
    assert found.evidence["column"] == 0 and found.evidence["model"] > 2 * found.evidence["linear"]
    assert "unscaled_target" not in warnings(fit_two_targets(millimetres=False))


def test_no_signal_folds_into_a_model_that_mixes_rows_and_stays_on_its_own():
    mixing = Finding("batch_mixing", "warning", None, {"change": 0.4}, "rows mix within a batch")
    nothing = Finding("no_signal", "warning", None, {}, "no signal")
    folded = fold([nothing, mixing])
    assert [f.code for f in folded] == ["batch_mixing"] and folded[0].evidence["explains"] == ["no_signal"]
    assert [f.code for f in fold([nothing])] == ["no_signal"]
