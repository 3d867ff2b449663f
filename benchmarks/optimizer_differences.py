"""The measured effect of every documented difference between descend's optimizers and their authors' packages.

Same problem as tests/test_optim_parity.py (a 6-12-3 tanh MLP, float64, 200 minibatch steps). Each row runs
two optimizers that are identical but for one difference (or one whole variant) and prints how far apart
their weights end (largest difference relative to the largest weight) and the ratio of their final
full-data losses (the first row's optimizer over the second's; < 1: the first ends lower).

    PYTHONPATH=src python benchmarks/optimizer_differences.py
"""
from __future__ import annotations

import importlib.metadata
import pathlib
import sys

import prodigyopt
import pytorch_optimizer
import schedulefree
import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "tests"))
from test_optim_parity import _SOAPExactBasis, data, groups, model, trajectory  # noqa: E402

from descend import optim  # noqa: E402


def conv_model() -> nn.Module:
    """A model with a 3-D weight (Conv1d), for SOAP's handling of >2-D tensors."""
    torch.manual_seed(0)
    layers = [nn.Unflatten(1, (2, 3)), nn.Conv1d(2, 4, 2), nn.Tanh(), nn.Flatten(), nn.Linear(8, 3)]
    return nn.Sequential(*layers).double()


def final_loss(weights: list[torch.Tensor], net: nn.Module) -> float:
    X, Y, _ = data()
    with torch.no_grad():
        for p, w in zip(net.parameters(), weights):
            p.copy_(w)
        return nn.functional.mse_loss(net(X), Y).item()


def compare(first, second, modes: bool = False, build=model) -> tuple[float, float]:
    """(largest weight difference / largest weight, loss ratio first/second) after 200 steps."""
    a, b = trajectory(first, modes, build=build)[-1], trajectory(second, modes, build=build)[-1]
    scale = max(w.abs().max().item() for w in b)
    gap = max((x - y).abs().max().item() for x, y in zip(a, b)) / scale
    net = build()
    return gap, final_loss(a, net) / final_loss(b, net)


def rows():
    decay = dict(weight_decay=(0.01, 0.0))
    lamb_ours = lambda **kw: lambda net: optim.LAMB(groups(net, **decay), lr=0.01, **kw)
    lamb_theirs = lambda **kw: lambda net: pytorch_optimizer.Lamb(groups(net, **decay), lr=0.01, foreach=False, **kw)
    matched = dict(weight_decouple=False, adam_debias=True)
    yield ("LAMB", "bias correction: descend (paper) vs none",
           compare(lamb_ours(eps=0.0), lamb_ours(eps=0.0, bias_correction=False)))
    yield ("LAMB", "pytorch-optimizer's default 1/(1 - beta1^t) on the step vs none",
           compare(lamb_theirs(eps=0.0, weight_decouple=False), lamb_theirs(eps=0.0, **matched)))
    yield ("LAMB", "pytorch-optimizer's decay outside the trust ratio (default) vs inside (descend, paper)",
           compare(lamb_theirs(eps=0.0, adam_debias=True), lamb_theirs(eps=0.0, **matched)))
    yield ("LAMB", "trust ratio ||w||/(||u|| + eps) (pytorch-optimizer) vs ||w||/||u|| (descend), eps=1e-6",
           compare(lamb_theirs(eps=1e-6, **matched), lamb_ours(eps=1e-6, bias_correction=False)))
    yield ("LAMB", "descend defaults vs pytorch-optimizer defaults (all of the above)",
           compare(lamb_ours(), lamb_theirs()))
    sf = lambda cls: lambda net: cls(groups(net, weight_decay=(0.05, 0.0)), lr=0.01, warmup_steps=10)
    yield ("Schedule-Free AdamW", "descend default (schedulefree >= 1.3) vs schedule_free_adamw_paper",
           compare(sf(optim.ScheduleFreeAdamW), sf(optim.ScheduleFreeAdamWPaper), modes=True))
    yield ("Schedule-Free AdamW", "descend default vs schedulefree.AdamWScheduleFree",
           compare(sf(optim.ScheduleFreeAdamW), sf(schedulefree.AdamWScheduleFree), modes=True))
    soap = dict(lr=3e-3, betas=(0.95, 0.95), weight_decay=0.01, precondition_frequency=10)
    yield ("SOAP", "pytorch-optimizer's power iteration + QR refresh vs an exact eigh (descend)",
           compare(lambda net: pytorch_optimizer.SOAP(net.parameters(), **soap),
                   lambda net: _SOAPExactBasis(net.parameters(), **soap)))
    yield ("SOAP", "3-D conv weight: descend flattens to a matrix vs pytorch-optimizer per dimension (exact eigh)",
           compare(lambda net: optim.SOAP(net.parameters(), **soap),
                   lambda net: _SOAPExactBasis(net.parameters(), **soap), build=conv_model))
    yield ("SOAP", "descend defaults vs pytorch-optimizer defaults (the two above)",
           compare(lambda net: optim.SOAP(net.parameters()), lambda net: pytorch_optimizer.SOAP(net.parameters())))
    prodigy = dict(weight_decay=0.01, d0=1e-4)
    yield ("Prodigy", "descend vs prodigyopt, defaults (none: the same operations)",
           compare(lambda net: optim.Prodigy(net.parameters(), **prodigy),
                   lambda net: prodigyopt.Prodigy(net.parameters(), **prodigy)))


def main() -> None:
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in
                         ("torch", "schedulefree", "prodigyopt", "pytorch-optimizer"))
    print(f"{versions}; 200 float64 steps")
    print("| optimizer | difference | weights apart (relative) | final loss ratio |")
    print("|---|---|---|---|")
    for name, what, (gap, ratio) in rows():
        print(f"| {name} | {what} | {gap:.2g} | {ratio:.4f} |")


if __name__ == "__main__":
    main()
