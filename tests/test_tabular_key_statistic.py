"""The target statistic of a repeated key column (statistic.py): which column is a key and which is not, that no
training row reads its own target, that new rows get the training rows' shrunk means, and that a run resumes with it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from descend.apps.tabular import Options, TabularRun
from descend.apps.tabular.statistic import M, KeyStatistic
from descend.apps.tabular.train import fit_table, prepare, train
from descend.apps.tabular.update import update_run
from test_tabular_stopping import _CtrlCAt

QUICK = dict(max_epochs=12, patience=4, progress=False)
KEY = "patient (key statistic)"


def visits(rows: int = 600, patients: int = 150, seed: int = 0, planted: bool = True) -> pd.DataFrame:
    """Test results of patients seen several times each: each patient's own rate (0.1 or 0.8) decides the result
    where `planted`, else every result is a coin of rate 0.3; beside a number and a 40-level text column of noise."""
    rng = np.random.default_rng(seed)
    patient = rng.integers(0, patients, rows)
    rate = np.where(np.random.default_rng(99).random(patients) < 0.5, 0.1, 0.8)[patient] if planted else 0.3
    return pd.DataFrame({"patient": 1000 + patient * 7, "age": rng.normal(50, 10, rows).round(1),
                         "clinic": rng.choice([f"c{i}" for i in range(40)], rows),
                         "result": np.where(rng.random(rows) < rate, "positive", "negative")})


def _key_column(prepared) -> np.ndarray:
    """The key statistic as the model sees it, back in logits (undoing the standardization)."""
    pre = prepared.run.preprocessor
    spec = next(n for n in pre.numeric if n.name == KEY)
    place = [n.name for n in pre.numeric].index(KEY)   # no number before it has a was-missing flag here
    return prepared.x[:, place].double().numpy() * spec.std + spec.mean


def _choose(frame: pd.DataFrame):
    y = (frame["result"] == "positive").to_numpy(int)
    candidates = {"patient": frame["patient"].to_numpy(float), "age": frame["age"].to_numpy(float), "clinic": None}
    return KeyStatistic.choose(frame, candidates, y, ["negative", "positive"], np.arange(len(frame)) * 5 // len(frame),
                               31, 40)


def test_the_planted_key_is_found_and_the_noise_columns_are_not():
    statistic, own = _choose(visits())
    assert statistic.column == "patient" and statistic.margin > 3
    assert len(statistic.levels) == len(statistic.counts) == visits()["patient"].nunique()
    assert sum(statistic.counts) == 600 and own.shape == (600, 1)


def test_no_statistic_when_the_key_says_nothing_of_the_target():
    assert _choose(visits(planted=False)) is None


def test_a_key_whose_rows_lie_together_recurs_across_no_block_and_is_no_key():
    frame = visits().sort_values("patient", kind="stable").reset_index(drop=True)
    assert _choose(frame) is None


def test_a_training_rows_statistic_never_reads_its_own_target():
    frame, opts = visits(), Options(target="result", test_fraction=0.0, **QUICK)
    before = prepare(frame, opts, say=lambda _: None)
    flipped = frame.copy()
    row = 7
    flipped.loc[row, "result"] = "negative" if frame.loc[row, "result"] == "positive" else "positive"
    after = prepare(flipped, opts, say=lambda _: None)
    assert before.run.preprocessor.key.column == after.run.preprocessor.key.column == "patient"
    old, new = _key_column(before), _key_column(after)
    assert new[row] == pytest.approx(old[row], abs=1e-5)
    same = (frame["patient"] == frame.loc[row, "patient"]).to_numpy()
    moved = np.abs(new - old) > 1e-3   # while the flip does reach the other blocks' rows of its patient
    assert moved[same].any()


def test_new_rows_get_the_shrunk_mean_of_every_training_row_of_their_key(tmp_path):
    frame = visits()
    opts = Options(target="result", test_fraction=0.0, **QUICK)
    prepared = prepare(frame, opts, say=lambda _: None)
    train(prepared, opts, say=lambda _: None)
    prepared.run.save(tmp_path / "run")
    run = TabularRun.load(tmp_path / "run", record=False)
    new = visits(40, seed=5).drop(columns="result")
    new.loc[0, "patient"] = 3   # a patient training never saw: the prior
    x, _ = run.encode(new, "the new rows")
    spec = next(n for n in run.preprocessor.numeric if n.name == KEY)
    got = x[:, [n.name for n in run.preprocessor.numeric].index(KEY)].double().numpy() * spec.std + spec.mean
    y = (frame["result"] == "positive").astype(float)
    prior = y.mean()
    by_hand = y.groupby(frame["patient"]).agg(["sum", "count"])
    for i, patient in enumerate(new["patient"]):
        total, count = by_hand.loc[patient] if patient in by_hand.index else (0.0, 0)
        share = (total + M * prior) / (count + M)
        assert got[i] == pytest.approx(np.log(share / (1 - share)), abs=1e-4)


def test_a_run_with_the_key_statistic_resumes_and_predicts_the_same(tmp_path):
    frame, opts = visits(), Options(target="result", seed=1, **QUICK)
    reference = prepare(frame, opts, say=lambda _: None)
    assert reference.run.preprocessor.key is not None
    train(reference, opts, say=lambda _: None)
    interrupted = prepare(frame, opts, say=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, opts, say=lambda _: None, run_dir=tmp_path / "run", callbacks=[_CtrlCAt(7)])
    resumed = prepare(frame, opts, say=lambda _: None)
    train(resumed, opts, say=lambda _: None, run_dir=tmp_path / "run", resume=True)
    want, got = reference.run.model.state_dict(), resumed.run.model.state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    resumed.run.save(tmp_path / "saved")
    new = visits(30, seed=9).drop(columns="result")
    expected = reference.run.predictions(new)[0]
    pd.testing.assert_frame_equal(TabularRun.load(tmp_path / "saved", record=False).predictions(new)[0], expected)


def test_three_classes_get_one_log_share_per_class():
    frame = visits()
    frame["result"] = np.where(frame["result"] == "positive", "positive",
                               np.where(frame["age"] > 60, "invalid", "negative"))
    prepared = prepare(frame, Options(target="result", **QUICK), say=lambda _: None)
    key = prepared.run.preprocessor.key
    assert key.names == [f"patient (key statistic: {c})" for c in ("invalid", "negative", "positive")]
    shares = np.exp(key.values(frame.head(50)))
    assert shares.sum(axis=1) == pytest.approx(np.ones(50), abs=1e-6)


def test_an_update_keeps_the_fits_key_statistic_and_says_so():
    frame = visits(800)
    numbers = Options(target="result", numeric=("patient",), **QUICK)   # read as a group's code, patient would be a
    run = fit_table(frame.iloc[:600], numbers, say=lambda _: None)      # category, whose new levels come first
    counts = list(run.preprocessor.key.counts)
    before = run.preprocessor.key.values(frame.iloc[600:])
    lines: list[str] = []
    update_run(run, frame.iloc[600:], say=lines.append, max_epochs=3, progress=False)
    assert lines[0].endswith(f", and so does the statistic of the key 'patient' (its levels' means from the fit's "
                             f"{sum(counts)} training rows; the new rows read it as predicted rows do)")
    assert run.preprocessor.key.counts == counts
    assert np.array_equal(run.preprocessor.key.values(frame.iloc[600:]), before)


def test_a_number_target_gets_no_key_statistic():
    frame = visits()
    frame["result"] = np.where(frame["result"] == "positive", 2.0, 0.0) + np.random.default_rng(4).normal(0, .1, 600)
    prepared = prepare(frame, Options(target="result", **QUICK), say=lambda _: None)
    assert prepared.run.preprocessor.key is None and KEY not in [n.name for n in prepared.run.preprocessor.numeric]
