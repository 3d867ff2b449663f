"""fit's defaults on a fifth list of models nobody here tuned for, of kinds none of the other four lists has.

The protocol and its scores are fit_held_out.py's (its machinery is reused): fit's defaults against an AdamW + cosine
grid of 9 lrs 1e-4 .. 1 on the same steps and batches and a hand loop at torch's AdamW 1e-3, on test rows (lower is
better). The list was written, and main measured on it, before anyone here read fit's auto code for it. The data are
generated with a fixed seed or ship with scikit-learn or statsmodels; the seed draws the initialization and the
batch order.

The kinds: a physics-informed network whose loss is an ODE's residual (second derivatives through autograd), a
neural ODE (a learned vector field integrated by RK4), a RealNVP normalizing flow (exact likelihood), a SIREN (sine
activations) interpolating a photograph from its coordinates, a mixture of experts under a softmax gate, a Cox
proportional-hazards network (a partial likelihood over each batch's risk sets), a hypernetwork emitting the weights
of a small network per row, and a Poisson count network on a real survey (RAND health insurance experiment).

Besides fit_held_out.py's tables it reruns each seed's run at the grid's best lr with the doctor on and validation
data given, and lists every finding on every run within 5% of the grid's best (a warning there is a false alarm).

    PYTHONPATH=src:. python benchmarks/fit_held_out5.py [--models pinn,cox] [--seeds 3] [--save rows.json |
        --load rows.json]
"""
from __future__ import annotations

import math

import numpy as np
import statsmodels.api as sm
import torch
import torch.nn.functional as F
from sklearn.datasets import load_sample_image, make_moons
from torch import nn

import descend as ds
from benchmarks.fit_held_out import BATCH, GRID, Case, _splits, _standardize, measure, report, steps_of
from benchmarks.fit_held_out import main as held_out_main


class PhysicsInformed(nn.Module):
    """u(t) = 1 + t^2 N(t), an MLP N under tanh, so that u(0) = 1 and u'(0) = 0 hold by construction; the output is
    [u, u', u''], the derivatives taken by autograd in the forward pass (also under no_grad, for evaluation)."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                                 nn.Linear(width, 1))

    def forward(self, t):
        with torch.enable_grad():
            t = t.detach().requires_grad_(True)
            u = 1 + t ** 2 * self.net(t)
            du, = torch.autograd.grad(u.sum(), t, create_graph=True)
            d2u, = torch.autograd.grad(du.sum(), t, create_graph=True)
        return torch.cat([u, du, d2u], dim=1)


DAMPING, STIFFNESS = 0.6, 9.0   # u'' + 0.6 u' + 9 u = 0: a damped oscillator, period about 2.1


def oscillator_residual(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The ODE's residual u'' + c u' + k u against its target (zero): the physics-informed loss."""
    u, du, d2u = output.unbind(dim=1)
    return F.mse_loss(d2u + DAMPING * du + STIFFNESS * u, target)


def solution_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The score: u's squared error against the exact solution."""
    return F.mse_loss(output[:, 0], target)


def pinn_oscillator(seed: int) -> Case:
    """Solve u'' + 0.6 u' + 9 u = 0 with u(0) = 1, u'(0) = 0 on 0 <= t <= 3 from collocation points alone (no
    solution values seen), scored against the exact solution at test points."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 3, (2000, 1))
    decay, freq = DAMPING / 2, math.sqrt(STIFFNESS - DAMPING ** 2 / 4)
    exact = np.exp(-decay * t[:, 0]) * (np.cos(freq * t[:, 0]) + decay / freq * np.sin(freq * t[:, 0]))
    target = np.concatenate([np.zeros(1600), exact[1600:]])   # the residual's zeros; the solution for the test
    torch.manual_seed(seed)
    return Case(PhysicsInformed(), *_splits(t, target, 1200, 400), oscillator_residual, oscillator_residual,
                "test MSE to the exact solution", solution_error)


class NeuralODE(nn.Module):
    """A learned vector field (an MLP under tanh) integrated from the input state by fixed-step RK4; the output is the
    state after every step, flattened."""

    def __init__(self, steps: int = 8, dt: float = 0.5, width: int = 24):
        super().__init__()
        self.steps, self.dt = steps, dt
        self.field = nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                                   nn.Linear(width, 2))

    def forward(self, state):
        outputs, f, h = [], self.field, self.dt
        for _ in range(self.steps):
            k1 = f(state)
            k2 = f(state + h / 2 * k1)
            k3 = f(state + h / 2 * k2)
            state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + f(state + h * k3))
            outputs.append(state)
        return torch.cat(outputs, dim=1)


def _pendulum(state: np.ndarray, horizon: float, dt: float = 0.01) -> np.ndarray:
    """A damped pendulum theta'' = -sin(theta) - 0.2 theta', integrated finely by RK4 up to `horizon`."""
    def field(s):
        return np.stack([s[:, 1], -np.sin(s[:, 0]) - 0.2 * s[:, 1]], axis=1)
    for _ in range(round(horizon / dt)):
        k1 = field(state)
        k2 = field(state + dt / 2 * k1)
        k3 = field(state + dt / 2 * k2)
        state = state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + field(state + dt * k3))
    return state


