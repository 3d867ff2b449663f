"""A new user's fourteenth review, the library side: a list of rows (dicts or (inputs, target) pairs) passed as fit's
data, keywords other libraries take for a time limit or early stopping, and a schedule written in steps that is
longer than the run."""
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import descend as ds
from descend.core.errors import DescendTypeError

X = torch.randn(96, 4)
Y = torch.randint(0, 3, (96,))


def _fit(train, **settings):
    settings = {"loss": "cross_entropy", "max_epochs": 1, "progress": False, **settings}
    return ds.fit(nn.Linear(4, 3), train, **settings)


def test_a_list_of_row_dicts_is_told_to_stack_its_rows():
    """Each dict was read as a whole column ("train[0]: expected numbers, got an array of dtype object")."""
    rows = [{"x": X[i], "y": Y[i]} for i in range(96)]
    with pytest.raises(DescendTypeError, match=r"a list of 96 dicts \(keys 'x', 'y'\), one per row; .*torch.stack"):
        _fit(rows)


def test_a_list_of_pairs_is_told_to_stack_them_or_load_them_and_the_loader_trains():
    rows = [(X[i], Y[i]) for i in range(96)]
    with pytest.raises(DescendTypeError, match=r"a list of 96 \(inputs, target\) pairs.*DataLoader\(rows"):
        _fit(rows)
    assert _fit(DataLoader(rows, batch_size=32, shuffle=True)).history[-1]["step"] == 3


def test_a_list_of_inputs_and_targets_still_trains():
    """[X, y] and a two-input model's [(X_a, X_b), y] hold columns, not rows."""
    assert _fit([X, Y]).history[-1]["step"] == 2   # 96 rows in batches of 64


@pytest.mark.parametrize("name, rule", [("time_limit", "MaxTime"), ("early_stopping", "Patience"),
                                        ("patience", "Patience")])
def test_a_keyword_for_a_stop_rule_names_the_rule(name, rule):
    """time_limit got "fit takes loss, val, optimizer, ..." (no close name, and no MaxTime among them)."""
    with pytest.raises(DescendTypeError, match=rf"'{name}'; .*stop=\[descend\.stop\.{rule}\("):
        _fit((X, Y), **{name: 5})


def test_a_schedule_longer_than_the_run_warns_where_the_run_ends_on_it():
    """warmup(500) under max_steps=50 trained at a tenth of the lr, silently."""
    with pytest.warns(UserWarning, match=r"spans 500 steps but the run has 50, so the run ends 10% of the way along "
                                         r"it, at 0.098 x the base lr instead of 1 x the base lr.*max_steps=500"):
        result = _fit((X, Y), optimizer="adamw", lr=1e-3, schedule=ds.schedules.warmup(500), max_steps=50,
                      max_epochs=None, batch_size=2)
    assert result.history[-1]["lr"] == pytest.approx(0.098e-3)


def test_a_schedule_that_fits_the_run_or_has_no_end_says_nothing(recwarn):
    for schedule in (ds.schedules.cosine(40), ds.schedules.warmup_cosine(0.1), ds.schedules.step(100)):
        _fit((X, Y), optimizer="adamw", lr=1e-3, schedule=schedule, max_steps=50, max_epochs=None, batch_size=2)
    assert not [w for w in recwarn if "schedule" in str(w.message)]


class _Count(ds.loop.Callback):
    def __init__(self):
        self.steps = 0

    def on_step(self, state, record):
        self.steps += 1


def test_one_callback_is_taken_as_stop_takes_one_rule():
    """callbacks=Count() raised TypeError: 'Count' object is not iterable."""
    count = _Count()
    _fit((X, Y), callbacks=count, max_steps=3, max_epochs=None, batch_size=32)
    assert count.steps == 3


def test_a_callback_class_is_told_to_make_an_instance():
    with pytest.raises(DescendTypeError, match=r"got <class '.*_Count'>; pass an instance, _Count\(\)"):
        _fit((X, Y), callbacks=[_Count])


