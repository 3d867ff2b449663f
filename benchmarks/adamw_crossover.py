"""Where one flat buffer beats torch's fused AdamW: the same number of parameters split into tensors of each size.

torch's fused kernel is called per tensor (and on CPU splits each tensor over the threads); descend's flat buffer
runs one call over all of them. The step time of both, side by side in interleaved rounds, at one thread and at
torch's default, shows the tensor size under which "adamw" picks the flat buffer (descend.optim.fast.FLAT_BELOW).

    PYTHONPATH=src python benchmarks/adamw_crossover.py [--rounds 7] [--total 4194304] [--device cpu]
"""
from __future__ import annotations

import argparse

import torch

from descend import optim
from descend.optim.fast import FLAT_BELOW
from optimizer_step import interleaved   # benchmarks/ is on the path when a script in it runs


def tensors(total: int, size: int, device: torch.device) -> list[torch.nn.Parameter]:
    params = [torch.nn.Parameter(torch.randn(size, device=device)) for _ in range(total // size)]
    for p in params:
        p.grad = torch.randn(size, device=device) * 1e-2
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--total", type=int, default=1 << 22, help="parameters in all")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {device}, {args.total} parameters, {args.rounds} interleaved rounds, medians; "
          f"flat is picked below {FLAT_BELOW} elements per tensor")
    print("| threads | elements/tensor | tensors | torch fused ms | flat ms | flat / fused |")
    print("|---|---|---|---|---|---|")
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for size in (1 << 10, 1 << 13, 1 << 15, 1 << 16, 1 << 18, args.total):
            med = interleaved({"fused": torch.optim.AdamW(tensors(args.total, size, device), fused=True).step,
                               "flat": optim.AdamWFlat(tensors(args.total, size, device)).step}, args.rounds, device)
            med = {name: seconds * 1e3 for name, seconds in med.items()}
            print(f"| {threads} | {size} | {args.total // size} | {med['fused']:.2f} | {med['flat']:.2f} | "
                  f"{med['flat'] / med['fused']:.2f} |", flush=True)
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
