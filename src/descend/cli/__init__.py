"""`descend ...`: thin command line. Each subcommand lives in descend.cli.commands.<name> and is found automatically.

A command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`. User errors
(DescendError, ValueError/TypeError from descend) print one line on stderr and exit with status 2.

May import: every layer below it: core, optim, doctor, runs, fit, minimize, apps.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from ..core.errors import DescendError, DescendTypeError
from . import commands


def _command_modules() -> dict:
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if not info.name.startswith("_"):
            found[info.name.replace("_", "-")] = importlib.import_module(f"{commands.__name__}.{info.name}")
    return dict(sorted(found.items()))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage dump becomes one line, exit 2
        print(f"descend: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="descend", description="Gradient-based optimization as a complete tool.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in _command_modules().items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP,
                                 epilog=getattr(module, "EPILOG", None))   # a command's rows, outputs, ...
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except (DescendError, DescendTypeError, FileNotFoundError) as err:
        print(f"descend: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("descend: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `descend predict ... | head` closed the pipe: stop without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
