"""The training state a checkpoint holds beyond the weights: optimizer, random generators, data position, loop
counters and stopping-rule memory, as tensors and plain data (so `torch.load(weights_only=True)` reads it).

Under torch.distributed every process has its own random generators (dropout draws differ with each shard), so
the checkpoint keeps each rank's, and each rank resumes with its own."""
from __future__ import annotations

import random

import numpy as np
import torch


def rng_state(device: torch.device) -> dict:
    """Every global random generator a training step may draw from (dropout, user code using random/numpy)."""
    version, internal, gauss = random.getstate()
    numpy = np.random.get_state(legacy=False)
    state = {"torch": torch.get_rng_state(),
             "python": {"version": version, "internal": list(internal), "gauss": gauss},
             "numpy": {"key": torch.from_numpy(numpy["state"]["key"].astype(np.int64)), "pos": numpy["state"]["pos"],
                       "has_gauss": numpy["has_gauss"], "gauss": numpy["gauss"]}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": npy["key"].numpy().astype(np.uint32),
                                                                 "pos": npy["pos"]},
                         "has_gauss": npy["has_gauss"], "gauss": npy["gauss"]})
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def capture(loop, stream, rngs: list[dict]) -> dict:
    """Everything besides the weights that the next step depends on: the loop's state (see Loop.state_dict), the
    data position, and the random generators (`rngs` holds each rank's `rng_state`)."""
    return {**loop.state_dict(), "data": stream.state_dict(), "rng": rngs[0], "rank_rng": rngs}


def restore(saved: dict, loop, stream, history: list[dict], device: torch.device, rank: int = 0) -> None:
    """Put the state of `capture` back; random generators last, since replaying the data position draws."""
    stream.load_state_dict(saved["data"])
    loop.load_state_dict(saved, history)
    ranks = saved.get("rank_rng") or [saved["rng"]]
    set_rng_state(ranks[rank] if rank < len(ranks) else saved["rng"], device)