def neural_ode_pendulum(seed: int) -> Case:
    """A neural ODE learning a damped pendulum from trajectories: from a start (angle in -2..2, velocity in -1..1),
    the state every 0.5 time units up to 4, observed with a little noise (clean on the test rows)."""
    rng = np.random.default_rng(0)
    start = np.column_stack([rng.uniform(-2, 2, 1600), rng.uniform(-1, 1, 1600)])
    states, trajectory = start, []
    for _ in range(8):
        states = _pendulum(states, 0.5)
        trajectory.append(states)
    clean = np.concatenate(trajectory, axis=1)
    noisy = clean + np.where(np.arange(1600)[:, None] < 1200, rng.normal(0, 0.05, clean.shape), 0)
    torch.manual_seed(seed)
    return Case(NeuralODE(), *_splits(start, noisy, 800, 400), "mse", F.mse_loss, "test MSE (8 future states)")


class Coupling(nn.Module):
    """A RealNVP affine coupling on 2-D points: one coordinate, through an MLP, scales (tanh-bounded log scale) and
    shifts the other; returns the new points and the log-determinant of the map."""

    def __init__(self, keep: int, width: int = 32):
        super().__init__()
        self.keep = keep
        self.net = nn.Sequential(nn.Linear(1, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 2))

    def forward(self, x):
        kept, moved = x[:, self.keep:self.keep + 1], x[:, 1 - self.keep:2 - self.keep]
        log_scale, shift = self.net(kept).chunk(2, dim=1)
        log_scale = torch.tanh(log_scale)
        moved = moved * log_scale.exp() + shift
        parts = [kept, moved] if self.keep == 0 else [moved, kept]
        return torch.cat(parts, dim=1), log_scale.squeeze(1)


class RealNVP(nn.Module):
    """Four couplings, alternating which coordinate is kept; the output is [z (2) | log-determinant (1)]."""

    def __init__(self, layers: int = 4):
        super().__init__()
        self.couplings = nn.ModuleList(Coupling(i % 2) for i in range(layers))

    def forward(self, x):
        log_det = torch.zeros(len(x))
        for coupling in self.couplings:
            x, part = coupling(x)
            log_det = log_det + part
        return torch.cat([x, log_det.unsqueeze(1)], dim=1)


def flow_nll(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The negative log-likelihood of the data under the flow with a standard normal base (target unused)."""
    z, log_det = output[:, :2], output[:, 2]
    return (0.5 * (z ** 2).sum(1) + math.log(2 * math.pi) - log_det).mean()


def realnvp_moons(seed: int) -> Case:
    """A RealNVP density on scikit-learn's two moons (noise 0.08, standardized), scored by its test NLL."""
    x, _ = make_moons(2400, noise=0.08, random_state=0)
    torch.manual_seed(seed)
    return Case(RealNVP(), *_splits(_standardize(x, 1200), np.zeros(2400), 1200, 400), flow_nll, flow_nll,
                "test NLL (nats)")


class Sine(nn.Module):
    """sin(omega * (W x + b)): a SIREN layer, initialized as Sitzmann et al. (2020) do."""

    def __init__(self, inputs: int, outputs: int, omega: float = 30.0, first: bool = False):
        super().__init__()
        self.omega, self.linear = omega, nn.Linear(inputs, outputs)
        bound = 1 / inputs if first else math.sqrt(6 / inputs) / omega
        nn.init.uniform_(self.linear.weight, -bound, bound)

    def forward(self, x):
        return torch.sin(self.omega * self.linear(x))


def siren_photo(seed: int) -> Case:
    """A SIREN (2 -> 64 -> 64 -> 1) mapping pixel coordinates (-1..1) to grey levels of scikit-learn's china.jpg
    reduced to 53x80 by 8x8 block means (standardized); trained on 2,000 random pixels, scored on 1,840 others."""
    grey = load_sample_image("china.jpg").mean(axis=2)
    small = grey[:424, :640].reshape(53, 8, 80, 8).mean(axis=(1, 3))
    rows, cols = np.meshgrid(np.linspace(-1, 1, 53), np.linspace(-1, 1, 80), indexing="ij")
    order = np.random.default_rng(0).permutation(small.size)
    coords = np.column_stack([rows.ravel(), cols.ravel()])[order]
    values = _standardize(small.ravel()[order], 2000)
    torch.manual_seed(seed)
    model = nn.Sequential(Sine(2, 64, first=True), Sine(64, 64), nn.Linear(64, 1), nn.Flatten(0))
    return Case(model, *_splits(coords, values, 2000, 400), "mse", F.mse_loss, "test MSE (standardized grey)")


class MixtureOfExperts(nn.Module):
    """Four small MLP experts mixed per row by a softmax gate read from the same inputs."""

    def __init__(self, features: int, experts: int = 4, width: int = 16):
        super().__init__()
        self.gate = nn.Linear(features, experts)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, 1))
                                     for _ in range(experts))

    def forward(self, x):
        outputs = torch.cat([expert(x) for expert in self.experts], dim=1)
        return (F.softmax(self.gate(x), dim=1) * outputs).sum(1)


