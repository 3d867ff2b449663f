"""The command-line face of tabular training, shared by `descend fit`, `lr-find`, `tune` and `demo`: options
(from flags, and from a --config file), and what is printed."""
from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from .. import optim
from ..errors import DescendError
from . import evaluate
from .run import TabularRun
from .split import SPLITS
from .target import TASKS
from .train import MODELS, REFIT_MAX_ROWS, REFITS, SCHEDULES, TUNED_LR, Options

DEFAULTS = Options(target="")
OPTIMIZERS = tuple(optim.general_purpose())   # those that train any dense model in a plain loop
OPTION_NAMES = {f.name for f in fields(Options)} - {"target", "progress", "val_fraction"}  # set by flags


def learning_rate(text: str) -> float | str:
    """--lr: a positive number, or "auto" (lr_find picks it)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive number such as 0.003, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be 'auto' or > 0, got {text!r}")
    return value


def fixed_learning_rate(text: str) -> float:
    """A positive number (for commands where lr_find has nothing to sweep)."""
    value = learning_rate(text)
    if value == "auto":
        raise argparse.ArgumentTypeError("expected a positive number such as 0.001 ('auto' is for descend fit)")
    return value


def layer_sizes(text: str) -> tuple[int, ...]:
    """--hidden: comma-separated positive layer widths, e.g. 256,128."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected widths like 256,128, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return sizes


def names(text: str) -> tuple[str, ...]:
    """--drop a,b: the column names, blanks removed."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_data_arguments(parser: argparse.ArgumentParser, data_optional: bool = False) -> None:
    """DATA and --target (both may come from --config when `data_optional`)."""
    if data_optional:
        parser.add_argument("data", nargs="?", default=None, help="CSV (optionally .gz) or Parquet file, one row "
                            "per example (may come from --config)")
        parser.add_argument("--target", default=None, metavar="COL", help="the column to predict (may come from "
                            "--config)")
    else:
        parser.add_argument("data", help="CSV (optionally .gz) or Parquet file, one row per example")
        parser.add_argument("--target", required=True, metavar="COL", help="the column to predict")


def add_training_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Every training option of `descend fit` but the flags in `skip`, defaults shown in --help. Flags left out
    stay out of the parsed namespace, so a --config file's values are kept unless a flag is given."""
    d = DEFAULTS

    def add(flag, **kwargs):
        if flag not in skip:
            parser.add_argument(flag, default=argparse.SUPPRESS, **kwargs)

    add("--task", choices=TASKS, help="what to predict; auto: inferred from the target (default)")
    add("--model", choices=MODELS, help=f"network (default {d.model})")
    add("--hidden", type=layer_sizes, metavar="WIDTHS", help="hidden layer widths of the mlp (default "
        f"{','.join(map(str, d.hidden))})")
    add("--split", choices=SPLITS, help="time: the last rows are the test set (default); random")
    add("--time-column", metavar="COL", help="sort rows by this column before a time split")
    add("--test-fraction", type=float, metavar="F", help=f"share of rows held out as the test set (default "
        f"{d.test_fraction}); 0: no test set, every row trains or validates (see the rows below)")
    add("--members", type=int, metavar="N", help=f"networks trained side by side and averaged, with one "
        f"validation slice (default {d.members}; 5 folds train 5)")
    add("--refit", choices=REFITS, help="train again on training + validation rows for the chosen epochs: auto "
        f"(default) does it up to {REFIT_MAX_ROWS} training rows, and for any table with dates")
    add("--drop", type=names, metavar="COLS", help="columns to leave out, comma-separated")
    add("--categorical", type=names, metavar="COLS", help="columns to treat as categories, comma-separated")
    add("--numeric", type=names, metavar="COLS", help="columns to treat as plain numbers, comma-separated")
    add("--optimizer", choices=OPTIMIZERS, metavar="NAME", help=f"one of {', '.join(OPTIMIZERS)} (default "
        f"{d.optimizer})")
    add("--lr", type=learning_rate, help=f"learning rate, or auto to let lr_find pick it (default {TUNED_LR:g} for "
        "adamw, else the optimizer's own)")
    add("--weight-decay", type=float, metavar="W", help="weight decay of weight matrices (default: the optimizer's)")
    add("--batch-size", type=int, metavar="N", help="rows per step (default: about a 25th of the training rows, "
        "a power of 2 from 32 to 256)")
    add("--schedule", choices=sorted(SCHEDULES), help=f"learning-rate schedule (default {d.schedule})")
    add("--max-epochs", type=int, metavar="N", help=f"default {d.max_epochs}")
    add("--patience", type=int, metavar="N", help="stop after this many epochs without a better validation "
        f"loss (default {d.patience})")
    add("--seed", type=int, metavar="N", help=f"default {d.seed}")


