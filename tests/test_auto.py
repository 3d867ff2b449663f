"""optimizer="auto" (fit's default) and lr="auto": what is chosen, that it trains, and that the choice is on record."""
import functools
import json
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torch import nn

import descend as ds
from descend.fit import losses
from descend.fit.auto import sweep as sweep_lib
from descend.fit.auto.sweep import RobustAverage
from descend.fit.lr_find import NO_VALLEY, read


def logistic_data(n=400, features=6, seed=0):
    """Overlapping classes (a finite optimum without regularization), float64."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g, dtype=torch.float64)
    logits = x @ torch.randn(features, generator=g, dtype=torch.float64)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(logits)).to(torch.float64)
    return x, y


def logistic_optimum(x, y) -> float:
    """The mean logistic loss at its minimum, from scipy's L-BFGS-B at machine-precision tolerances."""
    xs, ys = x.numpy(), y.numpy()

    def f(params):
        z = xs @ params[:-1] + params[-1]
        value = np.mean(np.logaddexp(0.0, z) - ys * z)
        weight = (1 / (1 + np.exp(-z)) - ys) / len(ys)
        return value, np.append(xs.T @ weight, weight.sum())
    found = minimize(f, np.zeros(xs.shape[1] + 1), jac=True, method="L-BFGS-B",
                     options={"ftol": 1e-16, "gtol": 1e-12, "maxiter": 10_000})
    return float(found.fun)


def full_loss(model, x, y, loss):
    with torch.no_grad():
        return float(losses.get(loss)(model(x), y))


@pytest.mark.parametrize("problem", ["least_squares", "logistic"])
def test_a_full_batch_convex_problem_gets_lbfgs_and_reaches_1e_6_of_the_optimum(problem):
    x, y = logistic_data()
    if problem == "least_squares":
        y = x @ torch.arange(1.0, 7.0, dtype=torch.float64) + 0.3 * torch.randn(len(x), dtype=torch.float64,
                                                                                generator=torch.Generator().manual_seed(1))
        design = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], 1)
        solution = torch.linalg.lstsq(design, y[:, None]).solution
        fstar, loss = float(((design @ solution - y[:, None]) ** 2).mean()), "mse"
    else:
        fstar, loss = logistic_optimum(x, y), "bce"
    model = nn.Linear(6, 1, dtype=torch.float64)
    result = ds.fit(model, (x, y[:, None]), loss=loss, batch_size=len(x), max_steps=200, progress=False)
    assert result.choice.optimizer == "lbfgs" and result.choice.lr is None and result.choice.probe_steps == 0
    assert result.choice.observed["full_batch"] and result.choice.observed["deterministic"]
    assert 0 <= full_loss(model, x, y[:, None], loss) - fstar <= 1e-6


def regression(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1200, 8, generator=g) * 2 - 1
    y = torch.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2 + 0.1 * torch.randn(1200, generator=g)
    return (x[:900], y[:900, None]), (x[900:], y[900:, None])


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


def held_out(model, val) -> float:
    with torch.no_grad():
        return float(((model(val[0]) - val[1]) ** 2).mean())


GRID_LRS = (1e-3, 3e-3, 1e-2, 3e-2)


@functools.lru_cache(maxsize=None)
def grid_and_auto(seed: int) -> tuple[list[float], float, int]:
    """Held-out MSE of AdamW + cosine at GRID_LRS and of fit's defaults (400 steps of batch 32), and auto's steps."""
    train, val = regression(seed)
    grid = []
    for lr in GRID_LRS:
        model = mlp()
        ds.fit(model, train, optimizer="adamw", lr=lr, schedule=ds.schedules.cosine(), batch_size=32,
               max_steps=400, seed=seed, progress=False, doctor=False)
        grid.append(held_out(model, val))
    model = mlp()
    result = ds.fit(model, train, batch_size=32, max_steps=400, seed=seed, progress=False, doctor=False)
    assert result.choice.optimizer == "adamw"
    return grid, held_out(model, val), len(result.history)


