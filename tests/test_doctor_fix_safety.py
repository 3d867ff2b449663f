"""Findings whose fix, followed, must not break the run and whose evidence must hold beyond one reading: the
unscaled-inputs fix of a model with embedding tables leaves their id columns alone (standardized ids fall out of
the tables' range), vanishing gradients through time are blamed only where the early steps carry signal, and
loss and metric are read at the weights the model hands back."""
import torch
from torch import nn

import descend as ds
from descend.doctor.curves import measure
from descend.doctor.instruments import Readings
from descend.doctor.outcome_rules import loss_metric_mismatch
from descend.doctor.reference import early_steps_gain, sample
from descend.doctor.rules import lr_too_high

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def deliveries(n: int = 3000, shops: int = 60, seed: int = 0):
    """(shop id, outside temperature in kelvin, distance in metres, weekday id) and a delivery time: a shop's own
    speed, plus the distance's and the weekday's effects and noise. Ids in columns 0 and 3, sizes in 1 and 2."""
    g = torch.Generator().manual_seed(seed)
    shop, day = torch.randint(0, shops, (n,), generator=g), torch.randint(0, 7, (n,), generator=g)
    kelvin, metres = 285 + 8 * torch.randn(n, generator=g), 500 + 9000 * torch.rand(n, generator=g)
    y = torch.randn(shops, generator=g)[shop] + metres / 3000 + 0.3 * (day >= 5) + 0.3 * torch.randn(n, generator=g)
    return torch.stack([shop.float(), kelvin, metres, day.float()], 1), (y - y.mean()) / y.std()


class Delivery(nn.Module):
    """Shop and weekday embeddings beside the two measured columns, into an MLP."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.shop, self.day = nn.Embedding(60, 4), nn.Embedding(7, 2)
        self.mlp = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        ids = x[:, [0, 3]].long()
        return self.mlp(torch.cat([self.shop(ids[:, 0]), self.day(ids[:, 1]), x[:, 1:3]], 1))[:, 0]


def test_the_unscaled_inputs_fix_standardizes_the_sizes_and_leaves_the_embedding_ids_as_they_are():
    x, y = deliveries()
    raw = ds.fit(Delivery(), (x[:2400], y[:2400]), val=(x[2400:], y[2400:]), max_epochs=10, progress=False)
    first = next(f for f in raw.findings if f.severity in WARN)
    assert first.code == "unscaled_inputs" and first.change == {"standardize_inputs": [1, 2]}
    assert "columns 1,2" in first.fix and "id columns 0,3" in first.fix
    sizes = x[:2400, 1:3]
    fixed = x.clone()
    fixed[:, 1:3] = (x[:, 1:3] - sizes.mean(0)) / sizes.std(0)   # the change as ACTIONS describes it
    done = ds.fit(Delivery(), (fixed[:2400], y[:2400]), val=(fixed[2400:], y[2400:]), max_epochs=10, progress=False)
    assert "unscaled_inputs" not in warnings(done)
    assert done.history[-1]["val_loss"] < 0.8 * raw.history[-1]["val_loss"]


def sequences(target: str, n: int = 1600, steps: int = 40, seed: int = 2):
    """(n, steps, 2) noise sequences whose target is the mean of the last eight steps' channel 0 ('late'), the first
    step's channel 1 ('early'), or a sum over every step's channel 0 decaying by 0.9 a step back ('decaying': the
    first quarter holds under 1% of its variance), with a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, 2, generator=g)
    decaying = (x[:, :, 0] * 0.9 ** torch.arange(steps - 1, -1, -1)).sum(1)
    y = {"late": x[:, -8:, 0].mean(1), "early": x[:, 0, 1], "decaying": decaying}[target]
    return x, y + 0.1 * torch.randn(n, generator=g)


def test_only_sequences_whose_early_steps_carry_signal_have_early_steps_that_matter():
    for target, matters in (("late", False), ("early", True), ("decaying", True)):
        x, y = sequences(target)
        data = sample((x[:1200], y[:1200]), (x[1200:], y[1200:]))
        assert early_steps_gain("mse", data) is matters
    flat = sample((x[:1200, :, 0], y[:1200]), (x[1200:, :, 0], y[1200:]))
    assert early_steps_gain("mse", flat) is None   # a table has no steps


def evaluated_run(restored_step: int | None) -> Readings:
    """A class-sorted split's run: validation accuracy 0 at the first and last of 20 evaluations and 1 at step 15,
    the best validation loss; `restored_step`: the step whose weights a stop rule handed back."""
    steps = range(3, 63, 3)
    loss = {s: 0.2 if s == 15 else 1.4 - 0.005 * s for s in steps}
    history = [{"step": s, "loss": 0.5, "val_loss": loss[s], "val_accuracy": float(s == 15)} for s in steps]
    return Readings(history=history, restored_step=restored_step, majority_share=0.4, val_size=36)


def test_loss_and_metric_are_read_at_the_weights_the_model_hands_back():
    last = loss_metric_mismatch(evaluated_run(None))
    assert last is not None and last.evidence["metric_last"] == 0.0 and last.steps == (3, 60)
    assert loss_metric_mismatch(evaluated_run(15)) is None   # step 15's weights score 1.0


def batches(losses: list[float]) -> Readings:
    """Readings of a run whose training batches had these losses, one step each, at lr 1e-3."""
    history = [{"step": i + 1, "loss": v, "lr": 1e-3, "epoch": i // 8} for i, v in enumerate(losses)]
    readings = Readings(history=history)
    readings.curve = measure(history)
    return readings


def test_a_rise_from_one_low_first_batch_within_the_batches_noise_is_no_divergence():
    # a refit's first batch was a low one (0.21), the next 2.37, then batches alternate between about 0.2 and 1.0
    alternating = [0.21, 2.37] + [(1.0 if i % 2 else 0.2) * (1 - 0.003 * i) for i in range(78)]
    assert lr_too_high(batches(alternating)) is None
    g = torch.Generator().manual_seed(0)
    noise = torch.exp(0.5 * torch.randn(80, generator=g)).tolist()   # batches as noisy, on a loss that climbs 1.5x
    climbing = [1.5 ** min(i, 12) * e for i, e in enumerate(noise)]   # a step for 12 steps, then stays up
    found = lr_too_high(batches(climbing))
    assert found is not None and found.evidence["kind"] == "diverged" and found.evidence["rise"] > 50
