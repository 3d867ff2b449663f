"""The optimization doctor: instruments watch a run, rules turn what they saw into findings in plain words,
`lr_find` suggests a learning rate, and doctor="fix" rolls back divergence.

Finding codes (stable): see `CODES`. Findings are ordered root cause first.
"""
from .findings import CODES, Finding, load_findings, save_findings, summary
from .instruments import Readings
from .lr_find import LRFindResult, lr_find
from .rules import diagnose
from .watch import Doctor

__all__ = ["CODES", "Finding", "load_findings", "save_findings", "summary", "Readings", "LRFindResult",
           "lr_find", "diagnose", "Doctor"]
