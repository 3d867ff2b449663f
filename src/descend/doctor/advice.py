"""What rules share to phrase a fix where the user is: the run's own settings, the references it is compared
with, and a fix's words with the `descend fit` options that apply it (only options that exist, and
only under the command: a Python fit is told its fit keywords)."""
from __future__ import annotations

import math
import re
import statistics

import torch

from ..core.frontend import on_command_line
from .findings import FLAGS
from .instruments import DEAD_SAMPLES, Readings
from .reference import References, better, constant_reference, early_steps_gain, order_free_gain, references

MIN_STEPS = 20          # trend rules need at least this many steps
FIRST_ORDER = "adamw"   # the optimizer a fix names when the run's (L-BFGS) takes no lr
TYPICAL_UPDATE = 1e-3   # a step that moves the weights by about this share of their size is typical
SATURATING = {"Sigmoid", "Tanh", "Softsign", "Hardtanh", "Hardsigmoid", "LogSigmoid"}


def refs(r: Readings) -> References | None:
    """The references for this run's loss on its sample, fitted the first time a rule asks; none when the targets
    are the inputs (a linear model copies them: no yardstick for a model that must compress)."""
    if r.reconstruction:
        return None
    if r.references is None and r.sample is not None and r.model_losses is not None:
        r.references = references(r.judged_loss or r.settings.get("loss"), r.sample, constant=constant_losses(r))
    return r.references if r.model_losses is not None else None


def early_steps_matter(r: Readings) -> bool | None:
    """Whether the first quarter of each sequence's steps adds to what the later steps say of the target (see
    reference.early_steps_gain); None when unknown."""
    if r.sample is None or r.reconstruction:
        return None
    return early_steps_gain(r.judged_loss or r.settings.get("loss"), r.sample)


def order_free_signal(r: Readings) -> bool | None:
    """Whether the target says anything that a model reading each sequence as a set could learn (see
    reference.order_free_gain); None when unknown."""
    if r.sample is None or r.reconstruction:
        return None
    return order_free_gain(r.judged_loss or r.settings.get("loss"), r.sample)


def constant_losses(r: Readings):
    """The best constant prediction's loss per comparison row (nothing is fitted), worked out the first time a rule
    asks (four rules and the references do); None when unknown."""
    if r.sample is None or r.model_losses is None:
        return None
    if r.constant_losses is None:
        r.constant_losses = constant_reference(r.judged_loss or r.settings.get("loss"), r.sample)
    return r.constant_losses


def with_flags(words: str, change: dict) -> str:
    """`words`, followed by the `descend fit` options that make `change` where such options exist, while the run
    was started by the command; a Python fit has no flags, so there the fit keywords of `change` that `words` leave
    unnamed follow instead (an lr fix under optimizer="auto" also sets the optimizer)."""
    if not on_command_line():
        unnamed = [f"{k}={_in_code(v)}" for k, v in change.items() if k in FLAGS and not _names(words, k)]
        return f"{words} ({', '.join(unnamed)})" if unnamed else words
    flags = [f"{FLAGS[k]} {typed(v)}" for k, v in change.items() if k in FLAGS]
    return f"{words} (descend fit: {' '.join(flags)})" if flags else words


def _in_code(value) -> str:
    """A value as a Python fit takes it: a quoted string ('adamw'), else as typed (0.01)."""
    return repr(value) if isinstance(value, str) else typed(value)


def _names(words: str, keyword: str) -> bool:
    """Whether `words` name the fit keyword (as a whole word in any case: "lr 0.01", "Patience(10)")."""
    return re.search(rf"\b{keyword}\b", words, re.IGNORECASE) is not None


def train_longer(r: Readings, change: dict, words: str = "train longer") -> str:
    """`words` with the longer limit in `change`, as it applies where the run was started: the `descend fit` flag on
    the command line; in Python the fit keyword, and with a run_dir a new one, since a resume finishes a run at the
    length it was set."""
    unit, value = next(iter(change.items()))
    advice = f"{words} ({unit}={value})"
    if not on_command_line() and setting(r, "run_dir") is not None:
        advice += " in a new run_dir (resume=True finishes a run at the length it was set)"
    return with_flags(advice, change)


def typed(value) -> str:
    """A value as a user types it, on the command line or in code: 0.01, 0.00024, 1e-05 (two significant
    digits), so that advice in words and its flags read alike."""
    if isinstance(value, float):
        return f"{value:.2g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def setting(r: Readings, name: str, default=None):
    """A fit argument of this run (None and missing both give `default`)."""
    value = r.settings.get(name)
    return default if value is None else value


