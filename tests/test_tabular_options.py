"""Each tabular option is declared once (apps/tabular/options.py); the Options check, the flags of `descend fit`,
which options flags set, the lists in JSON and the search space of `descend tune` all come from that declaration."""
import argparse
import dataclasses

import pytest

from descend.apps.tabular.options import FLAGGED, LISTS, Options, declarations, search_space, searched
from descend.apps.tuning.tabular import TABULAR_SPACE
from descend.cli.commands.tune import SEARCHED
from descend.cli.tabular_options import add_training_arguments, flag
from descend.core.errors import DescendError


def parser(skip=()):
    built = argparse.ArgumentParser()
    add_training_arguments(built, skip=skip)
    return built


def test_every_flagged_option_has_its_flag_and_nothing_else_does():
    flags = {a.option_strings[0] for a in parser()._actions if a.option_strings and a.dest != "help"}
    assert flags == {flag(name) for name in FLAGGED}
    assert "target" not in FLAGGED and "progress" not in FLAGGED and "val_fraction" not in FLAGGED
    assert set(LISTS) == {"hidden", "drop", "categorical", "numeric", "log"}


def test_a_flag_reads_its_text_with_the_declared_parser_and_refuses_in_one_line(capsys):
    args = parser().parse_args(["--hidden", "64,32", "--lr", "auto", "--batch-size", "32", "--drop", "a, b"])
    assert (args.hidden, args.lr, args.batch_size, args.drop) == ((64, 32), "auto", 32, ("a", "b"))
    with pytest.raises(SystemExit):
        parser().parse_args(["--hidden", "64,0"])
    assert "argument --hidden: widths must be positive integers, got '64,0'" in capsys.readouterr().err


@pytest.mark.parametrize("name, bad, words", [("batch_size", 0, "--batch-size must be a positive integer"),
                                              ("lr", -1.0, "--lr must be a positive number or 'auto'"),
                                              ("model", "tree", "unknown model 'tree'"),
                                              ("test_fraction", 0.95, "--test-fraction must be a fraction")])
def test_the_check_is_the_declared_one(name, bad, words):
    with pytest.raises(DescendError, match=words):
        Options(target="y", **{name: bad}).check()
    assert declarations()[name].check is not None


def test_the_search_space_and_the_skipped_flags_come_from_the_declarations():
    assert TABULAR_SPACE == search_space()
    assert list(TABULAR_SPACE) == ["width", "depth", "lr", "weight_decay", "batch_size", "schedule"]
    assert set(SEARCHED) == {"--hidden", "--lr", "--weight-decay", "--batch-size", "--schedule"}
    assert searched({"width": 64, "depth": 3, "lr": 0.01}) == {"hidden": [64, 64, 64], "lr": 0.01}
    skipped = {a.dest for a in parser(skip=SEARCHED)._actions}
    assert not skipped & {"hidden", "lr", "weight_decay", "batch_size", "schedule"} and "max_epochs" in skipped


def test_options_round_trip_through_json_with_lists_as_tuples():
    opts = Options(target="y", hidden=(8, 4), drop=("a",))
    again = Options.from_dict(dataclasses.asdict(opts) | {"hidden": [8, 4], "drop": ["a"]}, "the test")
    assert again == opts
    with pytest.raises(DescendError, match="unknown option"):
        Options.from_dict({"target": "y", "widht": 3}, "the test")
