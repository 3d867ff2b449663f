"""A new user's fifteenth review: a column name with a space split by the shell, "1 steps", a loss returning a dict,
fit at lr 0, and descend.runs.compare looked for in Python."""
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import descend as ds
from descend.cli import main
from descend.doctor.findings import too_short
from descend.fit.progress import _stopped


def test_a_flag_value_split_by_the_shell_is_named_with_its_quotes(tmp_path, capsys):
    """`--target Sale Price` (unquoted) said only "unrecognized arguments: Price"; nothing is read."""
    with pytest.raises(SystemExit) as stopped:
        main(["fit", str(tmp_path / "absent.csv"), "--target", "Sale", "Price", "Total", "--max-epochs", "2"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ("descend: error: unrecognized arguments: Price Total; if 'Sale Price Total' "
                                       "is one value, quote it: --target 'Sale Price Total'\n")


def test_a_stray_word_after_a_switch_or_a_positional_gets_no_quoting_hint(tmp_path, capsys):
    """--resume takes no value, so the word after the data file is not part of one: no hint to quote it."""
    with pytest.raises(SystemExit):
        main(["fit", "--resume", str(tmp_path / "a.csv"), "extra", "--target", "y"])
    assert capsys.readouterr().err == "descend: error: unrecognized arguments: extra\n"


class _State:
    step = 1
    stop_reason = "reached the epoch limit (1 epoch)"

    def elapsed(self) -> float:
        return 0.2


def test_one_step_is_one_step():
    """A refit of one step printed "stopped after 1 steps" and "1 steps are too few to judge"."""
    assert _stopped(_State()) == "stopped after 1 step (0.2 s): reached the epoch limit (1 epoch)"
    assert too_short(1, 20).startswith("doctor: no problems found, but 1 step is too few to judge")
    assert too_short(3, 20).startswith("doctor: no problems found, but 3 steps are too few to judge")


def test_a_loss_returning_a_dict_is_told_to_return_its_total():
    """A loss returning {"loss": ..., "mse": ...} said "must return a scalar tensor, got dict ()"."""
    x, y = torch.randn(40, 3), torch.randn(40, 1)

    def parts(out, target):
        return {"loss": ((out - target) ** 2).mean(), "mse": ((out - target) ** 2).mean()}

    with pytest.raises(ValueError, match=r"got dict with keys 'loss', 'mse'; fit trains on one number: return the "
                                         r"total \(its \['loss'\]\), and pass the parts you want recorded as "
                                         r"functions of \(output, target\) in metrics="):
        ds.fit(nn.Linear(3, 1), (x, y), loss=parts, max_epochs=1)
    with pytest.raises(ValueError, match=r"got dict with keys 'a', 'b'; .*return the total \(the sum of its parts\)"):
        ds.fit(nn.Linear(3, 1), (x, y), loss=lambda out, target: {"a": out.mean(), "b": target.mean()}, max_epochs=1)


def test_fit_at_lr_zero_warns_that_it_trains_nothing():
    """fit(lr=0) trained silently with every weight left where it started (the command refuses --lr 0)."""
    model = nn.Linear(3, 1)
    before = model.weight.detach().clone()
    with pytest.warns(UserWarning, match="lr=0 leaves every weight where it starts, so this run trains nothing") as w:
        ds.fit(model, (torch.randn(40, 3), torch.randn(40, 1)), loss="mse", lr=0, optimizer="sgd", max_epochs=1,
               progress=False, doctor=False)
    assert [Path(caught.filename).name for caught in w] == [Path(__file__).name]   # not the settings' `<string>`
    assert torch.equal(model.weight, before)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds.fit(nn.Linear(3, 1), (torch.randn(40, 3), torch.randn(40, 1)), loss="mse", lr=1e-3, optimizer="sgd",
               max_epochs=1, progress=False, doctor=False)


def test_runs_compare_in_python_names_the_function_that_writes_the_page():
    """ds.runs.compare (the command is `descend compare`) raised a bare AttributeError."""
    with pytest.raises(AttributeError, match=r"no attribute 'compare'; descend\.runs\.report\.write_comparison\("):
        ds.runs.compare
    with pytest.raises(AttributeError, match=r"^module 'descend.runs' has no attribute 'comparee'$"):
        ds.runs.comparee