def optimizer_name(r: Readings) -> str | None:
    """The optimizer the run trained with: what optimizer="auto" chose, else the registry name it was given (an
    optimizer instance gives its class name in lower case); None when unknown."""
    given = r.settings.get("optimizer")
    if r.auto_optimizer is not None or given == "auto":
        return r.auto_optimizer
    return given.lower() if isinstance(given, str) else (type(given).__name__.lower() if given is not None else None)


def line_search(r: Readings) -> bool:
    """Whether the run's optimizer sets its own step sizes by a line search (L-BFGS): its recorded lr is no step
    size, its steps cannot overshoot the way a fixed lr does, and no lr fix applies to it."""
    return optimizer_name(r) == "lbfgs"


def base_lr(r: Readings) -> float:
    """The lr a user would set to train as this run did: the lr auto's sweep picked, else the largest lr of the
    recorded steps (a schedule's peak, not its decayed end); NaN when none was recorded."""
    if r.auto_lr is not None:
        return r.auto_lr
    lrs = [x["lr"] for x in r.history if math.isfinite(x.get("lr", math.nan))]
    return max(lrs) if lrs else math.nan


def lr_change(r: Readings, lr: float) -> dict:
    """The change that trains at `lr`. Under optimizer="auto" it names the optimizer as well (auto's first-order
    pick; AdamW where auto chose a line search, which takes no lr), so the fix trains as it says whatever auto
    would choose next time."""
    change: dict = {"lr": lr}
    if r.auto_optimizer is not None or r.settings.get("optimizer") == "auto":
        change["optimizer"] = r.auto_optimizer if r.auto_optimizer not in (None, "lbfgs") else FIRST_ORDER
    return change


def restores_best(r: Readings) -> bool:
    """Whether a stop rule of the run puts back its best weights at the end: the caller's, or the patience on
    val_loss that auto's L-BFGS adds (converge.py), or the best evaluation auto's first-order run keeps (best.py)."""
    return "val_patience" in r.auto_limit or "keeps_best" in r.auto_limit or any(getattr(rule, "restore_best", False)
                                                 for rule in setting(r, "stop", ()))


def longer(r: Readings, factor: int = 4) -> dict:
    """The change that lets the run take `factor` times as many steps, in the unit the run was limited by."""
    steps = r.history[-1]["step"] if r.history else 0
    if setting(r, "max_steps") is not None:
        return {"max_steps": int(factor * max(steps, 1))}
    ran = max(r.history[-1].get("epoch", 1), 1) if r.history else 1
    return {"max_epochs": int(factor * setting(r, "max_epochs", ran))}


def finite(values) -> list[float]:
    """The finite values (or [inf] when there are none, so min() still works)."""
    return [v for v in values if math.isfinite(v)] or [math.inf]