def test_an_lr_beside_an_optimizer_instance_warns_that_the_instance_keeps_its_own():
    """lr=0.5 with SGD(lr=0.1) trained at 0.1 and said nothing."""
    model = nn.Linear(4, 3)
    with pytest.warns(UserWarning, match=r"lr=0.5 is not used: the optimizer instance keeps its own lr \(0.1\); .*"
                                         r"SGD\(model.parameters\(\), lr=0.5\), .*optimizer='sgd', lr=0.5"):
        result = ds.fit(model, (X, Y), loss="cross_entropy", optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                        lr=0.5, max_epochs=1, progress=False)
    assert result.history[-1]["lr"] == pytest.approx(0.1)


def test_the_lr_and_weight_decay_an_instance_was_built_with_say_nothing(recwarn):
    """descend fit's tables pass their EMA instance with the lr and weight decay it holds (biases undecayed)."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = ds.optim.create(model, "adamw", lr=3e-3, weight_decay=0.05)
    assert sorted(group["weight_decay"] for group in optimizer.param_groups) == [0.0, 0.05]
    ds.fit(model, (X, Y), loss="cross_entropy", optimizer=optimizer, lr=3e-3, weight_decay=0.05, max_epochs=1,
           progress=False)
    assert not [w for w in recwarn if "is not used" in str(w.message)]


@pytest.mark.parametrize("monitor, hint", [("val_acc", r"did you mean val_accuracy\? add metrics=\['accuracy'\]"),
                                           ("val_f1", r"monitor val_loss, or compute it")])
def test_a_monitor_the_evaluation_lacks_names_the_metric_meant(monitor, hint):
    """val_acc got "monitor one of those" with one value to monitor, and no word of val_accuracy."""
    with pytest.raises(ValueError, match=rf"monitors '{monitor}', but the evaluation gives only val_loss; {hint}"):
        _fit((X, Y), val=(X, Y), stop=[ds.stop.Patience(2, monitor=monitor)])


def test_an_elementwise_metric_on_class_labels_names_accuracy_not_the_loss_already_given():
    """metrics=["mae"] under cross_entropy was told to "take loss='cross_entropy'"."""
    with pytest.raises(ValueError, match=r"must match for this metric; class labels 0..2 .* take "
                                         r"metrics=\['accuracy'\] \(mse, rmse and mae compare numbers\)"):
        _fit((X, Y), val=(X, Y), metrics=["mae"])


def test_the_doctor_loads_a_run_directorys_findings(tmp_path):
    """load_findings(run_dir) said "no findings file at <run_dir>; it is written when a run ... ends" of a finished
    run whose findings.json was there."""
    _fit((X, Y), run_dir=str(tmp_path / "run"))
    assert ds.doctor.load_findings(tmp_path / "run") == ds.doctor.load_findings(tmp_path / "run" / "findings.json")
    with pytest.raises(ValueError, match=r"no findings file at .*empty/findings.json; fit writes one into its run_dir"):
        (tmp_path / "empty").mkdir()
        ds.doctor.load_findings(tmp_path / "empty")


def test_validation_targets_of_another_width_are_named_as_the_validation_datas():
    """A (N, 1) validation target for a two-output model got the training check's words with nothing saying which
    data: "model output has shape (256, 2) but the target has shape (256, 1)"."""
    targets = torch.randn(96, 2)
    with pytest.raises(ValueError, match=r"^val data: model output has shape \(96, 2\) but the target has shape "
                                         r"\(96, 1\); .* \(the training data passed the same check\)$"):
        ds.fit(nn.Linear(4, 2), (X, targets), val=(X, targets[:, :1]), max_epochs=1, progress=False)


def test_a_dataframe_with_text_columns_names_them_and_the_encoding():
    frame = pd.DataFrame({"city": ["Oslo", "Rome"] * 48, "rooms": range(96), "kind": pd.Categorical(["a"] * 96)})
    with pytest.raises(TypeError, match=r"columns 'city' \(\w+\), 'kind' \(category\) are not numbers: encode them, "
                                        r"pd.get_dummies"):
        ds.fit(nn.Linear(3, 1), (frame, torch.randn(96)), max_epochs=1, progress=False)
