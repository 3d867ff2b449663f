"""The optimization doctor: instruments watch a run, rules turn what they saw into findings in plain words, and
doctor="fix" rolls back divergence. The code that trains hands the doctor what it reads of the data (a sample,
the validation size), so the doctor never looks into it.

Finding codes (stable): see `CODES`. Findings are ordered root cause first.

May import: core.
"""
from .findings import CODES, Finding, Findings, load_findings, save_findings, summary
from .instruments import Readings
from .diagnose import diagnose
from .watch import SETTINGS, Doctor, check_mode

__all__ = ["CODES", "Finding", "Findings", "load_findings", "save_findings", "summary", "Readings", "diagnose", "Doctor",
           "check_mode", "SETTINGS"]