def loss_ends(r: Readings) -> tuple[float, float]:
    """Mean raw training loss over the first and the last tenth of the run (at least 5 steps each): batch noise
    does not move these the way it moves one step's loss, or an average that starts from one batch."""
    raw = [loss for _, loss in r.finite("loss")]
    k = max(5, len(raw) // 10)
    return statistics.fmean(raw[:k]), statistics.fmean(raw[-k:])


def median_update_ratio(r: Readings) -> float | None:
    """The median over sampled steps and layers of |weight change| / |weight| in one step."""
    values = [v for sample in r.update_ratios for v in sample.values() if math.isfinite(v)]
    return statistics.median(values) if values else None


DEAD = 0.5   # a ReLU layer with over this share of its units silent on every recent sampled batch has lost them


def most_dead(r: Readings) -> tuple[str, float, int] | None:
    """(layer, share of its units, units) of the ReLU layer (4 units or more) with the largest share over DEAD of
    units that output zero for every example of its last DEAD_SAMPLES sampled batches; None when no layer has."""
    worst = None
    for name, samples in r.dead.items():
        recent = torch.stack(samples[-DEAD_SAMPLES:])
        if recent.shape[1] < 4:
            continue
        dead = 1.0 - recent.any(dim=0).double().mean().item()
        if dead > DEAD and (worst is None or dead > worst[1]):
            worst = (name, dead, recent.shape[1])
    return worst


def dead_from_start(r: Readings, layer: str) -> bool:
    """Whether over DEAD of `layer`'s units were already silent on the first sampled batch (the start's doing, not
    the steps')."""
    first = r.dead_first.get(layer)
    return first is not None and 1.0 - first.double().mean().item() > DEAD


SHORTFALL = 0.1   # a model that misses over this share of what the reference gains on a constant falls short


def no_better_than_constant(r: Readings) -> bool:
    """Whether the trained model fails to beat the best constant prediction by SHORTFALL of its loss on the
    comparison rows (beyond noise): whatever a reference could do, such a model learnt next to nothing."""
    constant = constant_losses(r)
    return constant is not None and not better(r.model_losses, constant, by=SHORTFALL)


def linear_model(r: Readings) -> bool:
    """Whether the model is affine in its inputs: as tested on comparison rows when it has no activation module
    (a GRU or a forward that calls F.relu has none and is not), else False."""
    return r.affine if r.affine is not None else not r.activations


ADAPTIVE = ("adam", "rmsprop", "adagrad", "lion")   # optimizers whose step moves each weight by about its lr


def adaptive(name: str | None) -> bool:
    """Whether the named optimizer (an `optimizer_name`) scales each weight's step by its own gradient history, so
    that a constant factor on the loss leaves its steps about the same (AdamW, NAdam, Adam's flat kernel...)."""
    return bool(name) and any(kind in name for kind in ADAPTIVE)


COARSE_LR = 0.03   # 30x Adam's usual 1e-3: a step that size is coarser than nearly every weight's own scale


def coarse_adaptive_lr(r: Readings) -> bool:
    """Whether the caller set an adaptive optimizer (Adam and its kin, RMSprop, Adagrad, Lion) to lr COARSE_LR or
    above for a model that is not affine in its inputs. Each of its steps moves every weight by about the lr
    whatever the gradient's size, so such steps overshoot the weights of a network and it settles short of what it
    can fit; a higher lr is never the fix there. Not for auto's pick (its sweep saw that lr train) nor for a linear
    model (a convex loss takes such steps well)."""
    name = optimizer_name(r)
    return r.auto_lr is None and adaptive(name) and base_lr(r) >= COARSE_LR and not linear_model(r)


LEFT_CONSTANT = 0.02   # the training loss ended this share below a constant prediction's: the steps fit the rows


def can_memorize(r: Readings) -> bool:
    """Whether the model has a nonlinearity (not affine in its inputs) and at least as many trainable parameters
    as training rows (an upper bound on them: steps per epoch x batch size): enough to fit even random labels
    (Zhang et al. 2017), so capacity is not what holds it back. False when the row count is unknown."""
    rows = (r.steps_per_epoch or 0) * (setting(r, "batch_size") or 0)
    return not linear_model(r) and rows > 0 and r.frozen[1] - r.frozen[0] >= rows


def trains_at_constant(r: Readings) -> bool:
    """Whether the training loss ended (its last tenth, see loss_ends) within LEFT_CONSTANT of a constant
    prediction's loss on the training target, or above it: the model learnt nothing it keeps, on the rows it
    trains on. False when the constant's loss is unknown or no step had a finite loss."""
    base = r.target_baseline
    if base is None or base <= 0 or not any(math.isfinite(x["loss"]) for x in r.history):
        return False
    return loss_ends(r)[1] > (1 - LEFT_CONSTANT) * base


def stuck_at_constant(r: Readings) -> bool:
    """Whether a model able to memorize its training rows (not affine in its inputs, with at least as many
    trainable parameters as rows) ended, on those rows, at a constant prediction's loss (see trains_at_constant)
    while its lr was not picked by a sweep. Such a model fits even random labels once its steps work (Zhang et
    al. 2017), so its loss says nothing yet about the data or its capacity: a plateau under too low an lr looks
    the same. False for affine models (a convex loss has no plateau), under auto's sweep (it raised the lr until
    the loss rose) and when the constant's loss or the row count is unknown."""
    return r.auto_lr is None and can_memorize(r) and trains_at_constant(r)


def worse_than_reference(r: Readings, own_kind: bool = False) -> bool | None:
    """Whether the trained model clearly falls short of the better linear reference on the comparison rows: worse
    beyond noise, and missing over SHORTFALL of the reference's gain on a constant prediction; None when there
    is no reference. With `own_kind`, an affine model is held to the linear model alone (random features show
    what its form cannot reach, not what its training missed). References are fitted only when the model's loss
    leaves room for such a shortfall."""
    constant = constant_losses(r)
    if constant is None:
        return None
    if float(r.model_losses.mean()) <= SHORTFALL * float(constant.mean()):
        return False   # short by SHORTFALL of any reference's gain needs a loss above SHORTFALL x the constant's
    found = refs(r)
    best = found.best() if found is not None else None
    if own_kind and best is not None and linear_model(r):
        best = found.linear
    if best is None:
        return None
    gain = float(found.constant.mean() - best.mean())
    missed = float(r.model_losses.mean() - best.mean())
    return better(best, r.model_losses) and gain > 0 and missed > SHORTFALL * gain