@pytest.mark.slow
def test_on_a_mini_batch_mlp_auto_trains_about_as_well_as_the_best_of_a_small_grid():
    """AdamW + cosine at 1e-3 .. 3e-2 against fit's defaults, 400 steps of batch 32, three seeds. Measured: auto
    is within 11% of the best grid point on seeds 1 and 2 (1.11x, 0.89x) and 3.7x on seed 0, where its sweep read
    a noisy curve and picked 4e-3; on every seed it beats the grid's two lower points."""
    close = 0
    for seed in (0, 1, 2):
        grid, score, steps = grid_and_auto(seed)
        assert steps == 400   # the sweep's steps trained
        assert score < min(grid[:2])
        close += score <= 1.15 * min(grid)
    assert close >= 2


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 13, open: on seed 0 auto's held-out MSE is 3.7x the best grid point's "
                                       "(the sweep picks 4e-3 where 1e-2 .. 3e-2 train best in 400 steps)")
def test_on_a_mini_batch_mlp_auto_trains_as_well_as_the_best_of_a_small_grid_on_every_seed():
    """The issue's bar: as well as the best of the grid (within 15%) on each of the three seeds. Strict xfail: it
    fails today, and passing would flag that the miss is gone."""
    for seed in (0, 1, 2):
        grid, score, _ = grid_and_auto(seed)
        assert score <= 1.15 * min(grid), f"seed {seed}: {score:.4g} vs the grid's best {min(grid):.4g}"


def mini_batch_problem():
    torch.manual_seed(1)
    x = torch.randn(256, 5)
    y = torch.tanh(x @ torch.randn(5, 1)) + 0.05 * torch.randn(256, 1)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)), (x, y)


def test_the_same_seed_gives_the_same_choice_and_run():
    runs = []
    for _ in range(2):
        model, data = mini_batch_problem()
        runs.append(ds.fit(model, data, batch_size=16, max_steps=60, seed=3, progress=False))
    assert runs[0].choice.to_dict() == runs[1].choice.to_dict()
    assert runs[0].history == runs[1].history
    choice = runs[0].choice
    assert choice.optimizer == "adamw" and 12 <= choice.probe_steps <= 15 and math.isfinite(choice.lr)
    sweep = [r for r in runs[0].history if r.get("sweep")]
    assert len(sweep) == choice.probe_steps and [r["step"] for r in sweep] == list(range(1, len(sweep) + 1))
    assert sweep[0]["lr"] == pytest.approx(sweep_lib.START_LR)
    assert all(b["lr"] == pytest.approx(a["lr"] * 10 ** (1 / sweep_lib.PER_DECADE)) for a, b in zip(sweep, sweep[1:]))
    after = runs[0].history[choice.probe_steps]
    assert after["lr"] == pytest.approx(choice.lr) and not after.get("sweep")   # cosine starts at the picked lr
    assert runs[0].lr == choice.lr


class Crash(ds.loop.Callback):
    def __init__(self, at):
        self.at = at

    def on_step_end(self, state, record):
        if state.step == self.at:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("crash_at", [9, 30])   # during the sweep (its kept weights are in the checkpoint), after it
def test_a_killed_and_resumed_auto_run_is_bit_identical(tmp_path, crash_at):
    settings = dict(batch_size=16, max_steps=48, seed=2, progress=False, checkpoint_every=4)
    model, data = mini_batch_problem()
    reference = ds.fit(model, data, **settings)
    run_dir = str(tmp_path / "run")
    model, data = mini_batch_problem()
    with pytest.raises(RuntimeError, match="simulated crash"):
        ds.fit(model, data, run_dir=run_dir, callbacks=[Crash(crash_at)], **settings)
    model, data = mini_batch_problem()
    resumed = ds.fit(model, data, run_dir=run_dir, resume=True, **settings)
    assert resumed.history == reference.history
    assert resumed.choice.to_dict() == reference.choice.to_dict()
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.state_dict().values(),
                                                 reference.model.state_dict().values()))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["auto"] == reference.choice.to_dict()


