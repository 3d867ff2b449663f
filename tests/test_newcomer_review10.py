"""What the ninth new-user review left: a --config hint that moved a flag into "options", a doctor warning on a
perfect metric, a verdict on a run cut short, a partial folds run's report, and permutation importance's rows."""
import os

import numpy as np
import pytest
import torch
from torch import nn

import descend as ds
from descend.apps.tabular import Options, fit_table
from descend.apps.tabular.train import prepare
from descend.cli import main
from descend.core.frontend import command_line, on_command_line
from tabular_data import bakery
from test_doctor_fresh2 import warnings
from test_doctor_fresh3 import fit
from test_doctor_fresh7 import argmax_accuracy, first_warning, one_output, threshold_accuracy


def test_a_config_hint_moves_only_options_and_sends_a_flag_to_the_command_line(tmp_path, capsys):
    """{"target": ..., "max_epochs": 3, "out": "runs/c1"} was shown moved with "out" inside "options", which the
    next run then called an unknown option."""
    config = tmp_path / "config.json"
    config.write_text('{"data": "sales.csv", "target": "sales", "max_epochs": 3, "out": "runs/c1", "colour": 1}')
    assert main(["fit", "--config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"descend: error: --config {config} has options at the top level ('max_epochs', 'target'); they go inside "
        '"options", beside "data": {"data": "sales.csv", "options": {"max_epochs": 3, "target": "sales"}}; '
        "'colour' is neither an option nor a key of the file: drop it; "
        "'out' is a flag: give --out on the command line, not in the file")


@pytest.mark.parametrize("text, said", [
    ('{"data": "sales.csv", "options": {"target": "sales", "out": "runs/c1"}}', "has 'out' in \"options\""),
    ('{"data": "sales.csv", "out": "runs/c1"}', "has unknown key(s) 'out'")])
def test_a_flag_inside_options_or_alone_at_the_top_is_named_as_a_flag(tmp_path, capsys, text, said):
    """"out" inside "options" was called an unknown option, and alone at the top level an unknown key, without
    saying that it is the command's --out."""
    config = tmp_path / "config.json"
    config.write_text(text)
    assert main(["fit", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert said in err and err.endswith("'out' is a flag: give --out on the command line, not in the file")


def seven_validation_rows():
    """A clean 0/1 target: 200 training rows (73% class 0) and 7 validation rows far from the boundary, 6 of
    class 0, so a model that learnt gets all 7 right at every evaluation."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=g)
    far = torch.nonzero((x[200:, 0] - 0.5).abs() > 1.0).flatten()[:7] + 200
    x = torch.cat([x[:200], x[far]])
    return x, (x[:, 0] > 0.5).float()


def test_a_perfect_score_kept_on_seven_rows_is_not_read_as_stuck_and_a_majority_one_is():
    """`descend update` with 7 validation rows warned "val_accuracy kept the value 1 ... no better than the
    majority class (0.683)": two standard errors of a share on 7 rows reach past 1, so a perfect score counted."""
    x, y = seven_validation_rows()
    assert float(y[200:].sum()) == 1 and abs(float(1 - y[:200].mean()) - 0.73) < 1e-6
    right = fit(one_output(6), (x[:200], y[:200]), x, y, cut=200, loss="bce", max_epochs=30,
                metrics=[threshold_accuracy])
    assert right.history[-1]["val_threshold_accuracy"] == 1 and right.history[-1]["val_loss"] < 1e-4
    assert not warnings(right)
    argmax = fit(one_output(6), (x[:200], y[:200]), x, y, cut=200, loss="bce", max_epochs=30,
                 metrics=[argmax_accuracy])
    first = first_warning(argmax)   # always class 0: 6 of 7, the validation rows' majority share
    assert first.code == "loss_metric_mismatch" and first.evidence["metric_last"] == pytest.approx(6 / 7)


def test_a_run_cut_short_by_ctrl_c_gets_no_verdict_and_its_resume_gets_one(tmp_path, capsys):
    """After Ctrl-C at step 9 the doctor fitted its references and printed "doctor: no problems found", a verdict on
    a run that did not end; what it measured so far is kept in the checkpoint, so the resumed run is diagnosed."""
    class CtrlC(ds.loop.Callback):
        def on_step_end(self, state, record):
            if state.step == 9:
                raise KeyboardInterrupt

    x = torch.randn(640, 3, generator=torch.Generator().manual_seed(0))
    data = (x, x.sum(1, keepdim=True))
    settings = dict(loss="mse", lr=0.01, batch_size=16, max_epochs=2, progress=True, run_dir=tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        ds.fit(nn.Linear(3, 1), data, callbacks=[CtrlC()], **settings)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == ("doctor: no verdict: the run was cut short at step 9, and the doctor reads a run that "
                         "ends; resume it (or run it to its end) to have it diagnosed")
    assert not any("no problems found" in line for line in lines)
    resumed = ds.fit(nn.Linear(3, 1), data, resume=True, **settings)
    assert resumed.history[-1]["step"] == 80
    assert "not_converged" in [f.code for f in resumed.findings]   # 80 steps at lr 0.01: still falling
    assert "doctor: 1 finding(s)" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["report", "doctor", "predict"])
def test_a_folds_run_stopped_while_trying_learning_rates_says_so_and_how_to_go_on(tmp_path, command, capsys):
    """`descend report DIR.partial` of a folds run killed during its lr candidates said "not a run directory: it has
    neither history.jsonl nor history.csv", though each candidate's record was in DIR.partial/lr_candidates."""
    partial = tmp_path / "t1.partial"
    for name in ("lr-0.003", "lr-0.001"):   # tried in this order: the default lr, then a third of it
        (partial / "lr_candidates" / name).mkdir(parents=True)
        (partial / "lr_candidates" / name / "config.json").write_text("{}")
    os.utime(partial / "lr_candidates" / "lr-0.003" / "config.json", (1e9, 1e9))
    extra = ["new.csv"] if command == "predict" else []
    assert main([command, str(partial), *extra]) == 2
    so_far = (f"; `descend report {partial}/lr_candidates/lr-0.001` draws the latest try so far"
              if command == "report" else "")
    assert capsys.readouterr().err.strip() == (
        f"descend: error: {partial} holds no run of its own yet: it was stopped while its first run tried learning "
        f"rates (lr-0.001, lr-0.003 recorded in {partial}/lr_candidates); `descend fit ... --out {tmp_path}/t1 "
        f"--resume` continues it{so_far}")


@pytest.mark.parametrize("days, drop, scheme, judged", [
    (240, (), "chain", "validated on the last {val} rows in 3 blocks"),
    (240, ("date",), "folds", "validated on {val} rows in 5 folds"),
    (2600, ("date",), "slice", None)])
def test_permutation_importance_names_the_rows_it_shuffled_and_why(days, drop, scheme, judged):
    """On a table with dates validated on 150 rows in 3 blocks, importance said "mean of 3 shuffles of 68 rows": the
    last 15% of the training rows, which no words said, some of which trained the networks."""
    frame = bakery(days).drop(columns=list(drop))
    opts = Options(target="loaves", model="linear", max_epochs=2, progress=False)
    prepared = prepare(frame, opts, say=lambda line: None)
    rows, val = prepared.split.val, prepared.scheme.val_rows
    assert prepared.scheme.kind == scheme
    measure = fit_table(frame, opts, say=lambda line: None).metrics["importance"]["measure"]
    if judged is None:
        assert f"mean of 3 shuffles of the {len(rows)} validation rows" in measure
        return
    learned = np.concatenate([fit for fit, _ in prepared.scheme.linear_folds()])
    seen = int(np.isin(rows, learned).sum())
    assert 0 < seen <= len(rows) and (seen < len(rows)) == (scheme == "chain")   # a chain's last block: unseen
    assert (f"mean of 3 shuffles of the last {len(rows)} training rows (15% of them), scored by the whole model: its "
            f"networks were {judged.format(val=len(val))}, each by those that did not learn from it, and {seen} of "
            f"these {len(rows)} rows trained some of them, so the rises read what the model uses, not how it fares "
            "on new rows") in measure


def test_the_advice_to_train_longer_says_what_applies_where_the_run_was_started(tmp_path):
    """A Python fit was told "(descend fit: --max-epochs N)", a flag of the command, and with a run_dir nothing
    said that training longer is a new run (a resume refuses a new max_epochs). Same run, three starts."""
    x = torch.randn(640, 3, generator=torch.Generator().manual_seed(0))
    settings = dict(loss="mse", lr=0.01, batch_size=16, max_epochs=2, seed=0, progress=False)

    def advice(**extra):
        found = ds.fit(nn.Linear(3, 1), (x, x.sum(1, keepdim=True)), **settings, **extra).findings
        return next(f for f in found if f.code == "not_converged")

    plain = advice()
    epochs = plain.change["max_epochs"]
    assert epochs > 2 and plain.fix == f"train longer (max_epochs={epochs})"
    assert advice(run_dir=tmp_path / "run").fix == (f"train longer (max_epochs={epochs}) in a new run_dir "
                                                    "(resume=True finishes a run at the length it was set)")
    with command_line():
        assert advice().fix == f"train longer (max_epochs={epochs}) (descend fit: --max-epochs {epochs})"
    assert not on_command_line()
