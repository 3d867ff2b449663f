"""The core every other layer builds on: the one step loop (`loop`), stopping rules (`stop`), schedules,
the metrics rules monitor, checks of user values, and the errors a user can cause.

May import: torch and the standard library only; nothing else of descend.
"""
__version__ = "0.1.0"