def test_the_choice_is_printed_in_one_line_and_kept_in_config_json(tmp_path, capsys):
    model, data = mini_batch_problem()
    result = ds.fit(model, data, batch_size=16, max_steps=40, run_dir=str(tmp_path / "run"), progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("auto: ")]
    assert lines == [result.choice.line()]
    assert lines[0].startswith(f"auto: adamw, lr {result.choice.lr:.2g}, cosine to 0 after a ")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["run"]["optimizer"] == "auto" and config["auto"] == result.choice.to_dict()
    assert config["auto"]["observed"]["not_lbfgs"] == "mini-batches (16 per pass over the data)"


def test_a_given_lr_with_auto_trains_adamw_with_it():
    model, data = mini_batch_problem()
    result = ds.fit(model, data, lr=0.02, batch_size=16, max_steps=5, progress=False)
    assert result.choice.optimizer == "adamw" and result.choice.lr == 0.02 and result.choice.probe_steps == 0
    assert [r["lr"] for r in result.history] == [0.02] * 5


def test_lr_auto_with_a_named_optimizer_sweeps_inside_the_run():
    model, data = mini_batch_problem()
    result = ds.fit(model, data, optimizer="sgd", lr="auto", batch_size=16, max_steps=60, progress=False)
    choice = result.choice
    assert choice.optimizer == "sgd" and len(result.history) == 60 and choice.probe_steps >= 12
    assert sum(bool(r.get("sweep")) for r in result.history) == choice.probe_steps


def test_lr_auto_with_an_optimizer_instance_drives_its_groups():
    model, data = mini_batch_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    result = ds.fit(model, data, optimizer=opt, lr="auto", batch_size=16, max_steps=60, progress=False)
    assert result.history[0]["lr"] == pytest.approx(sweep_lib.START_LR) and result.choice.optimizer == "SGD"
    assert opt.param_groups[0]["lr"] == result.history[-1]["lr"]
    assert result.history[result.choice.probe_steps]["lr"] == pytest.approx(result.choice.lr)


def test_dropout_on_a_full_batch_is_not_deterministic_so_auto_sweeps():
    model, (x, y) = mini_batch_problem()
    model = nn.Sequential(model, nn.Dropout(0.2))
    result = ds.fit(model, (x, y), batch_size=len(x), max_steps=30, progress=False)
    assert result.choice.optimizer == "adamw"
    assert "differs between two passes" in result.choice.observed["not_lbfgs"]


def test_lbfgs_reuses_the_evaluation_at_the_point_it_already_knows():
    """On a full batch every L-BFGS step starts where the last line search ended: fit's record and L-BFGS's own
    first evaluation both reuse it, so a step costs its line search's new evaluations only (one, mostly). Without
    the reuse every step would cost at least two. (The run stops once L-BFGS has converged, before max_steps.)"""
    x, y = logistic_data()
    calls = []

    def counted(output, target):
        calls.append(torch.is_grad_enabled())
        return nn.functional.binary_cross_entropy_with_logits(output, target)
    model = nn.Linear(6, 1, dtype=torch.float64)
    result = ds.fit(model, (x, y[:, None]), loss=counted, batch_size=len(x), max_steps=15, progress=False,
                    doctor=False)
    assert result.choice.optimizer == "lbfgs" and result.stop_code == "converged" and len(result.history) <= 15
    assert 5 <= sum(calls) <= len(result.history)


def test_the_doctor_leaves_the_sweep_out_and_does_not_suggest_what_auto_set():
    model, data = mini_batch_problem()
    result = ds.fit(model, data, batch_size=16, max_steps=200, progress=False)
    assert max(r["loss"] for r in result.history if r.get("sweep")) > 3 * result.history[-1]["loss"]
    assert not [f for f in result.findings if f.code in ("lr_too_high", "lr_too_low")]
    assert all("lr='auto'" not in f.fix for f in result.findings)


