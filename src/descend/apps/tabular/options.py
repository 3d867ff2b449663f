"""The options of tabular training, each declared once: its default, help line, check, how its flag's text is read,
and, for the settings `descend tune` searches, its range. Everything else is derived from these declarations:
the Options dataclass and its check, the command-line flags (descend.cli.tabular_options), which options flags set
(`FLAGGED`), which are lists in JSON (`LISTS`) and the search space of `descend tune` (`search_space`).
A new option is one `option(...)` line in Options plus its use.
"""
from __future__ import annotations

import difflib
import numbers
import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Sequence

import numpy as np

from ... import optim
from ...core import schedules
from ...core.checks import check_choice
from ...core.errors import DescendError
from ...fit import progress as progress_lib
from ..tracking.targets import parse_target
from ..tuning.space import Choice, Float, Int, Param
from .members import LARGE_TABLE_MEMBERS, LARGE_TABLE_ROWS, SLICE_MEMBERS
from .split import SPLITS, check_fraction
from .target import TASKS

MODELS = ("linear", "mlp")
SCHEDULES = {"constant": schedules.constant, "cosine": schedules.cosine, "warmup_cosine": schedules.warmup_cosine,
             "one_cycle": schedules.one_cycle}
TUNED_LR = 3e-3   # AdamW's learning rate, tuned on Bikeshare's validation rows
FLOAT32_MAX = float(np.finfo(np.float32).max)
REFITS = ("auto", "yes", "no")
REFIT_MAX_ROWS = 5000   # refit on training + validation rows by default up to this many training rows (or dates)


@dataclass(frozen=True)
class Search:
    """The range `descend tune` draws an option from: its parameters, and the option's value for one draw (by
    default the single parameter's value)."""

    space: dict[str, Param]
    value: Callable[[dict], Any] | None = None

    def draw(self, params: dict):
        return self.value(params) if self.value else params[next(iter(self.space))]


@dataclass(frozen=True)
class Option:
    """How one option is checked, set from the command line and searched. `help` may use {default} and {choices};
    `parse` reads a flag's text (raising DescendError); `choices` (a sequence, or a function giving one) limits
    the flag; `flag=False` keeps it off the command line; `listed` options are lists in JSON; a `switch` is a
    yes/no/unset option with a --name and a --no-name flag."""

    help: str
    check: Callable[[Any], object] | None = None
    parse: Callable[[str], Any] | None = None
    choices: Sequence | Callable[[], Sequence] | None = None
    metavar: str | None = None
    flag: bool = True
    listed: bool = False
    switch: bool = False
    search: Search | None = None

    def flag_choices(self) -> Sequence | None:
        return self.choices() if callable(self.choices) else self.choices


def option(default, help: str = "", **how) -> Any:
    """A field of Options with its declaration (see Option) in the field's metadata."""
    return field(default=default, metadata={"option": Option(help, **how)})


def learning_rate(text: str) -> float | str:
    """--lr: a positive number, or "auto" (lr_find picks it)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise DescendError(f"expected 'auto' or a positive number such as 0.003, got {text!r}") from None
    if not value > 0:
        raise DescendError(f"must be 'auto' or > 0, got {text!r}")
    return value


def thread_count(text: str) -> int | str:
    """--threads: "auto" or a positive whole number."""
    if text.strip().lower() == "auto":
        return "auto"
    if not text.strip().isdigit() or int(text) < 1:
        raise DescendError(f"expected 'auto' or a positive whole number such as 4, got {text!r}")
    return int(text)


def _check_threads(threads) -> None:
    if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise DescendError(f"--threads must be 'auto' or a positive integer, got {threads!r}")


def layer_sizes(text: str) -> tuple[int, ...]:
    """--hidden: comma-separated positive layer widths, e.g. 256,128."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise DescendError(f"expected widths like 256,128, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise DescendError(f"widths must be positive integers, got {text!r}")
    return sizes


