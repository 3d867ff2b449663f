"""auto's watch over its pick: an lr that silences a ReLU network (one constant output for every input) is caught
in the first steps at the pick and the run goes back to the restart point with a lower lr."""
import json

import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import descend as ds
from descend.core.modes import Modules
from descend.fit.auto import collapse
from descend.runs import plots
from test_auto import Crash


def digit_pixels():
    """8x8 digits as 64 values in [0, 1]; each image is its own target (an autoencoder's data)."""
    x = torch.tensor(load_digits().data / 16, dtype=torch.float32)
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))]
    return x[:1347], x[1347:]


def autoencoder():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 32), nn.ReLU(),
                         nn.Linear(32, 64))


def constant_loss(train, val) -> float:
    """The validation MSE of the best constant prediction (the training pixels' means)."""
    return float(((val - train.mean(0)) ** 2).mean())


@pytest.mark.slow
def test_an_autoencoder_whose_pick_kills_its_relus_trains_below_the_constant_prediction():
    """The sweep's valley on this autoencoder ends at the constant prediction (its bottom is a network whose units
    went silent), and AdamW's fresh moments at the picked 0.063 silence every unit of the first layer within six
    steps. Before the watch, validation sat at the constant's loss for the whole run."""
    train, val = digit_pixels()
    model = autoencoder()
    result = ds.fit(model, (train, train), val=(val, val), max_epochs=10, seed=0, progress=False)
    choice = result.choice
    assert choice.observed["collapses"] == 1 and "silenced the network" in choice.reason
    assert choice.lr == pytest.approx(0.063 * 10 ** -0.6, rel=0.05) and choice.probe_steps > choice.observed["sweep_steps"]
    with torch.no_grad():
        held_out = float(((model(val) - val) ** 2).mean())
    assert held_out < 0.75 * constant_loss(train, val), (held_out, constant_loss(train, val))
    assert result.lr == choice.lr
    restarted = [(r["step"], r["restarted_from"]) for r in result.history if "restarted_from" in r]
    assert restarted == [(choice.probe_steps + 1, choice.observed["kept_step"])]   # the first step after it
    assert plots.restarts(pd.DataFrame(result.history)) == restarted   # the report's loss plot marks it


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", [29, 42])   # watching the pick (its restart point is in the checkpoint), after
def test_a_collapse_and_its_restart_are_the_same_for_a_seed_and_after_a_resume(tmp_path, crash_at):
    train, val = digit_pixels()
    settings = dict(val=(val, val), max_steps=100, seed=0, progress=False, checkpoint_every=4)
    reference = ds.fit(autoencoder(), (train, train), **settings)
    again = ds.fit(autoencoder(), (train, train), **settings)
    assert reference.choice.observed["collapses"] == 1
    assert again.history == reference.history and again.choice.to_dict() == reference.choice.to_dict()
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        ds.fit(autoencoder(), (train, train), run_dir=str(run_dir), callbacks=[Crash(crash_at)], **settings)
    resumed = ds.fit(autoencoder(), (train, train), run_dir=str(run_dir), resume=True, **settings)
    assert resumed.history == reference.history
    assert resumed.choice.to_dict() == reference.choice.to_dict()
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(),
                                                 reference.model.state_dict().values()))
    assert json.loads((run_dir / "config.json").read_text())["auto"] == reference.choice.to_dict()


def test_reading_the_model_changes_no_batch_statistic_mode_or_random_draw():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2)).train()
    model[3].eval()   # a user's own choice of mode survives
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    reading = collapse.read(Modules.of(model), torch.randn(8, 3, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [m.training for m in model] == [True, True, True, False]
    assert reading.spread > 0 and reading.silent == 0.0   # no ReLU layer


def test_a_constant_output_or_a_silent_relu_layer_is_a_collapse_and_a_trained_model_is_not():
    model = nn.Sequential(nn.Linear(3, 40), nn.ReLU(), nn.Linear(40, 2))
    probe = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    alive = collapse.read(Modules.of(model), probe)
    assert 0 < alive.silent < 0.5 and alive.spread > 0
    with torch.no_grad():
        model[0].bias[:37] = -100.0   # 37 of 40 units silent for every input, 3 left: the output still varies
    narrowed = collapse.read(Modules.of(model), probe)
    assert narrowed.silent >= 37 / 40 and narrowed.spread > 0
    assert "ReLU layer" in collapse.collapsed(narrowed, alive)
    with torch.no_grad():
        model[0].bias.fill_(-100.0)   # every unit silent
    dead = collapse.read(Modules.of(model), probe)
    assert dead.spread == 0.0 and "one constant" in collapse.collapsed(dead, alive)
    assert collapse.collapsed(collapse.Reading(alive.spread / 10, alive.silent), alive) is None
    assert collapse.collapsed(dead, dead) is None   # silent at the restart point already: not this lr's doing
    pair = Modules.of(Pair())
    assert collapse.read(pair, probe) == collapse.Reading(None, 0.0)   # an output that is not one tensor


class Pair(nn.Module):
    def forward(self, x):
        return x, x


def test_units_of_a_convolution_are_its_channels():
    out = torch.zeros(5, 8, 3, 3)
    out[2, 1, 0, 2] = 1.0   # channel 1 fires once, at one position of one row
    assert collapse.silent_share(out) == 7 / 8
    assert collapse.silent_share(torch.zeros(5, 3)) == 0.0   # too narrow to read


def test_the_probe_is_the_first_batch_of_tensors_and_a_stream_is_not_read():
    x = torch.arange(20.0).reshape(10, 2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x), batch_size=4, shuffle=True)
    assert torch.equal(collapse.probe_inputs(loader, torch.device("cpu")), x[:4])

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            raise AssertionError("the probe iterated the stream")
    assert collapse.probe_inputs(torch.utils.data.DataLoader(Stream(), batch_size=4), torch.device("cpu")) is None


def test_the_model_is_read_at_powers_of_two_steps_after_the_pick():
    assert [n for n in range(100) if collapse.check_due(n)] == [2 ** k for k in range(collapse.CHECKS)]