class RawVariance(nn.Module):
    """A Gaussian regression whose variance is a raw parameter, not its log: a step that takes it past 0 makes
    log(variance) NaN, so the model trains at moderate lrs and blows up abruptly at larger ones."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.mean = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
        self.variance = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return torch.cat([self.mean(x), self.variance.expand(len(x), 1)], 1)


def gaussian_nll(out, y):
    return 0.5 * (torch.log(out[:, 1]) + (y[:, 0] - out[:, 0]) ** 2 / out[:, 1]).mean()


def noisy_sine(n=512):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return x, torch.sin(x[:, :1]) + 0.3 * torch.randn(n, 1, generator=g)


def test_a_sweep_that_blows_up_to_nan_goes_back_to_kept_weights_and_the_run_goes_on():
    """With seed 1 the sweep's lr reaches 0.63 at step 20 and the variance steps past 0 (NaN); before the fix the
    NonFinite rule ended the run there. Now the sweep ends at that step, the weights of a step at or below the
    picked lr come back, and the run trains its 200 steps to the noise's log-likelihood (variance near 0.3^2)."""
    x, y = noisy_sine()
    model = RawVariance()
    result = ds.fit(model, (x, y), loss=gaussian_nll, batch_size=32, max_steps=200, seed=1, progress=False)
    blown = [r for r in result.history if r.get("recovered")]
    assert len(blown) == 1 and math.isnan(blown[0]["loss"]) and blown[0]["sweep"]
    assert result.stop_code == "max_steps" and len(result.history) == 200
    choice = result.choice
    assert "a blow-up: the loss or gradient turned NaN/Inf" in choice.reason
    assert choice.lr < blown[0]["lr"] / 3 and choice.observed["kept_step"] < blown[0]["step"]
    assert math.isfinite(result.history[-1]["loss"]) and 0.05 < model.variance.item() < 0.15
    assert not [f for f in result.findings if f.code == "non_finite"]


def test_nan_from_the_first_step_is_not_the_sweeps_to_recover():
    x, y = noisy_sine()
    model = RawVariance()
    with torch.no_grad():
        model.variance.fill_(-1.0)   # log of a negative variance: NaN before any lr could be blamed
    result = ds.fit(model, (x, y), loss=gaussian_nll, batch_size=32, max_steps=50, progress=False)
    assert result.stop_code == "non_finite" and len(result.history) == 1 and not result.history[0].get("recovered")


def test_one_heavy_tailed_batch_moves_the_average_at_most_to_outlier_times_it():
    average = RobustAverage()
    for loss in (4.0, 3.6, 3.1, 2.4):
        settled = average.add(loss)
    jumped = average.add(1e6)
    s = sweep_lib.SMOOTHING   # the geometric mean's bias-corrected step after four values: weight (1 - s)/(1 - s^5)
    assert jumped == pytest.approx(settled * sweep_lib.OUTLIER ** ((1 - s) / (1 - s ** 5)))
    negative = RobustAverage()   # losses at or below 0: the arithmetic mean
    assert [negative.add(v) for v in (-2.0, -4.0)] == pytest.approx([-2.0, (s * (1 - s) * -2 + (1 - s) * -4) / (1 - s ** 2)])


def test_a_lucky_first_batch_is_not_the_curves_bottom():
    """The reading lr_find and auto's sweep share: the lowest point counts from the step where the average holds its
    memory. Here the second value (a one-batch dip to 0.30) is below the valley's true bottom (0.38 at lr 1e-2)."""
    lrs = [1e-4 * 10 ** (i / 5) for i in range(13)]
    smoothed = [0.60, 0.30, 0.65, 0.66, 0.64, 0.60, 0.55, 0.50, 0.45, 0.40, 0.38, 0.50, 0.90]
    lr, rule = read(lrs, smoothed, settled_from=sweep_lib.MEMORY - 1)
    assert rule == "65% of the way down the valley from lr 4.0e-04 to 1.0e-02" and lr == lrs[8]
    assert read(lrs, smoothed)[1] == NO_VALLEY   # counted from the first value, the dip cuts the curve to 2 points


