"""The race after the sweep, when fit has validation data: a few learning rates around the sweep's pick each train
a short leg from the sweep's weights, and the one whose weights score the lowest validation loss goes on.

The sweep reads the training loss over a few steps per lr, so its pick is an estimate, good to about half a decade
either way; what the run is judged on is held-out data, which the training curve cannot see. The candidates are
the pick times 10^(k/2) for k in CANDIDATE_STEPS, none above the lr at the sweep curve's lowest point (past it the
training loss already rose). Each leg starts from the same weights with a fresh optimizer state and trains LEG
steps exactly as that candidate would train in the run (its lr on the run's schedule, from the schedule's start);
then the validation loss is read. The winner's weights and optimizer state come back and it goes on from the end
of its leg, so its leg was training; the other legs are the price of the choice (RACE_SHARE of the steps after
the sweep, all legs together). The schedule of every candidate runs over the steps the winner gets, so the
winner's schedule ends with the run. No race without validation data, without a known number of steps, in a run
split over processes, or when legs would be under MIN_LEG steps: then the sweep's pick trains.
"""
from __future__ import annotations

import copy
import math

import torch

CANDIDATE_STEPS = (-2, -1, 0, 1)   # candidates: the pick x 10^(k/2), half a decade apart
RACE_SHARE = 0.2                    # of the steps after the sweep, all legs together
ANNEAL = True
MIN_LEG = 10                        # steps: a shorter leg tells candidates apart by noise


def candidates(pick: float, highest: float) -> list[float]:
    """The race's learning rates, lowest first: the pick's half-decade neighbours, none above `highest`."""
    lrs = [pick * 10 ** (k / 2) for k in CANDIDATE_STEPS]
    return [lr for lr in lrs if lr <= highest * (1 + 1e-9)] or [pick]


def leg_length(total: int | None, start: int, count: int) -> int | None:
    """Steps per leg for `count` candidates after a sweep of `start` steps, or None when there is no race."""
    if total is None or count < 2:
        return None
    leg = int(RACE_SHARE * (total - start) / count)
    return leg if leg >= MIN_LEG else None


class Race:
    """The legs' bookkeeping: which candidate trains at a step, its position on the schedule, the scores, and the
    weights and optimizer state of the best leg so far (all in `state_dict`, so a resumed run races the same)."""

    def __init__(self, lrs: list[float], start: int, leg: int, origin: dict):
        self.lrs, self.start, self.leg, self.origin = lrs, start, leg, origin
        self.scores: list[float] = []
        self.blown: list[int] = []      # legs with a NaN/Inf step: they score inf
        self.best: dict | None = None   # {"leg", "model", "optimizer"} of the lowest score so far

    @property
    def end(self) -> int:
        return self.start + len(self.lrs) * self.leg

    def leg_of(self, step: int) -> int:
        """The leg that step index `step` (0-based) belongs to."""
        return (step - self.start) // self.leg

    def lr_of(self, step: int) -> float:
        """The lr of race step index `step` (0-based): its leg's candidate, decayed to 0 over the leg by a cosine."""
        position = (step - self.start) % self.leg
        if not ANNEAL:
            return self.lrs[self.leg_of(step)]
        return self.lrs[self.leg_of(step)] * 0.5 * (1 + math.cos(math.pi * position / self.leg))

    def leg_ends(self, done: int) -> bool:
        """Whether `done` steps complete a leg."""
        return self.start < done <= self.end and (done - self.start) % self.leg == 0

    def finish_leg(self, score: float, model, optimizer: torch.optim.Optimizer) -> bool:
        """Score the leg just run; keep its state if it is the best so far. Start the next leg from the sweep's
        weights with a fresh optimizer state, or after the last bring the winner back. True when the race is over."""
        blown = len(self.scores) in self.blown
        self.scores.append(score if math.isfinite(score) and not blown else math.inf)
        if self.best is None or self.scores[-1] < self.scores[self.best["leg"]]:
            self.best = {"leg": len(self.scores) - 1, "optimizer": copy.deepcopy(optimizer.state_dict()),
                         "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if len(self.scores) < len(self.lrs):
            model.load_state_dict(self.origin)
            optimizer.state.clear()
            return False
        model.load_state_dict(self.best["model"])
        optimizer.load_state_dict(self.best["optimizer"])
        self.origin = self.best = {"leg": self.best["leg"]}   # the weights are the model's now: keep no copies
        return True

    @property
    def winner(self) -> int:
        return self.best["leg"]

    def observed(self) -> dict:
        """The race as plain data for the Choice."""
        return {"lrs": self.lrs, "val_loss": self.scores, "leg_steps": self.leg, "winner": self.winner}

    def state_dict(self) -> dict:
        return {"lrs": self.lrs, "start": self.start, "leg": self.leg, "origin": self.origin, "scores": self.scores,
                "blown": self.blown, "best": self.best}

    @classmethod
    def from_state(cls, state: dict) -> "Race":
        race = cls(list(state["lrs"]), state["start"], state["leg"], state["origin"])
        race.scores, race.blown, race.best = list(state["scores"]), list(state["blown"]), state["best"]
        return race