def moe_regimes(seed: int) -> Case:
    """A target ruled by one of four regimes (the signs of the first two of 5 features), each a different function
    of the other three, plus noise; standardized."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (3000, 5))
    regimes = np.stack([np.sin(2 * x[:, 2]) + x[:, 3], x[:, 2] * x[:, 4], np.abs(x[:, 3]) - x[:, 4],
                        np.cos(x[:, 2] + x[:, 3]) * 2])
    y = regimes[(x[:, 0] > 0) * 2 + (x[:, 1] > 0), np.arange(3000)] + rng.normal(0, 0.2, 3000)
    torch.manual_seed(seed)
    return Case(MixtureOfExperts(5), *_splits(x, _standardize(y, 1800), 1800, 400), "mse", F.mse_loss,
                "test MSE (standardized)")


def cox_partial_nll(risk: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cox's negative log partial likelihood per event (Breslow, over the rows given): target is [time, event]."""
    time, event = target[:, 0], target[:, 1]
    order = torch.argsort(time, descending=True)
    risk, event = risk.reshape(-1)[order], event[order]
    return -((risk - torch.logcumsumexp(risk, dim=0)) * event).sum() / event.sum().clamp(min=1)


def cox_survival(seed: int) -> Case:
    """A Cox proportional-hazards MLP (DeepSurv's kind) on generated survival times: a log hazard nonlinear in 4 of
    8 features, exponential times, uniform censoring (about a third censored); scored on the 1,000 test rows at
    once."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 8))
    log_hazard = x[:, 0] + 0.8 * x[:, 1] ** 2 - np.sin(2 * x[:, 2]) + 0.5 * x[:, 3] * x[:, 0]
    event_time = rng.exponential(1 / np.exp(log_hazard))
    censor_time = rng.uniform(0, 2 * np.median(event_time), 3000)
    target = np.column_stack([np.minimum(event_time, censor_time), (event_time <= censor_time).astype(float)])
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    return Case(model, *_splits(x, target, 1600, 400), cox_partial_nll, cox_partial_nll,
                "test Cox partial NLL per event")


class HyperNetwork(nn.Module):
    """A hypernetwork: an MLP reads a row's task descriptor and emits the weights of a 1 -> 16 -> 1 tanh network,
    which is then applied to the row's x (the input's last column)."""

    def __init__(self, descriptors: int, hidden: int = 16, width: int = 32):
        super().__init__()
        self.hidden = hidden
        self.emit = nn.Sequential(nn.Linear(descriptors, width), nn.ReLU(), nn.Linear(width, 3 * hidden + 1))

    def forward(self, rows):
        weights = self.emit(rows[:, :-1])
        w1, b1, w2, b2 = weights.split([self.hidden, self.hidden, self.hidden, 1], dim=1)
        hidden = torch.tanh(rows[:, -1:] * w1 + b1)
        return (hidden * w2).sum(1) + b2.squeeze(1)


def hypernet_sines(seed: int) -> Case:
    """y = a sin(w x + phase) for a task (a in 0.5..2, w in 0.5..2, phase in 0..2 pi) given as (a, w, cos phase,
    sin phase), at one x in -3..3 a row, plus noise."""
    rng = np.random.default_rng(0)
    a, w, phase, x = rng.uniform(0.5, 2, 3000), rng.uniform(0.5, 2, 3000), rng.uniform(0, 2 * np.pi, 3000), \
        rng.uniform(-3, 3, 3000)
    rows = np.column_stack([a, w, np.cos(phase), np.sin(phase), x])
    y = a * np.sin(w * x + phase) + rng.normal(0, 0.1, 3000)
    torch.manual_seed(seed)
    return Case(HyperNetwork(4), *_splits(rows, y, 1800, 400), "mse", F.mse_loss, "test MSE")


def poisson_nll(log_rate: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """torch's Poisson NLL for a log-rate output, as the hand loop's user writes it."""
    return F.poisson_nll_loss(log_rate.squeeze(-1), count, log_input=True)


def half_deviance(log_rate: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """The score: half the Poisson deviance per row (zero for a perfect fit, never negative)."""
    log_rate = log_rate.squeeze(-1)
    return (log_rate.exp() - count * log_rate + torch.xlogy(count, count) - count).mean()


def poisson_visits(seed: int) -> Case:
    """Doctor visits a year (mdvis, 0..77) from the RAND health insurance experiment (statsmodels' randhie: cost
    sharing, income, health), 9 features standardized, 6,000 rows in a fixed shuffled order; log-rate MLP."""
    table = sm.datasets.randhie.load_pandas().data
    order = np.random.default_rng(0).permutation(len(table))[:6000]
    x = _standardize(table.drop(columns="mdvis").to_numpy(float)[order], 2000)
    y = table["mdvis"].to_numpy(float)[order]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(9, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    return Case(model, *_splits(x, y, 2000, 1000), "poisson", poisson_nll, "test Poisson half deviance",
                half_deviance)


MODELS = {"pinn_oscillator": pinn_oscillator, "neural_ode_pendulum": neural_ode_pendulum,
          "realnvp_moons": realnvp_moons, "siren_photo": siren_photo, "moe_regimes": moe_regimes,
          "cox_survival": cox_survival, "hypernet_sines": hypernet_sines, "poisson_visits": poisson_visits}


def run_best_with_doctor(build, seed: int, lr: float) -> dict:
    """The grid's run at `lr` again with the doctor on and validation data given: its score and every finding."""
    case = build(seed)
    result = ds.fit(case.model, case.train, loss=case.loss, val=case.val, optimizer="adamw", lr=lr,
                    schedule=ds.schedules.cosine(), max_steps=steps_of(case), batch_size=BATCH, seed=seed,
                    progress=False)
    return {"score": case.score(), "codes": [f"{f.severity} {f.code}" for f in result.findings],
            "findings": [str(f) for f in result.findings]}


