"""Time one optimizer step, side by side in one run, against what a user would otherwise use.

AdamW (28 bytes moved per parameter: read weight, gradient, two moments; write weight, two moments) on
(a) one 8M-parameter tensor and (b) 1000 tensors of 8k parameters: the default step (what `descend.optim.create(
params, "adamw")`, and so fit, builds) and descend's adamw_flat against torch.optim.AdamW(fused=True) and
(foreach=True), in GB/s and ns/parameter, next to the bandwidth of a
read-modify-write kernel measured on the same device in the same run. Then Lion (20 bytes/parameter) and SOAP
against a plain per-parameter loop. Contenders are timed in interleaved rounds (noisy shared machines) and the
median is reported; on a GPU every timed call is bracketed by torch.cuda.synchronize().

The yardstick is `a.add_(b)` on two 128 MB float32 buffers, counted as 12 bytes per element (read a, read b,
write a). It has AdamW's access pattern: every buffer it writes it has just read, so no write-allocate traffic
is hidden from the byte count. (A plain copy counted as 8 B/float is not a fair yardstick: the destination is
also read before it is written, so an in-place optimizer can "exceed 100%" of it.) The faster of torch's
add_ and NumPy's np.add(a, b, out=a) is used on CPU.

    PYTHONPATH=src python benchmarks/optimizer_step.py [--rounds 9] [--threads 2] [--device cuda]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import numpy as np
import torch

from descend import optim

N = 8_000_000
YARDSTICK = 32_000_000   # floats per buffer: 2 x 128 MB, beyond any last-level cache
AdamWRow = tuple[str, str, float, float, float]
DEFAULT = "descend default adamw"
BARS = {"a": 1.1, "b": 0.5}   # the default step's time / torch fused's, at most (issue #14)


def layout(kind: str, device: torch.device) -> list[torch.nn.Parameter]:
    """(a) one tensor of N parameters or (b) 1000 tensors of N / 1000, with gradients set."""
    shapes = [(N,)] if kind == "a" else [(N // 1000,)] * 1000
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=g).to(device)) for s in shapes]
    for p in params:
        p.grad = (torch.randn(p.shape, generator=g) * 1e-2).to(device)
    return params


def interleaved(contenders: dict[str, Callable[[], None]], rounds: int, device: torch.device) -> dict[str, float]:
    """Median seconds per call of each contender, timing them in turn every round."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for fn in contenders.values():
        fn()  # warm up: state allocation, first-touch page faults, kernel selection
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def yardsticks(device: torch.device) -> dict[str, Callable[[], None]]:
    """Read-modify-write kernels (12 bytes per element) by torch and, on CPU, by NumPy."""
    a, b = torch.randn(YARDSTICK, device=device), torch.randn(YARDSTICK, device=device) * 1e-9
    out = {"rmw torch": lambda: a.add_(b)}
    if device.type == "cpu":
        out["rmw numpy"] = lambda: np.add(a.numpy(), b.numpy(), out=a.numpy())
    return out


def adamw_rows(kind: str, rounds: int, device: torch.device) -> tuple[list[AdamWRow], float]:
    """(layout, optimizer, ms/step, GB/s, ratio to fused) per contender, and the yardstick's GB/s."""
    contenders = yardsticks(device)
    for label, make in (("torch AdamW fused", lambda ps: torch.optim.AdamW(ps, fused=True)),
                        ("torch AdamW foreach", lambda ps: torch.optim.AdamW(ps, foreach=True)),
                        ("descend adamw_flat", lambda ps: optim.AdamWFlat(ps)),
                        (DEFAULT, lambda ps: optim.create(ps, "adamw", decay_norms_and_biases=True))):
        contenders[label] = make(layout(kind, device)).step
    med = interleaved(contenders, rounds, device)
    rmw = min(med.pop(name) for name in list(med) if name.startswith("rmw"))
    fused = med["torch AdamW fused"]
    return [(kind, label, sec * 1e3, N * 28 / sec / 1e9, fused / sec) for label, sec in med.items()], \
        YARDSTICK * 12 / rmw / 1e9


def lion_loop(params: list[torch.Tensor], lr=1e-4, beta1=0.9, beta2=0.99, decay=0.1) -> Callable[[], None]:
    """Lion as one would write it by hand: a Python loop over the tensors."""
    moms = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step():
        for p, m in zip(params, moms):
            direction = m.lerp(p.grad, 1 - beta1).sign_()
            p.mul_(1 - lr * decay).add_(direction, alpha=-lr)
            m.lerp_(p.grad, 1 - beta2)
    return step


