"""descend's optimizers against their authors' packages: 200 float64 steps on a small model, side by side.

Each reference is the published package, pinned in constraints.txt and installed by the dev extra. Where the
algorithm is the same the weights must be bit-identical after every step; where docs/optimizers.md lists a
difference, it is switched off on both sides (or by the model, as stated) and parity is checked on the rest.
A failure names the package and its installed and pinned versions: a newer reference that changed its
update shows up here first.
"""
from __future__ import annotations

import importlib.metadata
import pathlib

import lion_pytorch
import prodigyopt
import pytest
import pytorch_optimizer
import schedulefree
import torch
from torch import nn

from descend import optim

STEPS = 200
PINS = dict(line.strip().split("==") for line in
            (pathlib.Path(__file__).parents[1] / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#"))


def data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """A small regression problem and the minibatch indices of every step (32 of 96 rows each)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(96, 6, generator=gen, dtype=torch.float64)
    Y = torch.sin(X @ torch.randn(6, 3, generator=gen, dtype=torch.float64))
    batches = [torch.randperm(96, generator=gen)[:32] for _ in range(STEPS)]
    return X, Y, batches


def model(seed: int = 0) -> nn.Module:
    """6 -> 12 -> 3 with tanh (no exact zero gradients, so eps=0 is safe); float64."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).double()


def groups(net: nn.Module, **per_group) -> list[dict]:
    """Matrices and biases in two groups; `per_group` gives each key's (matrix, bias) values."""
    params = list(net.parameters())
    mats = {"params": [p for p in params if p.ndim >= 2]}
    vecs = {"params": [p for p in params if p.ndim < 2]}
    for key, (for_mats, for_vecs) in per_group.items():
        mats[key], vecs[key] = for_mats, for_vecs
    return [mats, vecs]


def halve_lr_at_100(opt: torch.optim.Optimizer, step: int) -> None:
    """A schedule by hand: half the learning rate from step 100 on (Schedule-Free's averaging must follow it)."""
    if step == 100:
        for group in opt.param_groups:
            group["lr"] /= 2


def trajectory(make, modes: bool = False, steps: int = STEPS, build=model,
               before_step=None) -> list[list[torch.Tensor]]:
    """The weights after every step of `make(build())` on the shared minibatches (x after eval() with `modes`);
    `before_step(optimizer, step)` may change hyperparameters first."""
    X, Y, batches = data()
    net = build()
    opt = make(net)
    if modes:
        opt.train()
    out = []
    for step, idx in enumerate(batches[:steps]):
        if before_step is not None:
            before_step(opt, step)
        opt.zero_grad()
        nn.functional.mse_loss(net(X[idx]), Y[idx]).backward()
        opt.step()
        if modes:
            opt.eval()
        out.append([p.detach().clone() for p in net.parameters()])
        if modes:
            opt.train()
    return out


def first_difference(ours, theirs) -> tuple[int, float] | None:
    """(step, largest difference) at the first step whose weights are not bit-identical, else None."""
    for step, (a, b) in enumerate(zip(ours, theirs), start=1):
        if any(not torch.equal(x, y) for x, y in zip(a, b)):
            return step, max((x - y).abs().max().item() for x, y in zip(a, b))
    return None


def reference_note(package: str) -> str:
    return (f"{package} {importlib.metadata.version(package)} (pinned {PINS.get(package, '?')} in "
            f"constraints.txt): if a newer {package} changed its update, follow it or document the difference "
            f"in docs/optimizers.md")


def assert_identical(ours, theirs, package: str) -> None:
    found = first_difference(ours, theirs)
    assert found is None, (f"descend differs from {reference_note(package)}; first at step {found[0]} "
                           f"(largest difference {found[1]:.3g})")


def assert_close(ours, theirs, package: str, rtol: float) -> None:
    worst = max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(ours[-1], theirs[-1]))
    assert worst <= rtol, f"descend differs from {reference_note(package)} by {worst:.3g} (relative) at step {STEPS}"


def moved(run) -> float:
    """How far the weights travelled: a parity test on a run that barely moves would prove little."""
    return max((a - b).abs().max().item() for a, b in zip(run[-1], model().parameters()))


def test_lion_is_bit_identical_to_lion_pytorch():
    per_group = dict(weight_decay=(0.1, 0.0))
    ours = trajectory(lambda net: optim.Lion(groups(net, **per_group), lr=3e-3, betas=(0.9, 0.99)))
    theirs = trajectory(lambda net: lion_pytorch.Lion(groups(net, **per_group), lr=3e-3, betas=(0.9, 0.99)))
    assert_identical(ours, theirs, "lion-pytorch")
    assert moved(ours) > 0.1


def test_schedule_free_sgd_with_per_group_momentum_and_a_lowered_lr_is_bit_identical_to_schedulefree():
    per_group = dict(momentum=(0.9, 0.5), weight_decay=(0.01, 0.0))   # the authors honour per-group momentum
    make = lambda cls: lambda net: cls(groups(net, **per_group), lr=0.5, warmup_steps=10)
    ours = trajectory(make(optim.ScheduleFreeSGD), modes=True, before_step=halve_lr_at_100)
    theirs = trajectory(make(schedulefree.SGDScheduleFree), modes=True, before_step=halve_lr_at_100)
    assert_identical(ours, theirs, "schedulefree")
    assert moved(ours) > 0.1


@pytest.mark.parametrize("registered,theirs", [("schedule_free_adamw", "AdamWScheduleFree"),
                                               ("schedule_free_adamw_paper", "AdamWScheduleFreePaper")])
def test_schedule_free_adamw_variants_are_bit_identical_to_schedulefree(registered, theirs):
    per_group = dict(weight_decay=(0.05, 0.0), betas=((0.9, 0.999), (0.95, 0.99)))
    make = lambda cls: lambda net: cls(groups(net, **per_group), lr=0.01, warmup_steps=10)
    ours = trajectory(make(optim.entry(registered).factory), modes=True, before_step=halve_lr_at_100)
    theirs = trajectory(make(getattr(schedulefree, theirs)), modes=True, before_step=halve_lr_at_100)
    assert_identical(ours, theirs, "schedulefree")
    assert moved(ours) > 0.1


def test_the_two_schedule_free_adamw_variants_differ_at_a_constant_lr():
    make = lambda name: lambda net: optim.create(net, name, lr=0.01, weight_decay=0.05)
    default, paper = (trajectory(make(name), modes=True, steps=20)
                      for name in ("schedule_free_adamw", "schedule_free_adamw_paper"))
    assert first_difference(default, paper)[0] == 1


def test_prodigy_with_d_coef_and_decay_is_bit_identical_to_prodigyopt():
    settings = dict(weight_decay=0.01, d_coef=0.5, d0=1e-4)
    ours = trajectory(lambda net: optim.create(net, "prodigy", decay_norms_and_biases=True, **settings),
                      before_step=halve_lr_at_100)
    theirs = trajectory(lambda net: prodigyopt.Prodigy(net.parameters(), **settings), before_step=halve_lr_at_100)
    assert_identical(ours, theirs, "prodigyopt")
    assert moved(ours) > 0.1


def test_prodigy_d_coef_scales_the_estimate():
    def final_d(d_coef):
        X, Y, batches = data()
        net = model()
        opt = optim.Prodigy(net.parameters(), d_coef=d_coef)
        for idx in batches[:20]:
            opt.zero_grad()
            nn.functional.mse_loss(net(X[idx]), Y[idx]).backward()
            opt.step()
        return opt.param_groups[0]["d"]
    assert final_d(0.1) < final_d(1.0)


def test_lamb_is_bit_identical_to_pytorch_optimizer_with_the_documented_differences_off():
    """Switched off: bias correction (theirs divides the step by 1 - beta1^t), decay outside the trust ratio
    (theirs, by default), eps in the trust ratio (eps=0 on both sides) and their clamp of ||w|| at 10 (the
    weights stay below it)."""
    per_group = dict(weight_decay=(0.01, 0.0))
    ours = trajectory(lambda net: optim.LAMB(groups(net, **per_group), lr=0.01, eps=0.0, bias_correction=False))
    theirs = trajectory(lambda net: pytorch_optimizer.Lamb(groups(net, **per_group), lr=0.01, eps=0.0,
                                                           weight_decouple=False, adam_debias=True, foreach=False))
    assert_identical(ours, theirs, "pytorch-optimizer")
    assert max(p.norm().item() for step in ours for p in step) < pytorch_optimizer.Lamb.clamp
    assert moved(ours) > 0.1


class _SOAPExactBasis(pytorch_optimizer.SOAP):
    """pytorch-optimizer's SOAP with its one documented difference from descend switched off: the basis is
    refreshed by an exact eigendecomposition (as at its first step) instead of power iteration and QR."""

    def get_orthogonal_matrix_qr(self, state, max_precondition_dim=10000, merge_dims=False):
        return self.get_orthogonal_matrix(state["GG"])


@pytest.mark.parametrize("options", [{}, {"shampoo_beta": 0.9, "max_precond_dim": 8}])
def test_soap_matches_pytorch_optimizer_with_an_exact_basis_to_round_off(options):
    """Matrices and vectors only (theirs preconditions every dimension of a >2-D tensor, descend flattens it).
    Not bit-identical: their moments use lerp and their eigenvectors come in reverse order. max_precond_dim=8
    leaves the 12-long sides unrotated."""
    settings = dict(lr=3e-3, betas=(0.95, 0.95), weight_decay=0.01, precondition_frequency=10)
    theirs_options = {("max_precondition_dim" if k == "max_precond_dim" else k): v for k, v in options.items()}
    ours = trajectory(lambda net: optim.SOAP(net.parameters(), **settings, **options))
    theirs = trajectory(lambda net: _SOAPExactBasis(net.parameters(), **settings, **theirs_options))
    assert_close(ours, theirs, "pytorch-optimizer", rtol=1e-12)   # measured: 4e-15
    assert all(torch.equal(a, b) for a, b in zip(ours[0], theirs[0]))   # both only collect statistics at step 1
    assert moved(ours) > 0.1


def test_lookahead_is_bit_identical_to_pytorch_optimizer():
    make_inner = lambda net: torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    ours = trajectory(lambda net: optim.Lookahead(make_inner(net), k=5, alpha=0.5))
    theirs = trajectory(lambda net: pytorch_optimizer.Lookahead(make_inner(net), k=5, alpha=0.5))
    assert_identical(ours, theirs, "pytorch-optimizer")
    assert moved(ours) > 0.1


@pytest.mark.parametrize("package", ["schedulefree", "prodigyopt", "lion-pytorch", "pytorch-optimizer"])
def test_each_reference_is_pinned_in_constraints_and_in_the_dev_extra(package):
    assert package in PINS, f"pin {package} in constraints.txt"
    pyproject = (pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text()
    dev = pyproject[pyproject.index("dev = ["):]
    assert f'"{package}' in dev[:dev.index("]")], f"add {package} to the dev extra in pyproject.toml"
