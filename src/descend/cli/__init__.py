"""`descend ...`: thin command line. Each subcommand lives in descend.cli.commands.<name> and is found automatically.

A command module defines `HELP` (one line, a string literal: listing the commands reads it from the source),
`add_arguments(parser)` and `run(args) -> int`; only the command that runs is imported, so `descend --help` loads
neither torch nor pandas. User errors (DescendError, ValueError/TypeError from descend) print one line on stderr
and exit with status 2.

May import: every layer below it: core, optim, doctor, runs, fit, minimize, apps.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import os
import pkgutil
import re
import shlex
import sys
import warnings
from pathlib import Path

from ..core.errors import DescendError, DescendTypeError
from ..core.frontend import command_line
from . import commands


def _command_files() -> dict[str, str]:
    """Each subcommand's name and module name, found without importing any of them."""
    return dict(sorted((info.name.replace("_", "-"), info.name) for info in pkgutil.iter_modules(commands.__path__)
                       if not info.name.startswith("_")))


def _help_line(module_name: str) -> str:
    """A command module's HELP, read from its source: listing the commands imports none of them (and so none of
    torch, pandas or Optuna), which keeps `descend --help` instant."""
    path = Path(commands.__path__[0]) / f"{module_name}.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "HELP" for t in node.targets):
            return ast.literal_eval(node.value)
    return ""


