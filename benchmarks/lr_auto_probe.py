"""Could a short look at another lr, after fit's sweep, tell which lr ends better?

For every model of the chosen lists (lr_auto_quality's workloads as "q", fit_held_out.py .. fit_held_out5.py as
1..5) and seeds 0-2, fit's defaults run in full three times: with the sweep's pick as it is, and with the pick
times each other factor (0.25 and 4: three sweep steps down and up), from the same kept weights, on the same
batches (the data order depends on the seed and the step only). Each run records its held-out score and its batch
losses over the steps after the sweep. Printed:
- per model, the score at each factor over the list's published grid best, and the best of the factors per seed
  (what a probe that always chose right could reach);
- how often the mean batch loss over the first K steps after the sweep orders two factors as their final scores
  do (a short check of a larger or smaller lr, judged on the same batches);
- that check as a rule, at no cost in steps: every factor runs K steps and the lowest mean batch loss keeps the
  run; within 5% of the grid's best and the geometric mean per list.

    PYTHONPATH=src:. python benchmarks/lr_auto_probe.py [--lists q,1,3,5] [--save runs.json | --load runs.json]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
from pathlib import Path

import torch

import descend as ds
from benchmarks import lr_auto_quality
from descend.fit.auto import sweep

FACTORS = (0.25118864315095796, 1.0, 3.981071705534973)   # 10^(-3/5), 1, 10^(3/5): three sweep steps either side
WINDOWS = (5, 10, 20, 40)   # steps after the sweep that a probe would look at
SEEDS = (0, 1, 2)
# each list's grid best (the 3-seed mean of the best of AdamW + cosine at 9 lrs): lr_auto_quality's grid as the
# eleventh pass saved it, the held-out lists' as RESULTS.md publishes them (fifth, eighth, ninth passes, h4, h5)
GRID_BEST = {
    "q": dict(digits_mlp=0.08344, iris_softmax=0.04134, wine_softmax=0.01658, bikeshare_mlp=63.70, friedman1=0.05748,
              digits_cnn=0.03903, heavy_tail_regression=0.4305, embeddings_mf=0.6867),
    "1": dict(gru_periods=0.1198, cnn1d_waveforms=0.6358, autoencoder_scurve=0.0099, multi_output=0.0392,
              transformer_order=0.000188, deep_bn_mlp=0.7417, quantile_regression=0.3142, sparse_logistic=0.6814,
              lstm_adding=0.002954, huber_outliers=0.035),
    "2": dict(vit_digits=0.2753, gru_spikes=0.1517, tabular_embeddings=0.05004, resmlp_spirals=0.065,
              unet_denoise=0.04849, multitask=0.4924, siamese_digits=0.1545, multilabel_words=0.473,
              tied_next_token=2.432, int_pixels=0.1053),
    "3": dict(deep_plain_mlp=0.8198, lstm2_bursts=0.4034, bn_cnn_digits=0.04778, heteroscedastic=0.6619,
              attention_sets=0.8098, wide_bikeshare=0.1534, deep_autoencoder=0.06062, dropout_half=1.043),
    "4": dict(gru_seq2seq=0.06562, dilated_tagging=0.1836, mdn_inverse=0.5893, graph_triangles=0.2233,
              weightnorm_bikeshare=0.06858, unet_inpaint=0.02746, triplet_digits=0.3130, vae_digits=25.14),
    "5": dict(pinn_oscillator=0.1445, neural_ode_pendulum=0.003979, realnvp_moons=1.898, siren_photo=0.03932,
              moe_regimes=0.1706, cox_survival=5.618, hypernet_sines=0.05018, poisson_visits=2.072),
}


@contextlib.contextmanager
def scaled_pick(factor: float, seen: dict):
    """The sweep's first choice times `factor` (its weights are the pick's own); the pick and its step go to `seen`."""
    original = sweep.Sweep._choose

    def choose(self, lr, schedule, how, steps):
        seen.update(pick=lr, at=steps)
        return original(self, lr * factor, schedule, how, steps)
    sweep.Sweep._choose = choose
    try:
        yield
    finally:
        sweep.Sweep._choose = original


def fit_once(which: str, name: str, seed: int) -> tuple[float, list]:
    """(held-out score, history) of fit's defaults on one model of one list, as that list runs it."""
    torch.set_num_threads(1)
    if which == "q":
        build, batch, steps, decay, score = next(v for k, v in lr_auto_quality.TASKS.items() if k.split()[0] == name)
        problem = build(seed)
        result = ds.fit(problem.model, problem.train, loss=problem.loss, max_steps=steps, batch_size=batch,
                        weight_decay=decay, seed=seed, progress=False, doctor=False)
        return (score or problem.metric)(problem.model), result.history
    case = importlib.import_module("benchmarks.fit_held_out" + ("" if which == "1" else which)).MODELS[name](seed)
    result = ds.fit(case.model, case.train, loss=case.loss, val=case.val, seed=seed, progress=False)
    return case.score(), result.history


