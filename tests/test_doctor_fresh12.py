"""What the twelfth fresh set (benchmarks/doctor_fresh12.py) taught the doctor, each on a variant no list stages,
with a healthy twin that must stay silent: a convolutional net whose BatchNorm2d keeps no running statistics
(eval mode normalizes by the batch, which a batch and its half barely show and rows served two at a time do), and
RMSprop with eps 1 under a hand-written loss that no reference can judge (the loss still falling when the run ended
is the cost of its slivers of steps)."""
import torch
from torch import nn
from torch.nn import functional as F

import descend as ds
from descend.doctor.probes import batch_mixing

WARN = ("warning", "error")


def warnings(result) -> list[str]:
    return [f.code for f in result.findings if f.severity in WARN]


def stripes(n: int = 1200):
    """8x8 one-channel images of noise with a bright row or a bright column: the class says which."""
    g = torch.Generator().manual_seed(0)
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    where = torch.randint(0, 8, (n,), generator=g)
    for i in range(n):
        if y[i]:
            x[i, 0, :, where[i]] += 1.0
        else:
            x[i, 0, where[i], :] += 1.0
    return x, y


def striped_cnn(running_stats: bool) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8, track_running_stats=running_stats),
                         nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8, 2))


def fit_stripes(running_stats: bool):
    x, y = stripes()
    return ds.fit(striped_cnn(running_stats), (x[:900], y[:900]), val=(x[900:], y[900:]), loss="cross_entropy",
                  max_epochs=4, progress=False, seed=0)


def test_batch_norm2d_without_running_statistics_is_batch_mixing():
    result = fit_stripes(running_stats=False)
    assert warnings(result)[0] == "batch_mixing"
    assert result.findings[0].evidence["change"] >= 0.5
    assert "track_running_stats" in result.findings[0].fix


def test_batch_norm2d_with_running_statistics_is_quiet():
    assert warnings(fit_stripes(running_stats=True)) == []


def test_rows_served_in_pairs_move_far_more_than_a_half_batch_under_batch_statistics():
    x, _ = stripes(256)
    model = striped_cnn(running_stats=False)
    with torch.no_grad():
        half = float((model(x)[128:] - model(x[128:])).abs().max() / model(x).abs().max())
    assert 0 < half < 0.02 and batch_mixing(model, x) > 10 * half
    assert batch_mixing(striped_cnn(running_stats=True), x) is None


def cosine_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One minus the cosine between each output row and its target row (a loss with no known constant)."""
    return (1 - F.cosine_similarity(output, target, dim=1)).mean()


def fit_directions(eps: float):
    """Unit directions a fixed nonlinear map of 6 inputs points to, learnt under RMSprop with `eps`."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1600, 6, generator=g)
    target = torch.stack([torch.sin(x[:, 0] + x[:, 1]), torch.cos(x[:, 2] * x[:, 3]), torch.tanh(x[:, 4] - x[:, 5])],
                         1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 256), nn.Tanh(), nn.Linear(256, 3))
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, eps=eps)
    return ds.fit(model, (x[:1200], target[:1200]), val=(x[1200:], target[1200:]), loss=cosine_loss,
                  optimizer=optimizer, max_epochs=10, progress=False, seed=0)


def test_rmsprop_eps_of_one_under_a_loss_without_reference_is_named_by_its_unfinished_fall():
    result = fit_directions(eps=1.0)
    assert warnings(result)[0] == "optimizer_eps"
    assert "still falling" in result.findings[0].message
    assert result.findings[0].change == {"optimizer_eps": 1e-8}


def test_rmsprop_default_eps_under_the_same_loss_is_quiet():
    assert "optimizer_eps" not in warnings(fit_directions(eps=1e-8))


def test_a_model_whose_outputs_overflowed_to_nan_is_not_called_mixing():
    x, _ = stripes(64)
    model = striped_cnn(running_stats=True)
    with torch.no_grad():
        model[-1].weight.fill_(float("nan"))
    assert batch_mixing(model, x) is None
