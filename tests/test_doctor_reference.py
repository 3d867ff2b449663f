"""The doctor's references on class targets whose compared rows hold a class the fitting rows lack (a split made
after sorting by label): the references cannot predict that class, but they still give their readings."""
import math

import torch
from torch import nn

import descend as ds
from descend.doctor.reference import Sample, constant_reference, references


def _blobs(rows: int, classes: int, seed: int, apart: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of `classes` Gaussian blobs in 6 columns, sorted by label, their centres `apart` standard deviations
    from the origin in each column."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(rows // classes)
    centres = apart * torch.randn(classes, 6, generator=g, dtype=torch.float64)
    return centres[y] + torch.randn(len(y), 6, generator=g, dtype=torch.float64), y


def _sorted_split() -> Sample:
    """300 rows of classes 0-2 to fit on; 200 to compare on, 50 of class 3 (id above every fitting class)."""
    x, y = _blobs(400, 4, seed=3)
    keep = y < 3
    x_eval = torch.cat([x[keep][1::2][:150], x[~keep][:50]])
    y_eval = torch.cat([y[keep][1::2][:150], y[~keep][:50]])
    return Sample(x[keep][::2], y[keep][::2], x_eval, y_eval, True, x_eval.float())


def test_a_compared_class_above_every_fitting_class_costs_the_constant_its_floor_and_keeps_the_references():
    data = _sorted_split()
    assert int(data.y.max()) == 2 and int(data.y_eval.max()) == 3
    refs = references("cross_entropy", data)
    assert refs is not None and refs.linear is not None and refs.features is not None
    unseen = data.y_eval == 3
    # the constant gives each fitting class its share (a third) and the unseen one the floor, 1e-12
    assert torch.allclose(refs.constant[~unseen], torch.full((150,), math.log(3), dtype=torch.float64))
    assert torch.allclose(refs.constant[unseen], torch.full((50,), -math.log(1e-12), dtype=torch.float64))
    assert torch.equal(constant_reference("cross_entropy", data), refs.constant)
    # the linear models separate the seen blobs well and cannot name the unseen class
    for reference in (refs.linear, refs.features):
        assert bool(torch.isfinite(reference).all())
        assert float(reference[~unseen].mean()) < 0.2 * math.log(3)
        assert float(reference[unseen].mean()) > math.log(4)


def test_a_class_only_in_the_last_fifth_of_the_fitting_rows_does_not_break_the_ridge_pick():
    """The ridge strength is picked on the last fifth of the fitting rows fitted on the rest: with rows sorted by
    label the rest lack the top class (once an IndexError, Target 3 is out of bounds)."""
    x, y = _blobs(400, 4, seed=5)
    data = Sample(x[:301], y[:301], x[301:], y[301:], True, x[301:].float())
    assert int(y[:240].max()) == 2 and int(y[240:301].max()) == 3
    refs = references("cross_entropy", data)
    assert refs is not None and bool(torch.isfinite(refs.linear).all())


def test_a_run_validated_on_an_unseen_class_keeps_the_readings_that_need_references():
    x, y = _blobs(800, 4, seed=7, apart=1.0)
    train = (x[:601].float(), y[:601])   # classes 0-2 and one row of 3, sorted: the last fitting rows hold it
    val = (x[601:].float(), y[601:])     # class 3 only: the model, trained on one row of it, misses it
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 4))
    result = ds.fit(model, train, loss="cross_entropy", val=val, max_epochs=10, seed=0, progress=False)
    codes = [f.code for f in result.findings]
    assert result.history[-1]["val_loss"] > math.log(4)
    assert codes == ["validation_unlike_training"]   # not_converged and underfitting ran (once an IndexError each)
