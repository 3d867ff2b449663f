"""The command-line face of tabular training, shared by `descend fit`, `lr-find`, `tune` and `demo`: options
(from flags, and from a --config file), and what is printed."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

from ..apps.tabular import evaluate
from ..apps.tabular.options import FLAGGED, Options, declarations, learning_rate
from ..apps.tabular.run import TabularRun
from ..core.errors import DescendError

DEFAULTS = Options(target="")
REPORT = "report.html"   # what `descend report DIR` writes by default
CONFIG_KEYS = {"data", "options"}   # what a --config file may hold (inside best.json's "config")


def flag(name: str) -> str:
    """The command-line flag of option `name`: --batch-size for batch_size."""
    return "--" + name.replace("_", "-")


def _reader(parse: Callable[[str], object]) -> Callable[[str], object]:
    """`parse` as an argparse type: its DescendError becomes argparse's one-line error naming the flag."""
    def read(text: str):
        try:
            return parse(text)
        except DescendError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    read.__name__ = parse.__name__
    return read


def fixed_learning_rate(text: str) -> float:
    """A positive number (for commands where lr_find has nothing to sweep)."""
    value = _reader(learning_rate)(text)
    if value == "auto":
        raise argparse.ArgumentTypeError("expected a positive number such as 0.001 ('auto' is for descend fit)")
    return value


def add_data_arguments(parser: argparse.ArgumentParser, data_optional: bool = False) -> None:
    """DATA and --target (both may come from --config when `data_optional`)."""
    if data_optional:
        parser.add_argument("data", nargs="?", default=None, help="CSV (optionally .gz) or Parquet file, one row "
                            "per example (may come from --config)")
        parser.add_argument("--target", default=None, metavar="COL", help="the column to predict (may come from "
                            "--config)")
    else:
        parser.add_argument("data", help="CSV (optionally .gz) or Parquet file, one row per example")
        parser.add_argument("--target", required=True, metavar="COL", help=declarations()["target"].help)


def add_training_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Every training option of `descend fit` but the flags in `skip`, defaults shown in --help. Flags left out
    stay out of the parsed namespace, so a --config file's values are kept unless a flag is given."""
    for name in FLAGGED:
        declared, default = declarations()[name], getattr(DEFAULTS, name)
        if flag(name) in skip:
            continue
        if declared.switch:
            parser.add_argument(flag(name), default=argparse.SUPPRESS, action=argparse.BooleanOptionalAction,
                                help=declared.help)
            continue
        choices = declared.flag_choices()
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        parser.add_argument(flag(name), default=argparse.SUPPRESS, choices=choices, metavar=declared.metavar,
                            type=_reader(declared.parse) if declared.parse else None,
                            help=declared.help.format(default=shown, choices=", ".join(choices or ())))


def read_config(path: str, flags: frozenset[str] = frozenset()) -> dict:
    """A --config file: {"data": ..., "options": {...}} as `descend tune` writes in best.json (under "config"),
    or that object itself. `flags` are the command's own (out, nproc): named as such when the file holds them."""
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
    unknown = sorted(set(data) - CONFIG_KEYS)
    options = [key for key in unknown if key in declarations()]
    if unknown and not options:   # --out, --nproc: for the command line, never a file
        raise DescendError(f"--config {path} has unknown key(s) {', '.join(map(repr, unknown))}; it may hold only "
                           '"data" (the table) and "options" (as best.json from descend tune)'
                           + _not_options(unknown, flags))
    if unknown:   # {"target": ..., "max_epochs": ...}: options written at the top level
        moved = {**({"data": data["data"]} if "data" in data else {}), "options": {k: data[k] for k in options}}
        raise DescendError(f"--config {path} has options at the top level ({', '.join(map(repr, options))}); they "
                           f'go inside "options", beside "data": {json.dumps(moved)}'
                           + _not_options([key for key in unknown if key not in options], flags))
    misplaced = sorted(key for key in data.get("options", {}) if key in flags and key not in declarations())
    if misplaced:   # {"options": {"out": ...}}: a flag of the command, not a training option
        raise DescendError(f"--config {path} has {', '.join(map(repr, misplaced))} in \"options\""
                           + _not_options(misplaced, flags))
    if not isinstance(data.get("data", ""), str):
        raise DescendError(f"--config {path}: \"data\" must be the path of a CSV or Parquet file, got {data['data']!r}")
    return data


def _not_options(keys: list[str], flags: frozenset[str]) -> str:
    """What to do with a --config file's keys that are no option: a command's flag goes on its command line (as
    --out), anything else out of the file."""
    return "".join(f"; {key!r} is a flag: give {flag(key)} on the command line, not in the file" if key in flags
                   else f"; {key!r} is neither an option nor a key of the file: drop it" for key in keys)


def given_options(args: argparse.Namespace) -> dict:
    """The training options set by flags on the command line (and only those)."""
    return {name: getattr(args, name) for name in FLAGGED if hasattr(args, name)}


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
    """How the model was chosen, the test table, then a sentence per baseline saying whether the trained model did
    better or worse; without a test set, the validation scores and a plain statement that the model was not
    tested."""
    rows = run.metrics["scores"]
    validation = run.metrics.get("validation")
    lines = [validation_line(validation)] if validation else []
    if not rows:
        return "\n".join(lines + ["not tested: --test-fraction 0 kept no test rows; score it on rows of your own "
                                   "with `descend predict`. Validation scores (these rows chose the epochs and the "
                                   "blend, so they flatter the model):",
                                   evaluate.table(_validation_scores(validation))])
    lines += [f"test set: {run.metrics['test_rows']} rows, never seen during training", evaluate.table(rows)]
    lines += [f"the trained model {line}" for line in evaluate.in_words(rows)]
    return "\n".join(lines)


def _validation_scores(validation: dict) -> dict:
    """The validation rows' scores per model, named as the model choice line names them: where the networks
    learned the linear model's residuals, their row is the linear model plus them, and the blend is the chosen."""
    if not validation.get("residual"):
        return validation["scores"]
    names = {"blend": "chosen", "networks": "linear + networks"}
    return {names.get(model, model): scores for model, scores in validation["scores"].items()}


def validation_line(validation: dict) -> str:
    """How the model was chosen: the blend weight and the validation losses behind it."""
    losses, weight = validation["losses"], validation["blend"]
    if validation.get("residual"):   # the networks learned what the linear model leaves (a table with dates)
        chosen = f"the linear model plus {weight:g} x the networks, which learned its residuals"
        names = ("with the networks", "linear", "chosen")
    else:
        chosen = f"networks weighted {weight:g}, linear model {1 - weight:g}"
        names = ("networks", "linear", "blend")
    scores = ", ".join(f"{name} {losses[key]:.4g}" for name, key in zip(names, ("networks", "linear", "blend")))
    rows = (f"{validation['rows']} validation rows (held out from the networks' training)"
            if validation["how"] == "slice" else
            f"{validation['rows']} training rows, each scored by the networks that did not learn from it "
            f"({validation['how']})")
    tempered = (f"; then logits divided by a temperature of {validation['temperature']:g} (validation loss "
                f"{losses['tempered']:.4g})" if validation.get("temperature", 1.0) != 1.0 else "")
    return f"model choice on {rows}: {chosen} (validation loss: {scores}){tempered}"


def saved(out: Path) -> str:
    """Where the run went and what the folder holds."""
    return f"saved to {out}/ ({', '.join(sorted(p.name for p in out.iterdir() if not p.name.startswith('.')))})"
