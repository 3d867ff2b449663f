"""Property-based tests of the command line: whatever options and --config values a user gives, `descend` exits 0,
or exits 2 with one line on stderr; never a traceback (nor exit 1, the code of an internal error)."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from descend.cli import main
from descend.apps.tabular.options import Options
from tabular_data import bakery

COLUMNS = ["date", "weekday", "temperature", "rain", "event", "loaves", "nope"]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
EDGES = st.sampled_from(["0", "1", "2", "-1", "1e300", "nan", "inf", "auto", "1e-300", "99999999999999999999"])
NUMBER_TEXT = st.one_of(EDGES, st.integers(-10 ** 20, 10 ** 20).map(str), EDGES, st.floats().map(repr), TEXT)
NAMES = st.lists(st.sampled_from(COLUMNS), max_size=3).map(",".join) | TEXT
FLAGS = {
    "--task": st.sampled_from(["auto", "regression", "classification", "count", "bad"]) | TEXT,
    "--model": st.sampled_from(["mlp", "linear", "tree"]) | TEXT,
    "--hidden": st.sampled_from(["4", "4,2", "0", "-1", "a,b", "", "100000000000", "1,"]) | TEXT,
    "--split": st.sampled_from(["time", "random", "other"]) | TEXT,
    "--time-column": st.sampled_from(COLUMNS) | TEXT,
    "--test-fraction": NUMBER_TEXT, "--drop": NAMES, "--categorical": NAMES, "--numeric": NAMES,
    "--optimizer": st.sampled_from(["adamw", "sgd", "lion", "lbfgs", "muon", "x"]) | TEXT,
    "--lr": NUMBER_TEXT, "--weight-decay": NUMBER_TEXT, "--batch-size": NUMBER_TEXT,
    "--schedule": st.sampled_from(["constant", "cosine", "one_cycle", "linear"]) | TEXT,
    "--max-epochs": st.sampled_from(["1", "2", "0", "-3", "x", "1e3", "99999999999999999999"]),
    "--patience": st.sampled_from(["1", "3", "0", "-1", "x", "99999999999999999999"]),
    "--seed": NUMBER_TEXT, "--nproc": st.sampled_from(["1", "0", "-2", "x", "99999999999999999999"]),
}
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10 ** 20, 10 ** 20) | st.floats() | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=5)
OPTION_NAMES = sorted(Options.__dataclass_fields__)


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("props") / "sales.csv"
    bakery(60).to_csv(path, index=False)
    return path


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:   # argparse refusing a flag's value
            code = exit_.code
    return code, err.getvalue()


def _assert_exit_0_or_one_line(code: int, err: str) -> None:
    assert "Traceback" not in err, err
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("descend: error: "), err


def _long(chosen: dict) -> bool:
    """Both limits huge: a run that would only stop on its own much later; not a question of input handling."""
    big = lambda value: value is not None and value.isdigit() and int(value) > 100  # noqa: E731
    return big(chosen.get("--max-epochs", "2")) and big(chosen.get("--patience", "15"))


@pytest.mark.slow
@pytest.mark.parametrize("flag", sorted(FLAGS))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), target=st.sampled_from(["loaves", "rain", "x"]), save=st.booleans())
def test_any_fit_flags_exit_0_or_2_with_one_line(table, flag, data, target, save):
    """Each flag with any value, beside up to two other flags with any values."""
    others = data.draw(st.lists(st.sampled_from(sorted(set(FLAGS) - {flag})), max_size=2, unique=True))
    chosen = {name: data.draw(FLAGS[name], label=name) for name in [flag, *others]}
    assume(not _long(chosen))
    argv = ["fit", str(table), "--target", target, *[f"{name}={value}" for name, value in chosen.items()]]
    argv += [] if "--max-epochs" in chosen else ["--max-epochs", "2"]
    folder = Path(tempfile.mkdtemp(prefix="descend-props-"))
    try:
        _assert_exit_0_or_one_line(*_run(argv + (["--out", str(folder / "run")] if save else [])))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=st.dictionaries(st.sampled_from(OPTION_NAMES + ["out", "bogus"]), JSON, max_size=4),
       top=st.dictionaries(st.sampled_from(["data", "options", "out", "nproc", "config"]), JSON, max_size=2),
       wrapped=st.booleans())
def test_any_config_values_exit_0_or_2_with_one_line(table, options, top, wrapped):
    epochs = options.get("max_epochs")
    assume(not (isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > 3))   # see _long
    config = {"data": str(table), **top, "options": {"target": "loaves", "max_epochs": 2, **options}}
    if "options" in top and not isinstance(top["options"], dict):
        config["options"] = top["options"]
    folder = Path(tempfile.mkdtemp(prefix="descend-props-"))
    try:
        (folder / "c.json").write_text(json.dumps({"config": config} if wrapped else config, allow_nan=True))
        _assert_exit_0_or_one_line(*_run(["fit", "--config", str(folder / "c.json")]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_properties_can_fail():
    """The checker itself: a traceback-shaped failure or a second line is caught."""
    with pytest.raises(AssertionError):
        _assert_exit_0_or_one_line(1, "descend: error: internal error\n")
    with pytest.raises(AssertionError):
        _assert_exit_0_or_one_line(2, "step 1\ndescend: error: x\n")


REPRODUCTIONS = [   # issue 21, items 5 and 13: each was a traceback or a silent choice
    ["--lr", "1e300"], ["--seed", "99999999999999999999"], ["--hidden", "100000000000"],
    ["--categorical", "rain", "--numeric", "rain"], ["--time-column", "loaves"], ["--drop", "loaves"],
]
CONFIGS = [{"options": {"target": ["loaves"]}}, {"data": 42}, {"options": {"target": "loaves", "seed": "7"}},
           {"out": "../../etc"}, {"nproc": 8}, {"options": {"target": "loaves", "progress": "yes"}}]


@pytest.mark.parametrize("flags", REPRODUCTIONS, ids=" ".join)
def test_reproduced_bad_flags_are_one_line_and_leave_nothing(table, flags, tmp_path):
    code, err = _run(["fit", str(table), "--target", "loaves", "--max-epochs", "2", *flags,
                      "--out", str(tmp_path / "run")])
    assert code == 2 and err.count("\n") == 1 and flags[0] in err or "column(s) rain" in err, err
    assert list(tmp_path.iterdir()) == []   # refused before anything was made: no DIR.partial to block a new run


@pytest.mark.parametrize("values", CONFIGS, ids=json.dumps)
def test_reproduced_bad_config_values_are_one_line(table, values, tmp_path):
    config = {"data": str(table), "options": {"target": "loaves", "max_epochs": 2}}
    config.update(values)
    (tmp_path / "c.json").write_text(json.dumps(config))
    code, err = _run(["fit", "--config", str(tmp_path / "c.json")])
    assert code == 2 and err.count("\n") == 1, err
    assert "--config" in err or "--seed" in err or "--target" in err or "progress" in err


@pytest.mark.parametrize("kind", ["list", "struct"])
def test_parquet_list_and_struct_columns_are_named(kind, tmp_path):
    frame = bakery(40)
    frame["extra"] = [[1, 2]] * 40 if kind == "list" else [{"a": 1}] * 40
    frame.to_parquet(tmp_path / "t.parquet")
    code, err = _run(["fit", str(tmp_path / "t.parquet"), "--target", "loaves", "--max-epochs", "1"])
    assert code == 2 and "column 'extra'" in err and "--drop extra" in err and err.count("\n") == 1, err
    code, err = _run(["fit", str(tmp_path / "t.parquet"), "--target", "loaves", "--max-epochs", "1",
                      "--drop", "extra"])
    assert code == 0, err


@pytest.mark.parametrize("column, value, shown", [("loaves", "inf", "inf"), ("temperature", "-inf", "-inf"),
                                                  ("loaves", "1e308", "1e+308")])
def test_non_finite_cells_are_named_by_column_and_data_row_in_fit_and_predict(table, column, value, shown, tmp_path):
    frame = bakery(60)
    frame[column] = frame[column].astype(object)
    frame.loc[5, column] = value                      # data row 6 of the file
    frame.to_csv(tmp_path / "bad.csv", index=False)
    code, err = _run(["fit", str(tmp_path / "bad.csv"), "--target", "loaves", "--max-epochs", "1"])
    assert code == 2 and f"column {column!r}: data row 6 has {shown!r}" in err, err
    if column != "loaves":                            # at predict time too, instead of clipping it silently
        assert _run(["fit", str(table), "--target", "loaves", "--max-epochs", "1", "--out", str(tmp_path / "r")])[0] == 0
        code, err = _run(["predict", str(tmp_path / "r"), str(tmp_path / "bad.csv")])
        assert code == 2 and f"column {column!r}: data row 6 has {shown!r}" in err, err