def test_a_curve_without_a_valley_picks_three_sweep_steps_below_its_lowest_point():
    """A curve flat within noise that dips 16% at its end (less than the valley rule's 20%): the pick is 10^(3/5)
    below the lowest point's lr, which the optimizer's calibrated default floors and the last lr swept caps."""
    lrs = [1e-4 * 10 ** (i / 5) for i in range(18)]
    smoothed = [1.61, 1.60, 1.61, 1.60, 1.61, 1.60, 1.59, 1.60, 1.58, 1.57, 1.54, 1.49, 1.40, 1.35, 1.60, 1.90, 2.6, 3.4]
    assert read(lrs, smoothed, settled_from=sweep_lib.MEMORY - 1)[1] == NO_VALLEY
    lr, rule = sweep_lib.without_valley(lrs, smoothed, default_lr=1e-3)
    assert lr == lrs[13 - 3] == pytest.approx(1e-2)
    assert rule == ("no valley in the curve (it never fell steadily by 20% over 5 steps), so 3 sweep steps below its "
                    "lowest point at lr 0.04: lr 0.01")
    early = [0.60, 0.62, 0.64, 0.66, 0.55, 0.70, 0.72, 0.71, 0.69, 0.74, 0.73, 0.90, 1.4]   # lowest at lr 6e-4
    assert sweep_lib.flat_edge(early) is None   # 17% below where it settled: not flat
    assert sweep_lib.without_valley(lrs[:13], early, default_lr=1e-3) == (
        1e-3, "no valley in the curve (it never fell steadily by 20% over 5 steps), so 3 sweep steps below its lowest "
              "point at lr 0.00063: lr 0.00016, raised to the optimizer's calibrated default 0.001")
    assert sweep_lib.without_valley(lrs[:13], early, default_lr=1.0) == (
        lrs[12], "no valley in the curve (it never fell steadily by 20% over 5 steps), so 3 sweep steps below its "
                 "lowest point at lr 0.00063: lr 0.00016, raised toward the optimizer's calibrated default 1 as far as "
                 "the last lr swept")


def test_a_curve_that_fell_then_stayed_flat_long_past_its_lowest_point_is_read_where_it_starts_to_rise():
    """12% down by lr 4e-4 (not flat, no valley), then within 5% of that lowest point for 11 sweep steps: the pick
    is 63x below lr 0.25, where the curve first rises 5% above its lowest so far, not 3 steps below the lowest."""
    lrs = [1e-4 * 10 ** (i / 5) for i in range(21)]
    smoothed = [1.0, 1.0, 1.0, 1.0, 0.95, 0.9, 0.88, 0.89, 0.89, 0.9, 0.89, 0.9, 0.89, 0.9, 0.9, 0.91, 0.92, 0.93, 1.1,
                1.5, 2.0]
    assert read(lrs, smoothed, settled_from=sweep_lib.MEMORY - 1)[1] == NO_VALLEY
    assert sweep_lib.flat_edge(smoothed) is None and sweep_lib.rise_start(smoothed, sweep_lib.MEMORY - 1) == 17
    lr, rule = sweep_lib.without_valley(lrs, smoothed, default_lr=1e-3)
    assert lr == pytest.approx(lrs[17] / 10 ** 1.8) == pytest.approx(lrs[8])   # 0.004, not lrs[6 - 3] = 4e-4
    assert rule.endswith("it stayed within 5% of its lowest up to lr 0.25, where it starts to rise: the loss did not "
                         "respond to the lr before, so 63x below that edge: lr 0.004")


PLATEAU = [1.38, 1.39, 1.39, 1.39, 1.38, 1.385, 1.39, 1.39, 1.39, 1.39, 1.39, 1.39, 1.39, 1.39, 1.39, 1.40, 1.40, 1.39,
           1.41, 1.40, 1.42, 1.51, 2.14, 3.03, 4.28]   # a recurrent net's first steps: flat up to lr ~1