def read_config(path: str) -> dict:
    """A --config file: {"data": ..., "options": {...}} as `descend tune` writes in best.json (under "config"),
    or that object itself."""
    file = Path(path)
    if not file.is_file():
        raise DescendError(f"--config {path}: no such file")
    try:
        data = json.loads(file.read_text())
    except ValueError as err:
        raise DescendError(f"--config {path} is not valid JSON ({err})") from err
    data = data.get("config", data) if isinstance(data, dict) else data
    if not isinstance(data, dict) or not isinstance(data.get("options", {}), dict):
        raise DescendError(f"--config {path} must hold {{\"options\": {{...}}}} (as best.json from descend tune)")
    return data


def given_options(args: argparse.Namespace) -> dict:
    """The training options set by flags on the command line (and only those)."""
    return {name: getattr(args, name) for name in OPTION_NAMES if hasattr(args, name)}


def options_from(args: argparse.Namespace, config: dict | None = None) -> Options:
    """Options from a --config file's values overridden by the flags given, checked before any data is read."""
    values = dict((config or {}).get("options", {}))
    values.update(given_options(args))
    if getattr(args, "target", None):
        values["target"] = args.target
    if not values.get("target"):
        raise DescendError("no target column: pass --target COL (or a --config file that names it)")
    return Options.from_dict(values, "--config" if config else "the options")


def data_path(args: argparse.Namespace, config: dict | None = None) -> str:
    """DATA from the command line, else from the --config file."""
    path = args.data or (config or {}).get("data")
    if not path:
        raise DescendError("no data file: pass DATA (a CSV or Parquet file) or a --config file that names it")
    return path


def report(run: TabularRun) -> str:
    """The test table plus one sentence on what training bought over the closed-form solution and the constant;
    without a test set, the validation scores and a plain statement that the model was not tested."""
    rows = run.metrics["scores"]
    validation = run.metrics.get("validation")
    lines = [validation_line(validation)] if validation else []
    if not rows:
        return "\n".join(lines + ["not tested: --test-fraction 0 kept no test rows; score it on rows of your own "
                                   "with `descend predict`. Validation scores (these rows chose the epochs and the "
                                   "blend, so they flatter the model):", evaluate.table(validation["scores"])])
    lines += [f"test set: {run.metrics['test_rows']} rows, never seen during training", evaluate.table(rows)]
    (model_name, model), *others = rows.items()
    key = "rmse" if "rmse" in model else "log_loss"
    words = "RMSE" if key == "rmse" else "log-loss"
    for name, other in others:
        if other[key] > 0:
            change = 100 * (other[key] - model[key]) / other[key]
            word = "below" if change >= 0 else "above"
            lines.append(f"the trained model's {words} is {abs(change):.0f}% {word} {name}")
    return "\n".join(lines)


def validation_line(validation: dict) -> str:
    """How the model was chosen: the blend weight and the validation losses behind it."""
    losses = validation["losses"]
    return (f"model choice on {validation['rows']} validation rows ({validation['how']}): networks weighted "
            f"{validation['blend']:g}, linear model {1 - validation['blend']:g} (validation loss: networks "
            f"{losses['networks']:.4g}, linear {losses['linear']:.4g}, blend {losses['blend']:.4g})")


def saved(out: Path) -> str:
    """Where the run went and what the folder holds."""
    return f"saved to {out}/ ({', '.join(sorted(p.name for p in out.iterdir()))})"
