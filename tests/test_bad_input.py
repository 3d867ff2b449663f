"""Mistakes a user can make get a ValueError naming what and where, before any training starts."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import descend as ds
from descend.core.errors import DescendTypeError
from descend.fit import losses


def _xy(n=32):
    return torch.randn(n, 4), torch.randn(n)


class _Counting(nn.Linear):
    calls = 0

    def forward(self, x):
        type(self).calls += 1
        return super().forward(x)


def test_unknown_loss_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown loss 'l2'; valid losses: bce, cross_entropy, huber, mae, mse, poisson$"):
        ds.fit(nn.Linear(4, 1), _xy(), loss="l2", progress=False)


def test_unknown_optimizer_lists_available_ones():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamm'; available: .*adamw"):
        ds.fit(nn.Linear(4, 1), _xy(), optimizer="adamm", progress=False)


def test_unknown_hyperparameter_is_named():
    with pytest.raises(ValueError, match="optimizer 'sgd' has no hyperparameter 'betas'"):
        ds.optim.create(nn.Linear(2, 2), "sgd", lr=0.1, betas=(0.9, 0.99))


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": -0.1}, "lr must be >= 0, got -0.1"),
    ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"max_epochs": -2}, "max_epochs must be a positive integer"),
    ({"grad_clip": -1.0}, "grad_clip norm must be > 0"),
    ({"init": "lecun"}, "unknown init scheme 'lecun'"),
    ({"metrics": ["f1"]}, "unknown metric 'f1'"),
])
def test_bad_settings_fail_before_training(kwargs, match):
    _Counting.calls = 0
    with pytest.raises(ValueError, match=match):
        ds.fit(_Counting(4, 1), _xy(), progress=False, **kwargs)
    assert _Counting.calls <= 1  # at most the one preflight forward pass, no training step


def test_betas_out_of_range_are_named():
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\)"):
        ds.optim.create(nn.Linear(2, 2), "adam", betas=(0.9, 1.0))


def test_shapes_that_cannot_match():
    X, y = torch.randn(32, 4), torch.randn(32, 3)
    with pytest.raises(ValueError, match=r"model output has shape \(32, 1\) but the target has shape \(32, 3\)"):
        ds.fit(nn.Linear(4, 1), (X, y), loss="mse", progress=False)


def test_model_that_cannot_take_the_inputs():
    with pytest.raises(ValueError, match=r"the model cannot take the train inputs of shape \(8, 4\)"):
        ds.fit(nn.Linear(5, 1), _xy(8), progress=False)


def test_class_index_out_of_range_for_cross_entropy():
    X, y = torch.randn(16, 4), torch.tensor([0, 1, 2, 3] * 4)
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\].*from 0 to 3"):
        ds.fit(nn.Linear(4, 3), (X, y), loss="cross_entropy", progress=False)


def test_empty_dataset():
    with pytest.raises(ValueError, match="train data is empty"):
        ds.fit(nn.Linear(4, 1), (torch.zeros(0, 4), torch.zeros(0)), progress=False)
    with pytest.raises(ValueError, match="train data is empty"):
        ds.fit(nn.Linear(4, 1), TensorDataset(torch.zeros(0, 4), torch.zeros(0)), progress=False)


def test_rows_that_disagree():
    with pytest.raises(ValueError, match=r"different numbers of rows: \(10, 4\), \(9,\)"):
        ds.fit(nn.Linear(4, 1), (torch.randn(10, 4), torch.randn(9)), progress=False)


@pytest.mark.parametrize("bad,kind", [(float("nan"), "NaN"), (float("inf"), "Inf")])
def test_non_finite_inputs_are_located(bad, kind):
    X, y = _xy()
    X[12, 2] = bad
    with pytest.raises(ValueError, match=f"train inputs contains {kind} at row 12, column 2"):
        ds.fit(nn.Linear(4, 1), (X, y), progress=False)
    X, y = _xy()
    y[3] = bad
    with pytest.raises(ValueError, match=f"val targets contains {kind} at row 3"):
        ds.fit(nn.Linear(4, 1), _xy(), val=(X, y), progress=False)


def test_not_a_model_or_not_data():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        ds.fit(lambda x: x, _xy(), progress=False)
    with pytest.raises(TypeError, match="train data must be a Dataset, a DataLoader or a tuple"):
        ds.fit(nn.Linear(4, 1), torch.randn(10, 4), progress=False)


@pytest.mark.parametrize("optimizer,schedule,match", [
    ("adamw", {"momentum": 0.5}, r"schedule for 'momentum': optimizer 'adamw' has no such hyperparameter; it can "
                                 r"schedule beta1, beta2, eps, lr, weight_decay$"),
    ("adamw", {"lrr": 0.5}, "schedule for 'lrr': optimizer 'adamw' has no such hyperparameter"),
    ("sgd", {"beta1": 0.9}, r"schedule for 'beta1': optimizer 'sgd' has no such hyperparameter; .*momentum"),
    ("schedule_free_adamw", {"k": 1.0}, r"schedule for 'k': .* it can schedule beta1, beta2, eps, lr, warmup_steps, "
                                        r"weight_decay$"),   # k is the averaging's own count, not a setting
    ("prodigy", {"d": 1.0}, "schedule for 'd': optimizer 'prodigy' has no such hyperparameter"),
    ("lion", {"grad_clip": 1.0}, "schedule for 'grad_clip'"),      # read once from the defaults
])
def test_schedule_keys_the_optimizer_lacks_are_refused_before_training(optimizer, schedule, match):
    _Counting.calls = 0
    with pytest.raises(ValueError, match=match):
        ds.fit(_Counting(4, 1), _xy(), optimizer=optimizer, schedule={k: ds.schedules.constant(v)
                                                                      for k, v in schedule.items()}, progress=False)
    assert _Counting.calls == 0  # refused before even the preflight batch


def test_schedule_keys_are_checked_against_an_optimizer_instance():
    model = _Counting(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"schedule for 'beta2': SGD has no such hyperparameter"):
        ds.fit(model, _xy(), optimizer=opt, schedule={"beta2": ds.schedules.constant(0.9)}, progress=False)


@pytest.mark.parametrize("device,match", [
    ("gpu", r"device 'gpu' is not a device name torch knows .*available here: cpu"),
    ("cuda:99", r"device 'cuda:99' is not available on this machine .*sees cpu"),
])
def test_devices_that_do_not_exist_here_are_named(device, match):
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        match = match.split(" .*")[0]  # other devices are listed too
    with pytest.raises(ValueError, match=match):
        ds.fit(nn.Linear(4, 1), _xy(), device=device, progress=False)


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": float("nan")}, "lr must be a finite number, got nan"),
    ({"lr": "0.1"}, r"lr must be a number, 'auto' \(lr_find\) or None"),
    ({"progress": 0}, "progress must be True .* or a positive number of steps between lines, got 0"),
    ({"eval_every": 0}, "eval_every must be a positive integer, got 0"),
    ({"optimizer": None}, r"optimizer must be a name \(see descend.optim.available\(\)\) or a torch.optim.Optimizer"),
    ({"loss": 5}, r"loss must be a name \(bce, .*\) or a callable"),
])
def test_more_bad_settings_fail_before_training(kwargs, match):
    _Counting.calls = 0
    with pytest.raises((ValueError, TypeError), match=match):
        ds.fit(_Counting(4, 1), _xy(), **{"progress": False, **kwargs})
    assert _Counting.calls == 0


def test_class_labels_of_shape_n_by_1_get_a_fix():
    X, y = torch.randn(16, 4), torch.randint(0, 3, (16, 1))
    with pytest.raises(ValueError, match=r"class labels of shape \(16, 1\); pass them as shape \(16,\), "
                                         r"e.g. y.squeeze\(-1\) or y.view\(-1\)"):
        ds.fit(nn.Linear(4, 3), (X, y), loss="cross_entropy", progress=False)


def test_a_sequence_models_classes_last_get_a_fix_and_classes_on_dim_1_train():
    class Tagger(nn.Module):   # (N, T) token ids -> (N, T, 3) class scores, as sequence models write them
        def __init__(self):
            super().__init__()
            self.embed, self.head = nn.Embedding(20, 8), nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.embed(x))
    x = torch.randint(0, 20, (64, 12))
    y = x % 3
    with pytest.raises(ValueError, match=r"cross_entropy takes the classes on dim 1, as torch does: output "
                                         r"\(32, 12, 3\) with class targets \(32, 12\) has them last; return "
                                         r"output.movedim\(-1, 1\) from the model's forward \(shape \(32, 3, 12\)\)"):
        ds.fit(Tagger(), (x, y), loss="cross_entropy", batch_size=32, progress=False)
    with pytest.raises(ValueError, match=r"class targets for output \(4, 3, 12\) \(N, classes, ...\) must have "
                                         r"shape \(4, 12\); got \(4, 5\)"):
        losses.get("cross_entropy")(torch.randn(4, 3, 12), torch.zeros(4, 5, dtype=torch.long))
    out = torch.randn(4, 3, 12)
    assert torch.equal(losses.get("cross_entropy")(out, y[:4]), nn.functional.cross_entropy(out, y[:4]))


def test_fractional_float_class_labels_are_refused_and_whole_ones_accepted():
    X = torch.randn(16, 4)
    y = torch.tensor([0.0, 1.0, 2.0, 1.0] * 4)
    y[6] = 2.7
    with pytest.raises(ValueError, match=r"class targets must be whole numbers, but row 6 holds 2.7 "
                                         r"\(1 fractional in all\)"):
        ds.fit(nn.Linear(4, 3), (X, y), loss="cross_entropy", progress=False)
    out = torch.randn(4, 3)
    floats, ints = torch.tensor([0.0, 2.0, 1.0, 2.0]), torch.tensor([0, 2, 1, 2])
    assert torch.equal(losses.get("cross_entropy")(out, floats), nn.functional.cross_entropy(out, ints))


@pytest.mark.parametrize("X,dtype", [
    (np.random.default_rng(0).integers(0, 5, (32, 4)), "torch.int64"),
    (torch.randn(32, 4, dtype=torch.float64), "torch.float64"),
])
def test_inputs_of_another_dtype_than_the_model_say_how_to_convert(X, dtype):
    with pytest.raises(ValueError, match=rf"the train inputs are {dtype} but the model's weights are torch.float32: "
                                         r"convert the inputs \(X.float\(\) for a tensor, X.astype\('float32'\) "
                                         r"for an array\)"):
        ds.fit(nn.Linear(4, 1), (X, np.zeros(32)), progress=False)


def test_a_refused_run_leaves_no_run_directory_and_an_untouched_model(tmp_path):
    for kwargs in ({"optimizer": "adamm"}, {"lr": -1.0}, {"schedule": {"lrr": ds.schedules.constant(1.0)}},
                   {"stop": ["patience"]}, {"stop": [ds.stop.Patience(3, monitor="val_loss")]}, {"device": "gpu"},
                   {"batch_size": 0}, {"metrics": ["f1"]}):
        model = nn.Linear(4, 1)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        run_dir = tmp_path / "run"
        with pytest.raises(ValueError):
            ds.fit(model, _xy(), init="orthogonal", run_dir=str(run_dir), progress=False, **kwargs)
        assert not run_dir.exists()
        for name, value in model.state_dict().items():
            assert torch.equal(value, before[name]), name  # not re-initialized before the refusal


def test_a_callback_that_is_not_a_callback_is_refused_before_anything_is_made(tmp_path):
    with pytest.raises(TypeError, match="callbacks must be descend.loop.Callback objects"):
        ds.fit(nn.Linear(4, 1), _xy(), callbacks=[lambda state, record: None], run_dir=tmp_path / "run",
               progress=False)
    assert not (tmp_path / "run").exists()


def test_rows_a_sampler_leaves_out_are_not_checked_as_the_first_batch():
    from torch.utils.data import DataLoader, SubsetRandomSampler
    x, y = _xy(64)
    x[:10] = float("nan")                       # never drawn: the sampler trains on rows 10..63 only
    sampled = DataLoader(TensorDataset(x, y), batch_size=8,
                         sampler=SubsetRandomSampler(range(10, 64), generator=torch.Generator().manual_seed(0)))
    result = ds.fit(nn.Linear(4, 1), sampled, max_steps=3, progress=False, doctor=False)
    assert len(result.history) == 3 and all(np.isfinite(r["loss"]) for r in result.history)
    with pytest.raises(ValueError, match="contains NaN at row 0"):       # a loader over every row is checked
        ds.fit(nn.Linear(4, 1), DataLoader(TensorDataset(x, y), batch_size=8), max_steps=3, progress=False)


def test_a_metric_whose_shapes_cannot_match_is_named_as_the_metric():
    x = torch.randn(32, 4)
    y = torch.randint(0, 3, (32,))
    with pytest.raises(ValueError, match=r"must match for this metric"):
        ds.fit(nn.Linear(4, 3), (x, y), loss="cross_entropy", val=(x, y), metrics=["mae"], max_steps=2,
               progress=False)


def test_bce_refuses_labels_outside_0_and_1():
    X = torch.randn(32, 3)
    y = torch.randint(0, 3, (32, 1)).float()   # three classes given to a two-class loss
    with pytest.raises(ds.DescendError, match="bce needs train targets between 0 and 1 .*found 2"):
        ds.fit(nn.Linear(3, 1), (X, y), loss="bce", max_steps=2, progress=False)


class _TupleModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x):
        return self.linear(x), x


def test_a_model_returning_a_tuple_is_told_what_a_named_loss_needs():
    with pytest.raises(DescendTypeError, match="the model returned a tuple, not a tensor; the mse loss"):
        ds.fit(_TupleModel(), _xy(), max_steps=2, progress=False)
    result = ds.fit(_TupleModel(), _xy(), loss=lambda out, y: ((out[0] - y) ** 2).mean(), max_steps=2,
                    progress=False)   # a loss that takes the tuple is the user's choice
    assert len(result.history) == 2


class _Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        for _ in range(3):
            yield torch.randn(8, 3), torch.randn(8, 1)


def test_data_without_a_length_warns_that_max_epochs_may_never_stop_it():
    loader = torch.utils.data.DataLoader(_Stream(), batch_size=None)
    with pytest.warns(UserWarning, match="no length .*max_epochs never stops an endless stream; pass max_steps"):
        result = ds.fit(nn.Linear(3, 1), loader, max_epochs=1, progress=False)
    assert result.stop_reason == "reached the epoch limit (1 epoch)"


def test_minimize_says_a_flat_function_gives_no_gradient_instead_of_claiming_a_minimum():
    result = ds.minimize(lambda x: torch.floor(x).pow(2).sum() + 10, [3.5, 2.5])
    assert not result.success and result.status == 2 and result.fun == 23.0
    assert "gradient is exactly zero at x0 and fun does not change nearby" in result.message
    at_minimum = ds.minimize(lambda x: (x ** 2).sum(), [0.0, 0.0])   # a true minimum at the start still converges
    assert at_minimum.success and at_minimum.fun == 0.0
