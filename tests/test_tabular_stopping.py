"""Tables validated on one slice stop with a patience that grows with the run (apps/tabular/stopping.py): after a
best at evaluation n they wait max(5, min(patience, n)) evaluations, and keep the fixed patience's best."""
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from descend import stop
from descend.apps.tabular import Options
from descend.apps.tabular.stopping import GrowingPatience, least_wait
from descend.apps.tabular.train import prepare, train
from descend.cli import main
from descend.core.loop import Callback, Loop, NonFiniteOrigin


class _Validated:
    """A task whose evaluations report the validation losses of a script, one per step."""

    epoch = 0

    def __init__(self, val_losses):
        self.val_losses = iter(val_losses)
        self.restored = None

    def step(self):
        return {"loss": 1.0, "grad_norm": 1.0}

    def evaluate(self):
        return {"val_loss": next(self.val_losses)}

    def snapshot(self):
        return "weights"

    def restore(self, snapshot):
        self.restored = snapshot

    non_finite_origin = NonFiniteOrigin("loss", "scripted")


def _stop_step(val_losses, rule):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    loop = Loop(_Validated(val_losses), opt, stop.with_defaults([rule, stop.MaxSteps(len(val_losses))]),
                eval_every=1, has_validation=True)
    state = loop.run()
    return state.step, state.stop_reason


def test_a_best_at_the_first_evaluation_waits_five_evaluations_where_fixed_patience_waits_fifteen():
    losses = [1.0] + [1.0 + 0.01 * i for i in range(1, 40)]
    step, reason = _stop_step(losses, GrowingPatience(15, steps_per_epoch=40))
    assert step == 6
    assert reason == ("val_loss did not improve for 5 evaluations (best 1 at step 1; the model holds the weights of "
                      "that step)")
    assert _stop_step(losses, stop.Patience(15, restore_best=True))[0] == 16


def test_a_best_at_evaluation_n_waits_n_evaluations_up_to_the_patience():
    falling = [10.0 - i for i in range(8)]   # bests at evaluations 1..8
    step, _ = _stop_step(falling + [5.0] * 30, GrowingPatience(15, steps_per_epoch=40))
    assert step == 8 + 8   # the best at evaluation 8 waits 8
    falling = [30.0 - i for i in range(20)]   # the last best at evaluation 20: the full 15
    step, _ = _stop_step(falling + [50.0] * 30, GrowingPatience(15, steps_per_epoch=40))
    assert step == 20 + 15


def test_a_later_best_after_an_early_one_is_still_found_within_the_grown_wait():
    # best at evaluation 6 (waits 6), then a better one 5 evaluations later: the same as the fixed patience
    losses = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 4.5, 4.4, 4.3, 4.2, 3.0] + [3.5] * 30
    growing = _stop_step(losses, GrowingPatience(15, steps_per_epoch=40))
    assert growing[0] == 11 + 11
    assert "best 3 at step 11" in growing[1]
    assert "best 3 at step 11" in _stop_step(losses, stop.Patience(15, restore_best=True))[1]


def test_the_least_wait_is_five_epochs_and_a_hundred_steps_at_most_the_patience():
    assert least_wait(15, steps_per_epoch=34) == 5
    assert least_wait(15, steps_per_epoch=16) == 7   # 7 epochs of 16 steps: 112 steps
    assert least_wait(15, steps_per_epoch=3) == 15   # a tiny table's epochs: the full patience
    assert least_wait(3, steps_per_epoch=100) == 3
    losses = [1.0] + [1.0 + 0.01 * i for i in range(1, 40)]
    assert _stop_step(losses, GrowingPatience(15, steps_per_epoch=16))[0] == 8
    assert _stop_step(losses, GrowingPatience(15, steps_per_epoch=3))[0] == 16


def test_a_small_patience_is_kept_as_it_is():
    losses = [1.0] + [2.0] * 20
    assert _stop_step(losses, GrowingPatience(3, steps_per_epoch=40))[0] == 4


def test_the_grown_wait_and_the_count_resume_from_the_state_dict():
    rule = GrowingPatience(15, steps_per_epoch=40)
    losses = [9.0 - i for i in range(9)] + [5.0] * 3
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    Loop(_Validated(losses), opt, stop.with_defaults([rule, stop.MaxSteps(len(losses))]), eval_every=1,
         has_validation=True).run()
    saved = rule.state_dict()
    assert (saved["evaluations"], saved["patience"], saved["wait"]) == (12, 9, 3)
    again = GrowingPatience(15, steps_per_epoch=40)
    again.load_state_dict(saved)
    assert (again.evaluations, again.patience, again.wait) == (12, 9, 3)
    older = {k: v for k, v in saved.items() if k not in ("evaluations", "patience")}   # before this rule
    again.load_state_dict(older)
    assert again.patience == 15


def test_descend_fit_on_a_table_with_one_validation_slice_says_and_uses_the_growing_patience(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 2))   # over 2000 training rows: one validation slice, not folds
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x[:, 0] + rng.normal(size=3000)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["fit", str(tmp_path / "t.csv"), "--target", "y", "--max-epochs", "40", "--seed", "0"]) == 0
    printed = capsys.readouterr()
    out, progress = printed.out, printed.err
    assert ("early stopping after up to 15 epochs (as many as the best epoch took, at least 5) without a better "
            "validation loss") in out
    # a straight line: the networks are best after their first epoch (32 steps), then wait 5 epochs, not 15
    assert "best validation loss 0.4961 after epoch 1\n" in out
    assert ("stopped after 192 steps" in progress and "val_loss did not improve for 5 evaluations (best 0.496096 at "
            "step 32;" in progress)


def test_the_model_line_counts_one_epoch_in_the_singular(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x[:, 0]}).to_csv(tmp_path / "t.csv", index=False)
    assert main(["fit", str(tmp_path / "t.csv"), "--target", "y", "--max-epochs", "1", "--patience", "1"]) == 0
    out = capsys.readouterr().out
    assert ("up to 1 epoch, no early stopping (it waits 1 epoch without a better validation loss, and a run of 1 "
            "epoch leaves no room for that)") in out


class _CtrlCAt(Callback):
    """Ctrl-C once `steps` steps have ended."""

    def __init__(self, steps: int):
        self.steps, self.seen = steps, 0

    def on_step_end(self, state, record):
        self.seen += 1
        if self.seen == self.steps:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_a_run_interrupted_while_it_waits_resumes_to_the_same_stop_and_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2600, 2))   # one validation slice; a noisy target, so validation peaks after 7 epochs
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": np.sin(2 * x[:, 0]) * x[:, 1] + 2 * rng.normal(size=2600)})
    opts = Options(target="y", seed=0, max_epochs=30, patience=8, refit="no", progress=False)
    reference = prepare(frame, opts, say=lambda _: None)
    result = train(reference, opts, say=lambda _: None)
    assert len(result.history) == 392 and result.best["step"] == 196   # best at evaluation 7: waits 7, not 8
    assert result.stop_reason.startswith("val_loss did not improve for 7 evaluations")
    interrupted = prepare(frame, opts, say=lambda _: None)
    with pytest.raises(KeyboardInterrupt):   # at step 300: 3 evaluations into the wait, after a checkpoint
        train(interrupted, opts, say=lambda _: None, run_dir=tmp_path / "run", callbacks=[_CtrlCAt(300)])
    resumed = prepare(frame, opts, say=lambda _: None)
    again = train(resumed, opts, say=lambda _: None, run_dir=tmp_path / "run", resume=True)
    assert len(again.history) == 392 and again.stop_reason == result.stop_reason
    want, got = reference.run.model.state_dict(), resumed.run.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
