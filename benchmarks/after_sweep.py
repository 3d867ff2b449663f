"""What should train after auto's lr sweep? Measured on generated problems (benchmarks/lr_reading_rules.py's) and,
with --bench, on lr_auto_quality.py's workloads.

For each problem and seed: AdamW + cosine at the 9 grid lrs; fit's defaults as they are; and the sweep alone
(fit's defaults stopped at the first step after it), whose weights and picked lr then go on for the rest of the
budget under each candidate:
- AdamW at the pick with cosine: today's, replayed (checks the replay against the real runs), and the same after a
  5% linear warmup (a fresh Adam state's first steps move every weight by about the full lr);
- Prodigy from d0 = the pick, with cosine (its step-size estimate only grows, so the pick is a floor that Prodigy
  raises when the gradients show the weights have further to go), and the same with a 10% warmup;
- Schedule-Free AdamW at the pick;
- AdamW from the pick, raised while Adam's moments show signal: every MOMENTUM steps (the first moment's memory),
  while the averaged gradient's energy is above SIGNAL times what noise alone leaves in a bias-corrected moving
  average of that age, the lr goes up by sqrt(10), up to the last lr the sweep passed, in the first 30% of the
  rest; on every run, and only on runs whose curve had no valley (where today's pick is the fixed default 1e-3).
Scores: held-out loss over the grid's best. Rows are saved (--save) and reused (--load: the grid and the real
auto runs are kept, the candidates rerun).

    PYTHONPATH=src:. python benchmarks/after_sweep.py [--problems 18] [--seeds 2] [--save rows.json] [--load rows.json]
    PYTHONPATH=src:. python benchmarks/after_sweep.py --bench grid.json [--tasks heavy,iris]  (grid.json: from
        lr_auto_quality.py --save)
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

import descend as ds
from benchmarks import lr_reading_rules as reading_rules
from benchmarks.lr_reading_rules import GRID, line, problem

MOMENTUM, SIGNAL, RAISE = 10, 2.0, math.sqrt(10)


class AfterSweep(ds.stop.Rule):
    """Stops the run at the first step after the sweep (that step took one AdamW step at the pick)."""

    code = "after_sweep"

    def check(self, state, record):
        return None if record.get("sweep") else "the sweep is over"


def signal_share(opt: torch.optim.Optimizer) -> tuple[float, float]:
    """(sum of bias-corrected first moments squared / sum of bias-corrected second moments, the share pure noise
    would give at the moments' age): a share well above the noise's says the gradient is mostly signal."""
    num = den = 0.0
    beta1, beta2 = opt.param_groups[0]["betas"]
    for state in opt.state.values():
        t = float(state["step"])
        num += float((state["exp_avg"] ** 2).sum()) / (1 - beta1 ** t) ** 2
        den += float(state["exp_avg_sq"].sum()) / (1 - beta2 ** t)
    noise = (1 - beta1) * (1 + beta1 ** t) / ((1 + beta1) * (1 - beta1 ** t))
    return num / den, noise


class RaiseWhileSignal(ds.loop.Callback):
    """The escalation of the module docstring, acting on the groups' initial_lr (the schedule multiplies it)."""

    def __init__(self, opt: torch.optim.Optimizer, cap: float, steps: int, active: bool = True):
        self.opt, self.cap, self.until, self.active = opt, cap, int(0.3 * steps), active

    def on_step_end(self, state, record) -> None:
        if not self.active or state.step % MOMENTUM or state.step > self.until:
            return
        share, noise = signal_share(self.opt)
        if share <= SIGNAL * noise or self.opt.param_groups[0]["initial_lr"] * RAISE > self.cap * (1 + 1e-9):
            self.active = False
            return
        for group in self.opt.param_groups:
            group["initial_lr"] *= RAISE


CANDIDATES = ("adamw at the pick, cosine (today's, replayed)", "adamw at the pick, 5% warmup, cosine", "prodigy from d0 = pick, cosine",
              "prodigy from d0 = pick, 10% warmup, cosine", "schedule-free adamw at the pick",
              "adamw, raised while signal, every run", "adamw, raised while signal, no-valley runs only")


def candidate(name: str, model, pick: float, cap: float, steps: int, no_valley: bool, decay) -> dict:
    """fit settings for the steps after the sweep."""
    cosine = ds.schedules.cosine()
    if name.startswith("adamw at"):
        warm = ds.schedules.warmup_cosine(warmup=0.05)
        return dict(optimizer="adamw", lr=pick, schedule=warm if "warmup" in name else cosine)
    if name.startswith("prodigy"):
        schedule = ds.schedules.warmup_cosine(warmup=0.1) if "warmup" in name else cosine
        return dict(optimizer=ds.optim.create(model, "prodigy", lr=1.0, d0=pick), schedule=schedule)
    if name.startswith("schedule-free"):
        return dict(optimizer="schedule_free_adamw", lr=pick)
    opt = ds.optim.create(model, "adamw", lr=pick, **({} if decay is None else {"weight_decay": decay}))
    active = no_valley or name.endswith("every run")
    return dict(optimizer=opt, schedule=cosine, callbacks=[RaiseWhileSignal(opt, cap, steps, active)])


ONLY: list[str] = []   # --only: candidates whose names contain one of these (the replay always runs)


def chosen(names) -> list[str]:
    return [n for n in names if n == CANDIDATES[0] or not ONLY or any(o in n for o in ONLY)]


def after(build, seed: int, train, score, steps: int, settings: dict) -> tuple[float, dict]:
    """(the sweep's pick, {candidate: held-out score}) of one problem and seed."""
    model = build(seed)
    swept = ds.fit(model, train, max_steps=steps, stop=[AfterSweep()], **settings)
    pick, used = swept.choice.lr, len(swept.history)
    cap = max(r["lr"] for r in swept.history if r.get("sweep"))
    no_valley = "no valley" in swept.choice.reason
    start = {k: v.clone() for k, v in model.state_dict().items()}
    out = {}
    for name in chosen(CANDIDATES):
        model.load_state_dict(start)
        how = candidate(name, model, pick, cap, steps - used, no_valley, settings.get("weight_decay"))
        ds.fit(model, train, max_steps=steps - used, init=None, **settings, **how)
        out[name] = score(model)
    return pick, out


def measure(i: int, seed: int, before: dict | None = None) -> dict:
    """One row; `before` (a saved row of the same problem and seed) gives the grid and the real auto run."""
    desc, build, train, loss, batch, steps, score = problem(i)
    settings = dict(loss=loss, batch_size=batch, seed=seed, progress=False, doctor=False)
    before = before or reading_rules.measure(i, seed)   # the grid and fit's defaults, with its sweep curve
    pick, scores = after(build, seed, train, score, steps, settings)
    return {**{k: before[k] for k in ("grid", "auto", "lrs", "smoothed")}, "desc": desc, "seed": seed,
            "pick": pick, "after": scores}


def generated(args) -> None:
    rows = []
    saved = {(r["desc"], r["seed"]): r for r in json.loads(Path(args.load).read_text())} if args.load else {}
    for i in range(args.problems):
        for seed in range(args.seeds):
            r = measure(i, seed, saved.get((problem(i)[0], seed)))
            rows.append(r)
            best = min(r["grid"])
            print(f"{r['desc']} seed {seed}: pick {r['pick']:.2g} (grid best {GRID[int(np.argmin(r['grid']))]:.0e}), "
                  f"auto {r['auto'] / best - 1:+.0%}, " + ", ".join(f"{v / best - 1:+.0%}" for v in r["after"].values()),
                  flush=True)
            if args.save:
                Path(args.save).write_text(json.dumps(rows))
    print(f"\n{len(rows)} runs: held-out loss over the grid's best")
    print("| after the sweep | mean | median | within 5% | worst |\n|---|---|---|---|---|")
    print(line("fit's defaults (the real runs)", np.array([r["auto"] / min(r["grid"]) - 1 for r in rows])))
    for name in chosen(CANDIDATES):
        print(line(name, np.array([r["after"][name] / min(r["grid"]) - 1 for r in rows])))


def bench(args) -> None:
    from benchmarks.lr_auto_quality import SEEDS, TASKS
    grids = json.loads(Path(args.bench).read_text())
    wanted = [n for n in grids if not args.tasks or any(n.startswith(t) for t in args.tasks.split(","))]
    names = chosen(CANDIDATES)
    print("| workload | grid's best (mean of seeds) | picks | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for name in wanted:
        build, batch, steps, decay, score = TASKS[name]
        best = np.array(grids[name])[:, :, 0].mean(axis=1).min()
        picks, scores = [], []
        for seed in SEEDS:
            problem_ = build(seed)
            settings = dict(loss=problem_.loss, batch_size=batch, weight_decay=decay, seed=seed, progress=False,
                            doctor=False)
            pick, out = after(lambda _: problem_.model, seed, problem_.train, score or problem_.metric, steps, settings)
            picks.append(f"{pick:.2g}")
            scores.append(out)
        gaps = [np.mean([s[c] for s in scores]) / best - 1 for c in names]
        print(f"| {name} | {best:.4g} | {', '.join(picks)} | " + " | ".join(f"{g:+.1%}" for g in gaps) + " |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=18)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--save")
    parser.add_argument("--load", help="rows --save wrote: their grid and auto runs are reused, the candidates rerun")
    parser.add_argument("--bench", help="a grid lr_auto_quality.py --save wrote: run the candidates on its workloads")
    parser.add_argument("--tasks", help="with --bench: comma-separated starts of workload names")
    parser.add_argument("--only", help="comma-separated parts of candidate names to run (the replay always runs)")
    args = parser.parse_args()
    ONLY.extend(args.only.split(",") if args.only else [])
    torch.set_num_threads(1)
    bench(args) if args.bench else generated(args)


if __name__ == "__main__":
    main()
