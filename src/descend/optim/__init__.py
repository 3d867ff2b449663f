"""Optimizers: one registry over torch.optim's algorithms and descend's own; every one is a torch.optim.Optimizer.

May import: core.
"""
from .registry import Entry, available, create, entry, general_purpose, register
from .flat_adamw import AdamWFlat
from .lamb import LAMB
from .lion import Lion
from .modes import eval_mode, evaluation_weights, train_mode
from .prodigy import Prodigy
from .routing import Routed, module, name, ndim, other, route, shape
from .schedule_free import ScheduleFreeAdamW, ScheduleFreeAdamWPaper, ScheduleFreeSGD
from .soap import SOAP
from .wrappers import EMA, GradClip, Lookahead

__all__ = ["Entry", "available", "create", "entry", "general_purpose", "register", "AdamWFlat", "LAMB", "Lion",
           "Prodigy", "SOAP", "ScheduleFreeAdamW", "ScheduleFreeAdamWPaper", "ScheduleFreeSGD", "EMA", "GradClip",
           "Lookahead", "Routed", "route", "name", "ndim", "shape", "module", "other", "eval_mode", "train_mode",
           "evaluation_weights"]
