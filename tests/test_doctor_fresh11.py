"""What the eleventh fresh set (benchmarks/doctor_fresh11.py) taught the doctor, each on a variant no list stages,
with a healthy twin that must stay silent: a model whose output head is registered before the blocks it follows
(the module registered last is not the one that makes the output, so its range is checked against the outputs the
model gave), validation labels flipped under a hand-written focal loss (a loss with no known constant, so the
validation curve against the untrained loss is what says the validation rows follow another relation), and a set
model whose attention softmax runs over the batch while no reference beats it (a row's output that moves by half
the outputs' size with its batch is the batch's, whatever the references show)."""
import torch
from torch import nn
from torch.nn import functional as F

import descend as ds

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


class HeadFirst(nn.Module):
    """A Tanh MLP whose linear head is built first (registered before the body), optionally squashed by a tanh."""

    def __init__(self, squash: bool = False):
        super().__init__()
        self.head = nn.Linear(32, 1)
        self.body = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.squash = squash

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(x))
        return torch.tanh(out) if self.squash else out


def wide_target(n: int = 1000):
    """Five columns and a smooth target with a spread of 2: over a third of it lies beyond Tanh's (-1, 1)."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, 5, generator=g)
    y = 2 * torch.sin(x[:, 0]) + x[:, 1] + 0.1 * torch.randn(n, generator=g)
    return x, 2 * (y - y.mean()) / y.std()


def fit_wide(model: nn.Module):
    x, y = wide_target()
    torch.manual_seed(0)
    return ds.fit(model, (x[:800], y[:800]), val=(x[800:], y[800:]), max_epochs=10, progress=False, seed=0)


def test_a_tanh_registered_last_but_not_last_in_forward_is_no_bounded_output():
    torch.manual_seed(0)
    result = fit_wide(HeadFirst())
    assert "loss_target_mismatch" not in warnings(result)
    assert result.history[-1]["val_loss"] < 0.2   # the outputs reach the target beyond (-1, 1)


def test_a_model_that_really_ends_in_tanh_is_still_named():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 1), nn.Tanh())
    assert warnings(fit_wide(model))[0] == "loss_target_mismatch"


def focal(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A hand-written binary focal loss (gamma 2) on one logit per row."""
    bce = F.binary_cross_entropy_with_logits(output.reshape(target.shape), target, reduction="none")
    return ((1 - torch.exp(-bce)) ** 2 * bce).mean()


def fit_focal(flip_validation: bool):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1600, 6, generator=g)
    y = ((x @ torch.tensor([1.0, -1.0, 0.5, 0.0, 0.8, 0.0]) + 0.3 * torch.randn(1600, generator=g)) > 0).float()
    val_y = 1 - y[1200:] if flip_validation else y[1200:]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))
    return ds.fit(model, (x[:1200], y[:1200]), val=(x[1200:], val_y), loss=focal, max_epochs=10, progress=False,
                  seed=0)


def test_validation_labels_flipped_under_a_focal_loss_are_validation_unlike_training():
    result = fit_focal(flip_validation=True)
    assert warnings(result) == ["validation_unlike_training"]   # overfitting is folded into it
    evidence = result.findings[0].evidence
    assert evidence["val_best"] > evidence["untrained_loss"] > 2 * evidence["train_last"]


def test_validation_labelled_like_training_under_a_focal_loss_is_quiet():
    assert warnings(fit_focal(flip_validation=False)) == []


class AttentionPool(nn.Module):
    """Each point embedded and scored; the set pooled under a softmax of the scores over `dim` (1: its points; 0:
    the batch, a slip), scaled back by the set size, then a two-class head."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.embed = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.score = nn.Linear(32, 1)
        self.head = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        return self.head((torch.softmax(self.score(h), self.dim) * h).sum(1) * x.shape[1])


def fit_pooled(dim: int):
    """Sets of 8 points in 3-d, class 1 when three or more lie right of the plane x = 0.3 (a count no linear
    reference on the flattened points reaches, so no reference shows what mixing costs)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1500, 8, 3, generator=g)
    y = ((x[..., 0] > 0.3).sum(1) >= 3).long()
    torch.manual_seed(0)
    return ds.fit(AttentionPool(dim), (x[:1100], y[:1100]), val=(x[1100:], y[1100:]), loss="cross_entropy",
                  max_epochs=10, progress=False, seed=0)


def test_a_set_pooled_over_the_batch_is_batch_mixing_though_no_reference_beats_it():
    result = fit_pooled(dim=0)
    assert warnings(result) == ["batch_mixing"]
    evidence = result.findings[0].evidence
    assert evidence["change"] >= 0.5 and evidence["short_of_reference"] is False


def test_a_set_pooled_over_its_points_is_quiet():
    assert warnings(fit_pooled(dim=1)) == []