class _Parser(argparse.ArgumentParser):
    """argparse's parser with one-line errors and no abbreviated flags: `--test 0.3` is refused with the flag meant
    (--test-fraction) instead of silently taken for it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def error(self, message: str):  # argparse's usage dump becomes one line, exit 2
        print(f"descend: error: {_typed(message)}", file=sys.stderr)
        raise SystemExit(2)


_KINDS = {"int": "a whole number", "float": "a number (such as 0.5 or 1e-3)"}


def _typed(message: str) -> str:
    """argparse's "invalid int value: '1.5'" in words a user reads without knowing Python's types: "expected a
    whole number, got '1.5'"."""
    found = re.search(r"invalid (int|float) value: (.*)$", message)
    return message if found is None else message[:found.start()] + f"expected {_KINDS[found[1]]}, got {found[2]}"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `descend`: every command listed, and the arguments of `command` (all of them when None).
    Building a command's arguments imports its module, and that module what the command uses."""
    parser = _Parser(prog="descend", description="Gradient-based optimization as a complete tool.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in _command_files().items():
        if command is not None and name != command:
            sub.add_parser(name, help=_help_line(module_name))   # listed; its arguments are read when it runs
            continue
        module = importlib.import_module(f"{commands.__name__}.{module_name}")
        parser_of_command = sub.add_parser(name, help=module.HELP, description=module.HELP,
                                           epilog=getattr(module, "EPILOG", None))   # a command's rows, outputs, ...
        module.add_arguments(parser_of_command)
        parser_of_command.set_defaults(handler=module.run)
    return parser


def _command_named(argv: list[str]) -> str:
    """The command the arguments ask for ('' for none, as in `descend --help`): the first one not an option."""
    return next((arg for arg in argv if not arg.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if _command_named(argv) and _command_named(argv) not in _command_files():
        return _error(_unknown_command(_command_named(argv)), 2)
    try:
        parser = build_parser(_command_named(argv))   # imports the command, torch with it: seconds on a busy machine
    except KeyboardInterrupt:
        return _interrupted()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        hint = _unquoted_value(parser, args, argv, unknown) or _close_flag(parser, args, unknown)
        parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings(), command_line():   # both restored when the command ends (main may run again)
            warnings.showwarning = _warning_line
            _check_run_folder(args)
            return int(args.handler(args) or 0)
    except (DescendError, DescendTypeError) as err:
        return _error(str(err), 2)
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:  # `descend predict ... | head` closed the pipe: stop without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as err:   # a file that cannot be read or written: the user's to fix
        return _error(f"{err.filename + ': ' if err.filename else ''}{err.strerror or err}", 2)
    except MemoryError:
        return _error("out of memory: use a smaller model (--hidden), batch size or table", 2)
    except Exception as err:  # a bug: still one line; DESCEND_TRACEBACK=1 shows where
        if os.environ.get("DESCEND_TRACEBACK"):
            raise
        return _error(f"internal error ({type(err).__name__}: {_first_line(err)}); please report it with the "
                      "traceback that DESCEND_TRACEBACK=1 shows", 1)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning that reaches the command line as one line on stderr, `warning: ...`: the file, line number
    and source line Python adds name descend's code, which tells a user of the command nothing."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def _command_flags(parser: argparse.ArgumentParser, command: str) -> list[argparse.Action]:
    """The actions (flags and positionals) of one command's own parser."""
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return commands.choices[command]._actions


def _unquoted_value(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str],
                    unknown: list[str]) -> str:
    """"; if 'Sale Price' is one value, quote it: --target 'Sale Price'" when the first leftover word follows a
    flag's value: the shell split a value with spaces (a column name) into several arguments."""
    command = getattr(args, "command", None)
    word = next((arg for arg in unknown if not arg.startswith("-")), None)
    if command is None or word is None or word not in argv[2:]:
        return ""
    at = argv.index(word, 2)
    flag, value = argv[at - 2], argv[at - 1]
    actions = _command_flags(parser, command)
    if not any(flag in action.option_strings and action.nargs != 0 for action in actions) or value.startswith("-"):
        return ""
    words = [value]
    for arg in argv[at:]:
        if arg.startswith("-") or arg not in unknown:
            break
        words.append(arg)
    whole = " ".join(words)
    return f"; if {whole!r} is one value, quote it: {flag} {shlex.quote(whole)}"


def _close_flag(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]) -> str:
    """'; did you mean --max-epochs?' for a mistyped or another tool's flag (--epochs), from the command's own
    flags: the closest spelling, or the one flag whose words hold the given one (--out for --output)."""
    given = next((arg.split("=", 1)[0][2:].replace("_", "-") for arg in unknown if arg.startswith("--")), None)
    command = getattr(args, "command", None)
    if not given or command is None:
        return ""
    words = [flag[2:] for action in _command_flags(parser, command) for flag in action.option_strings
             if flag.startswith("--")]
    close = difflib.get_close_matches(given, words, n=1, cutoff=0.8)
    holding = [word for word in words if given in word.split("-") or given.startswith(word)]
    found = close or (holding if len(holding) == 1 else [])
    return f"; did you mean --{found[0]}?" if found else f"; `descend {command} --help` lists its flags"


def _check_run_folder(args: argparse.Namespace) -> None:
    """Refuse what is no run folder where a command takes one, before the command reads anything: a run not
    finished yet (DIR.partial) is told how to finish it, two arguments swapped (`descend predict new.csv runs/x`)
    the order, a data file alone what to give."""
    run_dir, data = getattr(args, "run_dir", None), getattr(args, "data", None)
    if run_dir is None:
        return
    partial = Path(run_dir).with_name(f"{Path(run_dir).name}.partial")
    if not Path(run_dir).exists() and partial.is_dir():
        so_far = f"; `descend report {partial}` draws it so far" if args.command == "report" else ""
        raise DescendError(f"{run_dir} does not exist yet: its run is in {partial}, unfinished (interrupted, or "
                           f"still training); `descend fit ... --out {run_dir} --resume` finishes it{so_far}")
    if Path(run_dir).is_dir() and not (Path(run_dir) / "config.json").is_file():
        _check_choosing_lr(Path(run_dir), args.command)
    if not Path(run_dir).is_file():
        return
    if data is not None and Path(data).is_dir():
        raise DescendError(f"{run_dir} is a file and {data} a folder: the run folder comes first, "
                           f"{shlex.join(['descend', args.command, data, run_dir])}")
    raise DescendError(f"{run_dir} is a file, not a run folder; give the folder that `descend fit --out` (or "
                       "fit(run_dir=...)) wrote")


def _check_choosing_lr(folder: Path, command: str) -> None:
    """Refuse a tables run folder stopped while its first run tried learning rates: it has no record of its own
    yet, only one per lr tried (in lr_candidates/), so say so, how to continue it and which record can be read."""
    from ..apps.tabular import subruns   # here only: the tables package is not loaded for every command
    records = subruns.candidate_records(folder)
    if not records:
        return
    final = folder.with_name(folder.name.removesuffix(".partial"))
    latest = max(records, key=lambda record: (record / "config.json").stat().st_mtime)
    so_far = f"; `descend report {latest}` draws the latest try so far" if command == "report" else ""
    tried = ", ".join(record.name for record in records)
    raise DescendError(f"{folder} holds no run of its own yet: it was stopped while its first run tried learning "
                       f"rates ({tried} recorded in {folder / subruns.CANDIDATES}); `descend fit ... --out {final} "
                       f"--resume` continues it{so_far}")


def _unknown_command(name: str) -> str:
    """'unknown command 'fitt'; did you mean fit?' (Python 3.11's argparse lists the commands but suggests none)."""
    known = list(_command_files())
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return (f"unknown command {name!r}; " + (f"did you mean {close[0]}?" if close else f"commands: {', '.join(known)}"))


def _interrupted() -> int:
    """Ctrl-C: one line and the shell's exit code for it (a run in progress has said how to resume already)."""
    print("descend: interrupted", file=sys.stderr)
    return 130


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:300] if lines else "no detail"


def _error(message: str, code: int) -> int:
    """Print one line on stderr (a message of several lines is joined) and return the exit code."""
    print("descend: error: " + " ".join(message.split()), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