def names(text: str) -> tuple[str, ...]:
    """--drop a,b: the column names, blanks removed."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def positive_int(flag: str) -> Callable[[Any], None]:
    def check(value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DescendError(f"{flag} must be a positive integer, got {value!r}")
    return check


def whole_number(flag: str) -> Callable[[Any], None]:
    def check(value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DescendError(f"{flag} must be a whole number >= 0, got {value!r}")
    return check


def _check_dayfirst(dayfirst) -> None:
    if dayfirst not in (None, True, False):
        raise DescendError(f"dayfirst must be true, false or null, got {dayfirst!r}")


def choice(kind: str, valid: Sequence | Callable[[], Sequence]) -> Callable[[Any], None]:
    return lambda value: check_choice(kind, value, valid() if callable(valid) else valid)


def _check_lr(lr) -> None:
    if lr not in (None, "auto") and (isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0):
        raise DescendError(f"--lr must be a positive number or 'auto', got {lr!r}")
    _within_float32("--lr", lr)


def _check_weight_decay(weight_decay) -> None:
    if weight_decay is not None and not weight_decay >= 0:
        raise DescendError(f"--weight-decay must be >= 0, got {weight_decay}")
    _within_float32("--weight-decay", weight_decay)


def _within_float32(flag: str, value) -> None:
    """The weights are float32: a larger factor overflows inside the optimizer."""
    if isinstance(value, numbers.Real) and not value <= FLOAT32_MAX:
        raise DescendError(f"{flag} {value:g} is beyond the largest float32 ({FLOAT32_MAX:.3g}); give a finite, "
                           "smaller value")


def _check_batch_size(batch_size) -> None:
    if batch_size is not None:   # None: chosen from the number of training rows
        positive_int("--batch-size")(batch_size)


def _check_members(members) -> None:
    if members is not None:   # None: chosen from the number of training rows
        positive_int("--members")(members)


def _check_hidden(hidden) -> None:
    if any(isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in hidden):
        raise DescendError(f"--hidden sizes must be positive integers, got {','.join(map(str, hidden))}")
    need, have = network_bytes(hidden), memory_bytes()
    if have and need > have:
        raise DescendError(f"--hidden {','.join(map(str, hidden))} needs at least {need / 1e9:.3g} GB to train "
                           f"(weights, gradients and optimizer state), more than this machine's {have / 1e9:.3g} "
                           "GB; use smaller widths")


def network_bytes(hidden: Sequence[int]) -> int:
    """A lower bound on the bytes training an mlp with these hidden widths takes: its hidden-to-hidden weights (at
    least one input and one output each way) in float32, four times over (weights, gradients, two Adam moments)."""
    widths = [1, *hidden, 1]
    return 16 * sum(a * b for a, b in zip(widths, widths[1:]))


def memory_bytes() -> int | None:
    """This machine's physical memory, where the system says."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def log_targets(text: str) -> tuple[str, ...]:
    """--log tensorboard:DIR or mlflow:URI, several comma-separated."""
    return tuple(parse_target(part) for part in text.split(",") if part.strip())


def _check_log(targets) -> None:
    for target in targets:
        if not isinstance(target, str):
            raise DescendError(f"--log must be texts such as 'tensorboard:runs/tb' or 'mlflow:sqlite:///mlflow.db', "
                               f"got {target!r}")
        parse_target(target)   # the package is asked for when training starts (a saved run's update needs none)


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise DescendError(f"--seed must be a whole number from 0 to 2**63-1, got {seed!r}")


def _check_target(target) -> None:
    if not isinstance(target, str) or not target:
        raise DescendError(f"--target must be a column name, got {target!r}")


def _check_time_column(column) -> None:
    if column is not None and not isinstance(column, str):
        raise DescendError(f"--time-column must be a column name, got {column!r}")


def column_names(flag: str) -> Callable[[Any], None]:
    def check(names) -> None:
        if not all(isinstance(name, str) for name in names):
            raise DescendError(f"{flag} must be column names, got {list(names)!r}")
    return check


def _check_columns(options: "Options") -> None:
    """Column options that contradict each other or the target."""
    both = sorted(set(options.categorical) & set(options.numeric))
    if both:
        raise DescendError(f"column(s) {', '.join(both)} are given to both --categorical and --numeric; name each in "
                           "one of them")
    for flag, names in (("--drop", options.drop), ("--categorical", options.categorical),
                        ("--numeric", options.numeric)):
        if options.target in names:
            raise DescendError(f"{flag} names the target {options.target!r}; the target is always the label")
    if options.time_column == options.target:
        raise DescendError(f"--time-column must be a column other than the target, got {options.time_column!r}")