def soap_loop(params: list[torch.Tensor], lr=3e-3, beta1=0.95, beta2=0.95, eps=1e-8, freq=10) -> Callable[[], None]:
    """SOAP as one would write it by hand: per tensor, factor statistics, eigh every `freq` steps, rotated Adam."""
    zeros = lambda *shape: torch.zeros(*shape, device=params[0].device)
    state = [dict(L=zeros(p.shape[0], p.shape[0]), R=zeros(p.shape[1], p.shape[1]),
                  M=torch.zeros_like(p), V=torch.zeros_like(p)) for p in params]
    count = [0]

    @torch.no_grad()
    def step():
        count[0] += 1
        t = count[0]
        for p, s in zip(params, state):
            g = p.grad
            s["L"].mul_(beta2).add_(g @ g.T, alpha=1 - beta2)
            s["R"].mul_(beta2).add_(g.T @ g, alpha=1 - beta2)
            if (t - 1) % freq == 0:
                s["QL"], s["QR"] = torch.linalg.eigh(s["L"])[1], torch.linalg.eigh(s["R"])[1]
            rotated = s["QL"].T @ g @ s["QR"]
            s["M"].lerp_(g, 1 - beta1)
            s["V"].mul_(beta2).addcmul_(rotated, rotated, value=1 - beta2)
            m_hat = s["QL"].T @ s["M"] @ s["QR"] / (1 - beta1 ** t)
            step_dir = s["QL"] @ (m_hat / (s["V"] / (1 - beta2 ** t)).sqrt().add_(eps)) @ s["QR"].T
            p.mul_(1 - lr * 0.01).add_(step_dir, alpha=-lr)
    return step


def matrices(count: int, rows: int, cols: int, device: torch.device) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(1)
    params = [torch.nn.Parameter(torch.randn(rows, cols, generator=g).to(device)) for _ in range(count)]
    for p in params:
        p.grad = (torch.randn(rows, cols, generator=g) * 1e-2).to(device)
    return params


def other_rows(rounds: int, device: torch.device) -> list[tuple]:
    """(layout, optimizer, ms/step, GB/s or None, ns/param or None, ratio to the hand loop) for Lion and SOAP."""
    lion = interleaved({"Lion per-tensor loop": lion_loop(layout("b", device)),
                        "descend lion": optim.Lion(layout("b", device), weight_decay=0.1).step}, rounds, device)
    ten = lambda step: (lambda: [step() for _ in range(10)])  # ten steps: includes one eigenbasis refresh
    soap = interleaved({"SOAP per-tensor loop": ten(soap_loop(matrices(50, 32, 64, device))),
                        "descend soap": ten(optim.SOAP(matrices(50, 32, 64, device)).step)}, max(3, rounds // 5),
                       device)
    loop_lion, loop_soap = lion["Lion per-tensor loop"], soap["SOAP per-tensor loop"]
    rows = [("b", name, sec * 1e3, N * 20 / sec / 1e9, sec / N * 1e9, loop_lion / sec) for name, sec in lion.items()]
    rows += [("50x(32x64)", name, sec * 100, None, None, loop_soap / sec) for name, sec in soap.items()]
    return rows


def machine(device: torch.device) -> str:
    """The GPU's name, or the CPU model and the number of torch threads."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0] if names else platform.machine()}, torch threads: {torch.get_num_threads()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:0, ...)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: this torch sees no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {machine(device)}, {args.rounds} interleaved rounds, medians\n")
    print(f"{'layout':8} {'optimizer':22} {'ms/step':>8} {'ns/param':>8} {'GB/s':>7} {'rmw GB/s':>8} {'% rmw':>6} "
          f"{'vs fused':>9}")
    verdicts = []
    for kind in ("a", "b"):
        rows, rmw_gbs = adamw_rows(kind, args.rounds, device)
        for lay, label, ms, gbs, ratio in rows:
            print(f"{lay:8} {label:22} {ms:8.3f} {ms * 1e6 / N:8.3f} {gbs:7.1f} {rmw_gbs:8.1f} "
                  f"{100 * gbs / rmw_gbs:5.0f}% {ratio:8.2f}x")
        default = next(ratio for _, label, _, _, ratio in rows if label == DEFAULT)
        verdicts.append(f"layout {kind}: default step time / torch fused = {1 / default:.2f} (bar <= {BARS[kind]})")
    print("\n".join(verdicts))
    print(f"\n{'layout':13} {'optimizer':22} {'ms/step':>8} {'ns/param':>8} {'GB/s':>7} {'vs loop':>8}")
    for lay, label, ms, gbs, ns, ratio in other_rows(args.rounds, device):
        print(f"{lay:13} {label:22} {ms:8.3f} {'-' if ns is None else f'{ns:.3f}':>8} "
              f"{'-' if gbs is None else f'{gbs:.1f}':>7} {ratio:7.2f}x")


if __name__ == "__main__":
    main()
