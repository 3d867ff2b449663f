"""Whether two source trees train alike, bit for bit: fit on ten settings (its defaults, the doctor off, optimizer
and lr given, grad_clip, validation with a metric, SGD, doctor="fix", two noise tables of 4096 x 32 (one of them
loop_overhead.py's workload), a 6000-row table with two columns in 1e4 units on a 2-epoch SGD run), each run's
history, weights, stop reason, choice, best record and findings (code, severity, steps, message, fix, evidence,
change) written to JSON; `compare` names every difference. A change meant to make fit cheaper without changing
what it does must leave all of it equal.
Usage: PYTHONPATH=<tree>/src:benchmarks python benchmarks/fit_exact.py save OUT.json
       python benchmarks/fit_exact.py compare BASE.json BRANCH.json
"""
from __future__ import annotations

import argparse
import json
import sys

import torch
from torch import nn


def _mlp(inputs: int = 8, outputs: int = 1, hidden: int = 32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, outputs))


def settings() -> dict:
    """Each setting's name and a function that runs its fit."""
    import descend as ds
    from loop_overhead import make_model, workload
    g = torch.Generator().manual_seed(0)
    X = torch.randn(3000, 8, generator=g)
    y = torch.tanh(X @ torch.randn(8, generator=g)) + 0.1 * torch.randn(3000, generator=g)
    X, y, Xv = X[:2400], y[:2400], X[2400:]
    classes, val_classes = (X[:, 0] + X[:, 1] > 0).long(), (Xv[:, 0] + Xv[:, 1] > 0).long()
    noise = (torch.randn(4096, 32, generator=g), torch.randn(4096, generator=g))
    Xo, yo, _ = workload()
    scaled = torch.randn(6000, 6, generator=g) * torch.tensor([1e4, 1e4, 1, 1, 1, 1])
    y_scaled = scaled[:, 2] - scaled[:, 3] + 1e-4 * scaled[:, 0] + 0.1 * torch.randn(6000, generator=g)

    def fit(model, data, **options):
        return ds.fit(model, data, progress=False, **{"loss": "mse", "max_epochs": 3, **options})
    return {
        "defaults": lambda: fit(_mlp(), (X, y)),
        "doctor off": lambda: fit(_mlp(), (X, y), doctor=False),
        "optimizer and lr given": lambda: fit(_mlp(), (X, y), optimizer="adamw", lr=3e-3),
        "grad_clip": lambda: fit(_mlp(), (X, y), grad_clip=0.5),
        "validation and a metric": lambda: fit(_mlp(outputs=2), (X, classes), loss="cross_entropy",
                                               val=(Xv, val_classes), metrics=["accuracy"]),
        "sgd": lambda: fit(_mlp(), (X, y), optimizer="sgd", lr=0.05),
        "doctor='fix'": lambda: fit(_mlp(), (X, y), doctor="fix"),
        "noise 4096 x 32": lambda: fit(_mlp(32, hidden=64), noise, batch_size=64, max_epochs=4),
        "loop_overhead.py's workload": lambda: fit(make_model(), (Xo, yo), batch_size=64, max_epochs=4),
        "6000 rows, two columns in 1e4 units, sgd, 2 epochs": lambda: fit(
            _mlp(6, hidden=32), (scaled, y_scaled), optimizer="sgd", lr=0.01, max_epochs=2),
    }


def outcome(result) -> dict:
    """What a run must reproduce, as JSON values (floats round-trip exactly)."""
    return {"history": result.history, "stop": result.stop_reason, "best": result.best,
            "choice": result.choice.line() if result.choice else None,
            "weights": {k: v.tolist() for k, v in result.model.state_dict().items()},
            "findings": [{"code": f.code, "severity": f.severity, "steps": f.steps, "message": f.message,
                          "fix": f.fix, "evidence": f.evidence, "change": f.change} for f in result.findings]}


def save(path: str) -> None:
    torch.set_num_threads(1)
    runs = {name: outcome(run()) for name, run in settings().items()}
    with open(path, "w") as out:
        json.dump(json.loads(json.dumps(runs, default=repr)), out)
    print(f"wrote {path}: {len(runs)} settings")


def compare(base_path: str, branch_path: str) -> int:
    """Print each setting's verdict; the number of settings that differ."""
    with open(base_path) as a, open(branch_path) as b:
        base, branch = json.load(a), json.load(b)
    differing = 0
    for name, was in base.items():
        now = branch.get(name, {})
        fields = [field for field in was if _text(was[field]) != _text(now.get(field))]
        differing += bool(fields)
        codes = [f["code"] for f in was["findings"]]
        print(f"{name:52s} {'equal' if not fields else 'DIFFERS in ' + ', '.join(fields)}; findings {codes}")
    return differing


def _text(value) -> str:
    """A value as canonical JSON text: NaN equals NaN there, where it never does as a float."""
    return json.dumps(value, sort_keys=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("save", "compare"))
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    if args.what == "save":
        save(args.paths[0])
    else:
        sys.exit(1 if compare(*args.paths[:2]) else 0)


if __name__ == "__main__":
    main()