def measure(lists: list[str]) -> dict:
    """Per factor and run key ("list/model/seed"): score, pick and what its history says (trace)."""
    runs = {str(f): {} for f in FACTORS}
    for which in lists:
        for name in GRID_BEST[which]:
            for seed in SEEDS:
                for factor in FACTORS:
                    seen = {}
                    with scaled_pick(factor, seen):
                        score, history = fit_once(which, name, seed)
                    runs[str(factor)][f"{which}/{name}/{seed}"] = dict(score=score, pick=seen.get("pick"),
                                                                       **trace(history, seen.get("at", 0)))
                print(which, name, seed, *(f"{runs[str(f)][f'{which}/{name}/{seed}']['score']:.4g}" for f in FACTORS),
                      flush=True)
    return runs


def trace(history: list, at: int) -> dict:
    """What a run's history says beyond its score: the batch losses after the sweep (`after`), the sweep's end
    (`at`) and the run's steps (`total`), every validation loss with its step (`vals`), and how far the sweep's
    smoothed loss fell from where it settled to its lowest, as a share of its size there (`fell`)."""
    curve = [r["smoothed"] for r in history if r.get("sweep") and "smoothed" in r]
    settled = min(sweep.MEMORY - 1, len(curve) - 1)
    fell = (curve[settled] - min(curve[settled:])) / abs(curve[settled]) if curve and curve[settled] else None
    return dict(after=[r.get("loss") for r in history[at:][:max(WINDOWS) + 1]], at=at, total=len(history),
                vals=[(i, r["val_loss"]) for i, r in enumerate(history) if "val_loss" in r], fell=fell)


def early_loss(run: dict, window: int) -> float:
    """The mean batch loss over the `window` steps after the first step at the (scaled) pick."""
    values = [v for v in run["after"][1:window + 1] if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else math.inf


def summary(ratios: list[float]) -> str:
    """How many ratios lie within 5% of the grid's best, and their geometric mean, in words."""
    within = sum(r <= 1.05 for r in ratios)
    return f"{within}/{len(ratios)} within 5%, geometric mean {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}"


def report(runs: dict, lists: list[str]) -> None:
    """Print the three readings of the module docstring for `lists`."""
    factors = list(runs)
    for which in lists:
        print(f"\nlist {which}: mean score over the grid's best at {', '.join(f'{float(f):.2g}x' for f in factors)} "
              "the pick; the best factor per seed")
        oracles = []
        for name, best in GRID_BEST[which].items():
            keys = [f"{which}/{name}/{seed}" for seed in SEEDS]
            means = [sum(runs[f][k]["score"] for k in keys) / len(keys) / best for f in factors]
            oracle = sum(min(runs[f][k]["score"] for f in factors) for k in keys) / len(keys) / best
            oracles.append(oracle)
            print(f"  {name:22s} " + "  ".join(f"{m:8.3f}" for m in means) + f"  | best per seed {oracle:.3f}")
        print(f"  the best factor per seed: {summary(oracles)}")
        for factor in factors:
            print(f"  at {float(factor):.2g}x: {summary(raced_ratios(runs, which, [factor], 0))}")
    keys = [k for k in runs[factors[0]] if k.split("/")[0] in lists]
    print("\nthe first K steps' mean batch loss orders the factor against 1x as their final scores do:")
    for factor in (f for f in factors if float(f) != 1.0):
        agree = {w: sum((early_loss(runs[factor][k], w) < early_loss(runs["1.0"][k], w)) ==
                        (runs[factor][k]["score"] < runs["1.0"][k]["score"]) for k in keys) for w in WINDOWS}
        print(f"  {float(factor):.2g}x: " + ", ".join(f"K={w}: {n}/{len(keys)}" for w, n in agree.items()))
    print("\nthe check as a rule, free of its cost: of the factors raced, the lowest first-K-steps loss keeps the run")
    for raced in ([f for f in factors if float(f) >= 1.0], factors):
        for window in WINDOWS:
            cells = [f"{which}: {summary(raced_ratios(runs, which, raced, window))}" for which in lists]
            print(f"  {', '.join(f'{float(f):.2g}x' for f in raced)}, K={window}: " + "; ".join(cells))


def raced_ratios(runs: dict, which: str, raced: list[str], window: int) -> list[float]:
    """Per model of a list, the mean score over the grid's best of the runs that the K-step check keeps."""
    ratios = []
    for name, best in GRID_BEST[which].items():
        kept = [runs[min(raced, key=lambda f: early_loss(runs[f][k], window))][k]["score"]
                for k in (f"{which}/{name}/{seed}" for seed in SEEDS)]
        ratios.append(sum(kept) / len(kept) / best)
    return ratios

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", default="q,1,3,5", help="q (lr_auto_quality) and 1..5 (fit_held_out lists)")
    parser.add_argument("--save", type=Path, help="write the runs here")
    parser.add_argument("--load", type=Path, help="read runs written by --save instead of running")
    args = parser.parse_args()
    lists = args.lists.split(",")
    unknown = [w for w in lists if w not in GRID_BEST]
    if unknown:
        parser.error(f"unknown list(s) {', '.join(unknown)}; choose from {', '.join(GRID_BEST)}")
    runs = json.loads(args.load.read_text()) if args.load else measure(lists)
    if args.save:
        args.save.write_text(json.dumps(runs))
    report(runs, lists)


if __name__ == "__main__":
    main()