def _layers(params: dict) -> list[int]:
    """`hidden` for a draw of width and depth: depth layers of width units."""
    return [params.get("width", 128)] * params.get("depth", 2)


@dataclass
class Options:
    """Everything `descend fit` can be told; the defaults are the ones tuned on Bikeshare's validation rows."""

    target: str = field(metadata={"option": Option("the column to predict", check=_check_target,
                                                   flag=False)})   # a flag of its own
    task: str = option("auto", "what to predict; auto: inferred from the target (default)",
                       check=choice("task", TASKS), choices=TASKS)
    model: str = option("mlp", "the networks: mlp (hidden layers, see --hidden) or linear (none); either way "
                        "blended with a ridge, Poisson or logistic regression (default {default})",
                        check=choice("model", MODELS), choices=MODELS)
    hidden: tuple = option((128, 64), "hidden layer widths of each mlp (default {default}; several are averaged)",
                           check=_check_hidden,
                           parse=layer_sizes, metavar="WIDTHS", listed=True,
                           search=Search({"width": Int(16, 512, log=True), "depth": Int(1, 4)}, _layers))
    split: str = option("time", "time: the last rows are the test set (default); random: test rows drawn at "
                        "random (see --split-seed)", choices=SPLITS)
    time_column: str | None = option(None, "sort rows by this column before a time split (default: the rows in "
                                     "file order)",
                                     check=_check_time_column, metavar="COL")
    dayfirst: bool | None = option(None, "dates such as 03/04/2001 are day/month/year (--no-dayfirst: month/day/"
                                   "year); needed only when no date in the data has a number above 12",
                                   check=_check_dayfirst, switch=True)
    test_fraction: float = option(0.2, "share of rows held out as the test set (default {default}); 0: no test "
                                  "set, every row trains or validates (see the rows below)",
                                  check=lambda value: check_fraction(value, "--test-fraction", allow_zero=True),
                                  parse=float, metavar="F")
    val_fraction: float = option(0.15, check=lambda value: check_fraction(value, "validation fraction"), flag=False)
    members: int | None = option(None, "networks trained side by side and averaged, where the last training rows "
                                 f"validate (default {SLICE_MEMBERS}, or {LARGE_TABLE_MEMBERS} above "
                                 f"{LARGE_TABLE_ROWS} training rows; 5 folds train 10, two on each, and a refit 10 "
                                 "more that join them; 3 chained blocks of time on a small dated table train 6, "
                                 "and a refit 6 in their place)", check=_check_members, parse=int, metavar="N")
    refit: str = option("auto", "train again on training + validation rows for the chosen epochs: auto (default) "
                        f"does it up to {REFIT_MAX_ROWS} training rows, and for any table with dates",
                        check=choice("refit", REFITS), choices=REFITS)
    drop: tuple = option((), "columns to leave out, comma-separated", check=column_names("--drop"), parse=names,
                         metavar="COLS", listed=True)
    categorical: tuple = option((), "columns to treat as categories, comma-separated",
                                check=column_names("--categorical"), parse=names, metavar="COLS",
                                listed=True)
    numeric: tuple = option((), "columns to treat as plain numbers, comma-separated",
                            check=column_names("--numeric"), parse=names, metavar="COLS",
                            listed=True)
    # AdamW at its tuned lr stays the tables' default: on all 12 suite tables x 3 seeds auto was worse overall
    # (geometric mean of the ratios to the best reference 0.994 against AdamW's 0.906; wine 2.1x, macro 1.18x,
    # co2 1.15x; RESULTS.md, "Tables nobody tuned for", third session)
    optimizer: str = option("adamw", "one of {choices} (default {default}; auto: fit chooses the algorithm and "
                            "its lr)", check=choice("optimizer", lambda: ("auto", *optim.available())),
                            choices=lambda: ("auto", *optim.general_purpose()), metavar="NAME")
    lr: float | str | None = option(None, f"learning rate, or auto to sweep for it inside the run (default: "
                                    f"{TUNED_LR:g} for adamw, or a third of it where that validates better on folds; "
                                    "auto's choice under auto; else the optimizer's own)", check=_check_lr,
                                    parse=learning_rate,
                                    search=Search({"lr": Float(1e-4, 3e-2, log=True)}))
    weight_decay: float | None = option(None, "weight decay of weight matrices (default: the optimizer's)",
                                        check=_check_weight_decay, parse=float, metavar="W",
                                        search=Search({"weight_decay": Float(1e-6, 1e-1, log=True)}))
    batch_size: int | None = option(None, "rows per step (default: about a 25th of the training rows, a power of 2 "
                                    "from 32 to 256)", check=_check_batch_size, parse=int, metavar="N",
                                    search=Search({"batch_size": Choice([32, 64, 128, 256, 512])}))
    schedule: str = option("cosine", "learning-rate schedule (default {default})", check=choice("schedule", SCHEDULES),
                           choices=sorted(SCHEDULES), search=Search({"schedule": Choice(sorted(SCHEDULES))}))
    max_epochs: int = option(100, "the most epochs each network trains; early stopping (--patience) usually ends "
                             "it sooner (default {default})", check=positive_int("--max-epochs"), parse=int,
                             metavar="N")
    patience: int = option(15, "stop after this many epochs without a better validation loss (default {default}); "
                           "on one validation slice at most this many: as many as the best epoch took, at least 5 "
                           "and 100 steps",
                           check=positive_int("--patience"), parse=int, metavar="N")
    seed: int = option(0, "initialization and batch order (default {default})", check=_check_seed,
                       parse=int, metavar="N")
    split_seed: int = option(0, "which rows a random split tests on (default {default})",
                             check=whole_number("--split-seed"), parse=int, metavar="N")
    threads: int | str = option("auto", "CPU threads for training: a number, or auto (default): one for small "
                                "networks, where more threads only wait on each other (see descend.fit.threads)",
                                check=_check_threads, parse=thread_count, metavar="N")
    log: tuple = option((), "also log training to an experiment tracker: tensorboard:DIR (event files) or "
                        "mlflow:URI (a tracking store or server); both comma-separated", check=_check_log,
                        parse=log_targets, metavar="TRACKER:WHERE", listed=True)
    progress: bool | int = option(True, check=progress_lib.check, flag=False)

    def check(self) -> "Options":
        """Raise on any bad value (naming the option and the valid choices) before work starts."""
        for name, declared in declarations().items():
            if declared.check is not None:
                declared.check(getattr(self, name))
        _check_columns(self)
        return self

    @classmethod
    def from_dict(cls, values: dict, where: str) -> "Options":
        """Options from JSON (a saved run's or a --config file's), lists read back as tuples; unknown keys raise."""
        known = set(declarations())
        unknown = sorted(set(values) - known)
        if unknown:
            meant = [near[0] for name in unknown if (near := difflib.get_close_matches(name, known, n=1, cutoff=0.75))]
            raise DescendError(f"{where} has unknown option(s) {', '.join(unknown)}; "
                               + (f"did you mean {', '.join(meant)}? " if meant else "")
                               + f"known: {', '.join(sorted(known))}")
        for name in LISTS:
            if name in values and not isinstance(values[name], (list, tuple)):
                raise DescendError(f"{where}: option {name!r} must be a list, got {values[name]!r}")
        options = cls(**{**values, **{k: tuple(v) for k, v in values.items() if k in LISTS}})
        try:
            return options.check()
        except TypeError as err:   # a string where a number belongs, say
            raise DescendError(f"{where}: an option has the wrong type ({err}); see descend fit --help") from None


def declarations() -> dict[str, Option]:
    """Each option's declaration, in the order of Options."""
    return {f.name: f.metadata["option"] for f in fields(Options)}


FLAGGED = tuple(name for name, declared in declarations().items() if declared.flag)   # set by flags
LISTS = tuple(name for name, declared in declarations().items() if declared.listed)   # lists in JSON


def search_space() -> dict[str, Param]:
    """What `descend tune` varies: the parameters of every searched option, in the order of Options."""
    return {key: param for declared in declarations().values() if declared.search
            for key, param in declared.search.space.items()}


def searched(params: dict) -> dict:
    """The options a draw of `search_space()` sets (only those whose parameters it holds)."""
    return {name: declared.search.draw(params) for name, declared in declarations().items()
            if declared.search and any(key in params for key in declared.search.space)}


def schedule_named(name: str) -> schedules.Schedule:
    """The learning-rate schedule for a name in SCHEDULES, with its default shape."""
    return SCHEDULES[check_choice("schedule", name, SCHEDULES)]()
