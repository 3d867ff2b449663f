"""The target statistic of a combination of columns (statistic.py): which columns it combines, that no training
row reads its own target, that new rows get the training rows' shrunk means, and that a run resumes with it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from descend.apps.tabular import Options, TabularRun
from descend.apps.tabular.statistic import M, NAME, TargetStatistic
from descend.apps.tabular.train import prepare, train
from descend.core.loop import Callback

QUICK = dict(max_epochs=12, patience=4, progress=False)


def groups(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Yes/no answers that are mostly yes only where a, b and c all hold (the rows of one group), beside a noise
    column and a number: each column's one-hot shows only part of it."""
    rng = np.random.default_rng(seed)
    a, b, c = (rng.integers(0, 2, rows) for _ in range(3))
    rate = np.where(a * b * c == 1, 0.85, 0.15)
    return pd.DataFrame({"a": np.where(a, "yes", "no"), "b": b, "c": np.where(c, "x", "y"),
                         "noise": rng.choice(list("pqrs"), rows), "size": rng.normal(0, 1, rows).round(3),
                         "answer": np.where(rng.random(rows) < rate, "yes", "no")})


def _statistic_column(prepared) -> np.ndarray:
    """The statistic's values as the model sees them, back in logits (undoing the standardization)."""
    pre = prepared.run.preprocessor
    spec = next(n for n in pre.numeric if n.name == NAME)
    place = pre.feature_positions()[NAME][0]
    return prepared.x[:, place].double().numpy() * spec.std + spec.mean


def test_the_greedy_search_combines_the_columns_that_decide_the_target_and_leaves_out_the_rest():
    frame = groups()
    y = (frame["answer"] == "yes").to_numpy(float)
    folds = np.arange(len(frame)) % 5
    statistic, own = TargetStatistic.choose(frame, ["a", "b", "c", "noise", "size"], y, True, folds)
    assert sorted(statistic.columns) == ["a", "b", "c"]
    assert len(statistic.levels) == 8 and sum(statistic.counts) == len(frame)
    assert own.shape == (len(frame),)


def test_no_combination_is_used_when_none_beats_the_overall_mean():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"colour": rng.choice(list("rgb"), 300), "size": rng.choice(list("sml"), 300)})
    y = rng.normal(0, 1, 300)
    assert TargetStatistic.choose(frame, ["colour", "size"], y, False, np.arange(300) % 5) is None


def test_a_training_rows_statistic_never_reads_its_own_target():
    frame, opts = groups(), Options(target="answer", test_fraction=0.0, **QUICK)
    before = prepare(frame, opts, say=lambda _: None)
    planted = frame.copy()
    row = 7
    planted.loc[row, "answer"] = "no" if frame.loc[row, "answer"] == "yes" else "yes"   # its target flipped
    after = prepare(planted, opts, say=lambda _: None)
    assert before.run.preprocessor.statistic.columns == after.run.preprocessor.statistic.columns
    old, new = _statistic_column(before), _statistic_column(after)
    assert new[row] == pytest.approx(old[row], abs=1e-5)
    same = (frame[["a", "b", "c"]] == frame.loc[row, ["a", "b", "c"]]).all(axis=1).to_numpy()
    moved = np.abs(new - old) > 1e-3   # while the flip does reach the other folds' rows of its combination
    assert moved[same].any()


def test_new_rows_get_the_shrunk_mean_of_every_training_row_of_their_combination(tmp_path):
    frame = groups()
    opts = Options(target="answer", test_fraction=0.0, **QUICK)
    prepared = prepare(frame, opts, say=lambda _: None)
    train(prepared, opts, say=lambda _: None)
    prepared.run.save(tmp_path / "run")
    run = TabularRun.load(tmp_path / "run", record=False)
    columns = run.preprocessor.statistic.columns
    new = groups(20, seed=5).drop(columns="answer")
    x, _ = run.encode(new, "the new rows")
    spec = next(n for n in run.preprocessor.numeric if n.name == NAME)
    got = x[:, run.preprocessor.feature_positions()[NAME][0]].double().numpy() * spec.std + spec.mean
    y = (frame["answer"] == "yes").astype(float)
    prior = y.mean()
    keys = frame[columns].astype(str).apply(tuple, axis=1)
    for i, key in enumerate(new[columns].astype(str).apply(tuple, axis=1)):
        share = (y[keys == key].sum() + M * prior) / ((keys == key).sum() + M)
        assert got[i] == pytest.approx(np.log(share / (1 - share)), abs=1e-4)


class StopAt(Callback):
    """Ctrl-C once `steps` steps have ended."""

    def __init__(self, steps: int):
        self.steps, self.seen = steps, 0

    def on_step_end(self, state, record):
        self.seen += 1
        if self.seen == self.steps:
            raise KeyboardInterrupt


def test_a_run_with_the_statistic_resumes_and_predicts_the_same(tmp_path):
    frame, opts = groups(), Options(target="answer", seed=1, **QUICK)
    reference = prepare(frame, opts, say=lambda _: None)
    assert reference.run.preprocessor.statistic is not None
    train(reference, opts, say=lambda _: None)
    interrupted = prepare(frame, opts, say=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, opts, say=lambda _: None, run_dir=tmp_path / "run", callbacks=[StopAt(7)])
    resumed = prepare(frame, opts, say=lambda _: None)
    train(resumed, opts, say=lambda _: None, run_dir=tmp_path / "run", resume=True)
    want, got = reference.run.model.state_dict(), resumed.run.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    resumed.run.save(tmp_path / "saved")
    new = groups(30, seed=9).drop(columns="answer")
    expected = reference.run.predictions(new)[0]
    pd.testing.assert_frame_equal(TabularRun.load(tmp_path / "saved", record=False).predictions(new)[0], expected)


def test_one_column_alone_gives_no_statistic_its_one_hot_already_says_it():
    frame = groups()
    y = (frame["a"] == "yes").to_numpy(float) * 0.6 + 0.2 > np.random.default_rng(3).random(len(frame))
    assert TargetStatistic.choose(frame, ["a", "noise"], y.astype(float), True, np.arange(len(frame)) % 5) is None


def test_a_number_target_gets_no_statistic_in_a_fit():
    frame = groups()
    frame["answer"] = np.where(frame["answer"] == "yes", 1.5, -0.5) + np.random.default_rng(4).normal(0, 0.1, 400)
    prepared = prepare(frame, Options(target="answer", **QUICK), say=lambda _: None)
    assert prepared.run.preprocessor.statistic is None and NAME not in prepared.run.preprocessor.feature_positions()