def measure_with_doctor(build, seeds: range, saved: dict | None = None) -> dict:
    """fit_held_out's measurement, then every seed's run at the grid's best lr with the doctor on."""
    row = measure(build, seeds, saved)
    row["best_doctor"] = [run_best_with_doctor(build, seed, row["best_lr"]) for seed in seeds]
    return row


def _warned(run: dict) -> list[str]:
    return [f"{code}: {text}" for code, text in zip(run["codes"], run["findings"]) if not code.startswith("info")]


def doctor_report(rows: dict, seeds: range) -> None:
    """fit_held_out's tables, then the doctor on every default run and every grid-best run: a warning or error on a
    run within 5% of the grid's best is a false alarm."""
    report(rows, seeds)
    print(f"\nthe doctor on fit's defaults and on the grid's best lr (AdamW {GRID[0]:g}..{GRID[-1]:g}, cosine, "
          "validation given), per seed; score / grid's best; '!' marks a warning within 5% of the grid's best")
    print("| model | seed | run | / grid best | findings |")
    print("|---|---|---|---|---|")
    alarms = runs = 0
    for name, r in rows.items():
        for seed, auto, best in zip(seeds, r["auto"], r["best_doctor"]):
            for label, run in (("defaults", auto), (f"grid {r['best_lr']:.0e}", best)):
                ratio, warned = run["score"] / r["best"], _warned(run)
                false_alarm = bool(warned) and ratio <= 1.05
                alarms, runs = alarms + false_alarm, runs + 1
                shown = "; ".join(("! " if false_alarm else "") + w for w in warned) or "-"
                print(f"| {name} | {seed} | {label} | {ratio:.3f} | {shown} |")
    print(f"\nfalse alarms (a warning on a run within 5% of the grid's best): {alarms} of {runs} runs")


def main() -> None:
    held_out_main(MODELS, __doc__, seeds=3, measure=measure_with_doctor, report=doctor_report)


if __name__ == "__main__":
    main()