def test_a_flat_curve_is_read_where_it_rises_for_good_not_at_a_bump():
    """A plateau: the loss sits within noise up to lr ~1, its lowest point at 6e-4 is noise. The pick is
    EDGE_MARGIN (10^1.8 = 63x) below the start of the curve's last stretch above 1.05 x its settled value (1.39),
    not the calibrated default that 3 steps below that lowest point would give; a one-step bump to 1.47 at lr 6e-4
    falls back within the noise and moves nothing."""
    lrs = [1e-4 * 10 ** (i / 5) for i in range(25)]
    assert read(lrs, PLATEAU, settled_from=sweep_lib.MEMORY - 1)[1] == NO_VALLEY
    assert sweep_lib.flat_edge(PLATEAU) == 21   # 1.51 > 1.05 x 1.39, and every value after it too
    lr, rule = sweep_lib.without_valley(lrs, PLATEAU, default_lr=1e-3)
    assert lr == pytest.approx(lrs[21] / 10 ** 1.8) and lr == pytest.approx(lrs[12])   # 0.025, 25x the default
    assert rule == ("no valley in the curve (it never fell steadily by 20% over 5 steps) and its lowest point lies "
                    "within 10% of where it settled, a lucky batch rather than a response to the lr; it rises for good "
                    "from lr 1.6, so 63x below that edge: lr 0.025")
    bumped = PLATEAU[:8] + [1.47] + PLATEAU[9:]
    assert sweep_lib.without_valley(lrs, bumped, default_lr=1e-3)[0] == lr


def test_a_flat_curve_whose_luckiest_batch_came_late_is_still_read_at_its_edge():
    """The sweep of the residual LayerNorm MLP on three spirals (fit_held_out2.py, seed 0; the smoothed losses to 3
    places): it wanders between 1.13 and 1.27 nats, within 9% of where it settled (1.242), and its lowest point, at
    lr 0.25, is the luckiest batch right before the loss rises for good at 0.63. Read 3 steps below that lowest point
    it took lr 0.063 and stayed at chance (1.03 nats) for the whole run; the grid's best is 3e-3. As a flat curve it
    is read 63x below its edge: 0.01."""
    lrs = [1e-4 * 10 ** (i / 5) for i in range(24)]
    smoothed = [1.227, 1.218, 1.272, 1.242, 1.218, 1.205, 1.169, 1.174, 1.158, 1.164, 1.182, 1.249, 1.209, 1.195,
                1.177, 1.17, 1.147, 1.133, 1.288, 1.396, 1.556, 2.202, 3.115, 4.407]
    assert read(lrs, smoothed, settled_from=sweep_lib.MEMORY - 1)[1] == NO_VALLEY
    assert sweep_lib.flat_edge(smoothed) == 19   # 1.288 at 0.4 is below 1.05 x 1.242 = 1.304; 1.396 is not
    lr, _ = sweep_lib.without_valley(lrs, smoothed, default_lr=1e-3)
    assert lr == pytest.approx(lrs[19] / 10 ** 1.8) == pytest.approx(0.01)
    deeper = smoothed[:17] + [1.10] + smoothed[18:]   # 11.4% below where it settled: no longer flat
    assert sweep_lib.flat_edge(deeper) is None
    assert sweep_lib.without_valley(lrs, deeper, default_lr=1e-3)[0] == pytest.approx(lrs[17 - 3])   # 0.063


class LastHidden(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.GRU(1, 16, batch_first=True), nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.rnn(x.unsqueeze(-1))[1][-1])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_a_recurrent_net_on_a_plateau_trains_past_the_constant_prediction(seed):
    """A GRU telling 4 periods apart in noisy sines: at AdamW's default 1e-3 (what auto took when the sweep's flat
    curve had no valley) 300 steps stay at the constant prediction's log(4); read at the curve's edge, it learns."""
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, 4, (1200,), generator=g)
    phase = 6.283 * torch.rand(1200, 1, generator=g)
    x = torch.sin(6.283 * torch.arange(24) / (5 + label[:, None]) + phase) + 0.5 * torch.randn(1200, 24, generator=g)
    torch.manual_seed(seed)
    model = LastHidden()
    result = ds.fit(model, (x[:960], label[:960]), loss="cross_entropy", max_steps=300, seed=seed, progress=False,
                    doctor=False)
    assert result.choice.lr >= 1e-2
    with torch.no_grad():
        held_out = float(nn.functional.cross_entropy(model(x[960:]), label[960:]))
    assert held_out < 0.5 * math.log(4), held_out
