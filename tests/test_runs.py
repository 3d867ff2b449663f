"""Run directories: what they hold, checksummed checkpoints with fallback, and refusals that protect a run."""
import errno
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import descend as ds
from descend.runs import checkpoint, config as run_config, directory
from descend.runs.files import sha256_file


def _problem():
    torch.manual_seed(1)
    X = torch.randn(64, 3)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.05 * torch.randn(64, 1)
    return nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 1)), (X[:48], y[:48]), (X[48:], y[48:])


SETTINGS = dict(max_steps=12, batch_size=8, lr=1e-2, progress=False, checkpoint_every=4)


class Crash(ds.loop.Callback):
    """Dies after step `at`, the way a crash would (no final checkpoint)."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, state, record):
        if state.step == self.at:
            raise RuntimeError("simulated crash")


def _fit(run_dir=None, callbacks=(), patience=False, **overrides):
    """The run of these tests; `patience` adds a Patience rule that never fires but restores the best weights."""
    model, train, val = _problem()
    stop = [ds.stop.Patience(50, restore_best=True)] if patience else []
    return ds.fit(model, train, val=val, run_dir=None if run_dir is None else str(run_dir),
                  callbacks=callbacks, **{"stop": stop, **SETTINGS, **overrides})


def _crashed_run(run_dir: Path, at: int = 10) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(run_dir, callbacks=[Crash(at)])


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_run_dir_holds_config_history_checkpoints_and_final_weights(tmp_path):
    result = _fit(tmp_path / "run")
    run = tmp_path / "run"
    assert result.run_dir == str(run)
    config = json.loads((run / "config.json").read_text())
    assert config["run"]["lr"] == 1e-2 and config["run"]["batch_size"] == 8 and config["run"]["max_steps"] == 12
    assert config["model"]["parameters"]["0.weight"] == [6, 3, "torch.float32"]
    assert config["data"]["train"]["parts"][0]["shape"] == [48, 3]
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert history == result.history and len(history) == 12
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000000008", "step-000000012"]
    final = run / "checkpoints" / "step-000000012"
    state = torch.load(final / "state.pt", weights_only=True)
    assert state["loop"]["step"] == 12 and state["loop"]["history_length"] == 12
    # adamw over small tensors keeps one flat state per param group (weights 0 and 1, biases 2 and 3), under its first
    assert set(state["optimizer"]["state"]) == {0, 2}
    assert state["optimizer"]["state"][0]["exp_avg"].numel() == sum(p.numel() for p in result.model.parameters()
                                                                     if p.ndim == 2)
    weights = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(weights[k], v) for k, v in result.model.state_dict().items())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == result.stop_reason and summary["steps"] == 12
    findings = json.loads((run / "findings.json").read_text())  # written whether or not there are findings
    assert findings == [f.to_dict() for f in result.findings]
    assert summary["files"] == {name: sha256_file(run / name)
                                for name in ("model.safetensors", "findings.json", "history.jsonl")}
    manifest = json.loads((final / "manifest.json").read_text())
    assert manifest["history"] == {"length": 12, "sha256": sha256_file(run / "history.jsonl")}
    assert config["run"]["doctor"] is True and config["model"]["architecture"] == repr(result.model)


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    _crashed_run(tmp_path / "run", at=10)
    resumed = _fit(tmp_path / "run", resume=True)
    reference = _fit()
    assert resumed.history == reference.history and _same_weights(resumed.model, reference.model)


def test_truncated_checkpoint_is_named_and_the_previous_good_one_is_used(tmp_path):
    run = tmp_path / "run"
    _crashed_run(run, at=10)
    bad = run / "checkpoints" / "step-000000008" / "model.safetensors"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.warns(UserWarning, match=r"step-000000008/model\.safetensors is corrupted.*step-000000004"):
        resumed = _fit(run, resume=True)
    reference = _fit()
    assert resumed.history == reference.history and _same_weights(resumed.model, reference.model)
    assert (run / "checkpoints" / "corrupt-step-000000008").is_dir()


def test_all_checkpoints_corrupt_refuses_instead_of_starting_over(tmp_path):
    run = tmp_path / "run"
    _crashed_run(run, at=10)
    for state in (run / "checkpoints").glob("step-*/state.pt"):
        data = bytearray(state.read_bytes())
        data[len(data) // 2] ^= 0xFF
        state.write_bytes(bytes(data))
    with pytest.raises(ds.DescendError, match=r"step-000000008/state\.pt is corrupted.*step-000000004/state\.pt "
                                              r"is corrupted.*Refusing to start over"):
        _fit(run, resume=True)
    assert len((run / "history.jsonl").read_text().splitlines()) == 10  # nothing was touched


def test_checkpoint_from_a_newer_format_is_refused_naming_the_version(tmp_path):
    run = tmp_path / "run"
    _crashed_run(run, at=6)
    manifest = run / "checkpoints" / "step-000000004" / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "format": checkpoint.FORMAT + 1}))
    with pytest.raises(ds.DescendError, match=f"checkpoint format {checkpoint.FORMAT + 1}, newer than the format "
                                              f"{checkpoint.FORMAT}"):
        _fit(run, resume=True)


def test_resume_with_different_settings_is_refused_saying_what_differs(tmp_path):
    run = tmp_path / "run"
    _crashed_run(run, at=6)
    with pytest.raises(ds.DescendError, match=r"different run.*run\.lr: 0\.01 in the run, 0\.1 now; "
                                              r"run\.stop: \[\] in the run, \[{.rule.: .Patience., .patience.: 3"):
        _fit(run, resume=True, lr=0.1, stop=[ds.stop.Patience(3)])
    model, train, val = _problem()
    with pytest.raises(ds.DescendError, match=r"data\.train\.parts\[0\]\.sha256"):
        ds.fit(model, (train[0] + 1, train[1]), val=val, run_dir=str(run), resume=True, **SETTINGS)


def test_fresh_run_into_a_used_directory_is_refused(tmp_path):
    _fit(tmp_path / "run")
    before = (tmp_path / "run" / "history.jsonl").read_text()
    with pytest.raises(ds.DescendError, match=r"run_dir .*run is not empty .*pass resume=True"):
        _fit(tmp_path / "run")
    assert (tmp_path / "run" / "history.jsonl").read_text() == before


def test_resume_refusals_name_what_is_missing(tmp_path):
    with pytest.raises(ds.DescendError, match="resume=True needs run_dir="):
        _fit(resume=True)
    with pytest.raises(ds.DescendError, match=r"nothing to resume in .*empty: it has no config\.json"):
        _fit(tmp_path / "empty", resume=True)
    with pytest.raises(ds.DescendError, match="checkpoint_every must be a positive integer, got 0"):
        _fit(tmp_path / "new", checkpoint_every=0)


def test_full_disk_fails_clearly_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_write = checkpoint.write_new

    def fill_after_first_checkpoint(path, data):
        if "step-000000008" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "write_new", fill_after_first_checkpoint)
    with pytest.raises(ds.DescendError, match=r"could not write .*step-000000008: No space left on device\. "
                                              r"The last good checkpoint \(step-000000004\) is kept"):
        _fit(run)
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000000004"]  # no temporary folder left
    checkpoint.verify(run / "checkpoints" / "step-000000004")
    monkeypatch.undo()
    resumed = _fit(run, resume=True)
    assert resumed.history == _fit().history


def test_read_only_run_dir_is_refused_before_training(tmp_path, monkeypatch):
    def read_only(self, data):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(ds.DescendError, match=r"run_dir .* is not writable: Read-only file system"):
        _fit(tmp_path / "run")


def test_resume_refuses_another_architecture_or_doctor_mode(tmp_path):
    run = tmp_path / "run"
    _crashed_run(run, at=6)
    model, train, val = _problem()
    model[1] = nn.Tanh()  # same parameters and shapes, a different function
    with pytest.raises(ds.DescendError, match=r"different run.*model\.architecture: .*ReLU.* in the run, .*Tanh.* now"):
        ds.fit(model, train, val=val, run_dir=str(run), resume=True, **SETTINGS)
    with pytest.raises(ds.DescendError, match=r"run\.doctor: True in the run, 'fix' now"):
        _fit(run, resume=True, doctor="fix")


def test_config_from_a_newer_format_is_refused_naming_the_version(tmp_path):
    run = tmp_path / "run"
    _crashed_run(run, at=6)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "format": run_config.CONFIG_FORMAT + 1}))
    with pytest.raises(ds.DescendError, match=rf"config\.json was written in config format "
                                              rf"{run_config.CONFIG_FORMAT + 1}, newer than the format "
                                              rf"{run_config.CONFIG_FORMAT} this descend reads"):
        _fit(run, resume=True)


def _averaging(kind: str):
    def make(model):
        if kind == "ema":
            return ds.optim.EMA(torch.optim.AdamW(model.parameters(), lr=0.02), decay=0.9)
        return ds.optim.create(model, "schedule_free_adamw", lr=0.02)
    return make


@pytest.mark.parametrize("kind", ["schedule_free_adamw", "ema"])
def test_checkpoints_hold_evaluation_weights_and_resume_exactly_from_the_training_point(tmp_path, kind):
    make_optimizer = _averaging(kind)

    def fit(run_dir=None, callbacks=(), resume=False):
        model, train, val = _problem()
        return ds.fit(model, train, val=val, optimizer=make_optimizer(model), eval_every=5, callbacks=callbacks,
                      run_dir=None if run_dir is None else str(run_dir), resume=resume,
                      **{**SETTINGS, "lr": 0.02, "max_steps": 16})

    reference, run = fit(), tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(run, callbacks=[Crash(10)])
    mid = run / "checkpoints" / "step-000000008"
    evaluated, training = load_file(str(mid / "model.safetensors")), load_file(str(mid / "training.safetensors"))
    assert not torch.equal(evaluated["0.weight"], training["0.weight"])  # averaged weights differ from y / raw
    resumed = fit(run, resume=True)
    assert resumed.history == reference.history and _same_weights(resumed.model, reference.model)
    # the last checkpoint's model.safetensors is the returned (evaluation) model, like the run's model.safetensors
    last = load_file(str(run / "checkpoints" / "step-000000016" / "model.safetensors"))
    final = load_file(str(run / "model.safetensors"))
    for name, value in reference.model.state_dict().items():
        assert torch.equal(last[name], value) and torch.equal(final[name], value)
    assert not torch.equal(load_file(str(run / "checkpoints" / "step-000000016" / "training.safetensors"))["0.weight"],
                           final["0.weight"])


def test_plain_optimizers_write_no_second_copy_of_the_weights(tmp_path):
    _fit(tmp_path / "run")
    final = tmp_path / "run" / "checkpoints" / "step-000000012"
    assert sorted(p.name for p in final.iterdir()) == ["history.jsonl", "manifest.json", "model.safetensors",
                                                       "state.pt"]
    assert (final / "history.jsonl").read_bytes() == (tmp_path / "run" / "history.jsonl").read_bytes()


class Stream(torch.utils.data.IterableDataset):
    """Rows without a length (their order is the stream's own; a resume replays the pass up to the checkpoint)."""

    def __init__(self, X: torch.Tensor):
        self.X = X

    def __iter__(self):
        for x in self.X:
            yield x, x.sum(0, keepdim=True)


def _loader_fit(kind: str, run_dir=None, resume=False, callbacks=()):
    """A dropout model fed by a Dataset, a DataLoader without generator= (shuffling from torch's global generator,
    the one dropout draws from), a DataLoader with its own generator, or a stream without a length; 10 batches
    per epoch."""
    from torch.utils.data import DataLoader, TensorDataset
    torch.manual_seed(3)
    X = torch.randn(100, 3)
    data = TensorDataset(X, X.sum(1, keepdim=True))
    source = {"dataset": data, "loader": DataLoader(data, batch_size=10, shuffle=True),
              "seeded loader": DataLoader(data, batch_size=10, shuffle=True,
                                          generator=torch.Generator().manual_seed(1)),
              "stream": Stream(X)}[kind]
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))
    return ds.fit(model, source, max_steps=30, batch_size=10, progress=False, checkpoint_every=3, callbacks=callbacks,
                  run_dir=None if run_dir is None else str(run_dir), resume=resume)


@pytest.mark.parametrize("kind", ["dataset", "loader", "seeded loader", "stream"])
@pytest.mark.parametrize("crash_at", [5, 14, 20])   # checkpoints at steps 3, 12 (epoch 1) and 18 (epoch 1)
@pytest.mark.filterwarnings("ignore:the training data has no length")
def test_dataloaders_resume_exactly_whatever_generator_they_shuffle_with(tmp_path, kind, crash_at):
    reference = _loader_fit(kind)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _loader_fit(kind, tmp_path / "run", callbacks=[Crash(crash_at)])
    resumed = _loader_fit(kind, tmp_path / "run", resume=True)
    assert resumed.history == reference.history and _same_weights(resumed.model, reference.model)


@pytest.mark.filterwarnings("ignore:the training data has no length")
def test_a_stream_without_a_length_ends_each_epoch_with_its_last_batch():
    X = torch.randn(30, 3)
    result = ds.fit(nn.Linear(3, 1), Stream(X), batch_size=10, max_epochs=2, progress=False)
    assert [r["epoch"] for r in result.history] == [0, 0, 1, 1, 1, 2]   # epochs done after each step
    assert result.stop_reason == "reached the epoch limit (2 epochs)"


@pytest.mark.parametrize("line", [5, 1])   # inside step 8's lines after step 4's; before every checkpoint
def test_an_altered_history_is_restored_from_the_checkpoints_own_copy(tmp_path, line):
    run = tmp_path / "run"
    _crashed_run(run, at=10)
    history = run / "history.jsonl"
    lines = history.read_text().splitlines(keepends=True)
    lines[line] = lines[line].replace('"loss": ', '"loss": 1')   # one altered digit
    history.write_text("".join(lines))
    with pytest.warns(UserWarning, match=r"history\.jsonl does not hold, unaltered, the 8 lines checkpoint "
                                         r".*step-000000008 covers; they are restored from the checkpoint's own copy"):
        resumed = _fit(run, resume=True)
    reference = _fit()
    assert resumed.history == reference.history and _same_weights(resumed.model, reference.model)
    assert [json.loads(line) for line in history.read_text().splitlines()] == reference.history
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000000008", "step-000000012"]


class CountSteps(ds.loop.Callback):
    def __init__(self):
        self.steps = 0

    def on_step(self, state, record):
        self.steps += 1


@pytest.mark.parametrize("failing, missing", [("model.safetensors", "model.safetensors and findings.json and "
                                                                    "summary.json are"),
                                              ("findings.json", "findings.json and summary.json are"),
                                              ("summary.json", "summary.json is")])
def test_disk_full_while_finishing_names_the_file_and_resume_writes_the_final_files(tmp_path, monkeypatch, capsys,
                                                                                    failing, missing):
    run, real_write = tmp_path / "run", directory.write_atomic

    def full_once(path, data):
        if path.name == failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(directory, "write_atomic", full_once)
    with pytest.raises(ds.DescendError, match=rf"could not write {re.escape(str(run / failing))}: No space left on "
                                              r"device\. Training finished and its last checkpoint .*step-000000012 "
                                              r"is kept\..*resume=True: it writes the final files"):
        _fit(run, patience=True)
    monkeypatch.undo()
    assert not (run / "summary.json").exists()
    counter = CountSteps()
    capsys.readouterr()
    finished = _fit(run, resume=True, callbacks=[counter], patience=True)
    assert (f"finished training at step 12 but {missing} missing or incomplete; writing the final files from "
            f"{run / 'checkpoints' / 'step-000000012'}") in capsys.readouterr().err
    reference = _fit(patience=True)
    assert counter.steps == 0  # nothing trained again
    assert finished.history == reference.history and _same_weights(finished.model, reference.model)
    assert finished.stop_reason == reference.stop_reason and finished.best == reference.best
    weights = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(weights[k], v) for k, v in reference.model.state_dict().items())
    assert json.loads((run / "summary.json").read_text())["steps"] == 12
    assert json.loads((run / "findings.json").read_text()) == [f.to_dict() for f in reference.findings]
    _resuming_a_finished_run_returns_it_untouched(run, reference, patience=True)


def _resuming_a_finished_run_returns_it_untouched(run: Path, reference, **overrides) -> None:
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    counter = CountSteps()
    again = _fit(run, resume=True, callbacks=[counter], **overrides)
    assert counter.steps == 0 and again.stop_reason == reference.stop_reason
    assert again.history == reference.history and _same_weights(again.model, reference.model)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files


def test_resuming_a_finished_run_returns_its_result(tmp_path):
    reference = _fit(tmp_path / "done")
    _resuming_a_finished_run_returns_it_untouched(tmp_path / "done", reference)


def test_resume_before_the_first_checkpoint_starts_over_and_matches_a_whole_run(tmp_path, capsys):
    _crashed_run(tmp_path / "run", at=2)      # checkpoints every 4 steps: none yet, two history lines
    assert not checkpoint.listed(tmp_path / "run" / "checkpoints")
    resumed = _fit(tmp_path / "run", resume=True)
    assert "stopped before its first checkpoint; starting it again from step 0" in capsys.readouterr().err
    whole = _fit(tmp_path / "whole")
    assert resumed.history == whole.history and _same_weights(resumed.model, whole.model)
    assert (tmp_path / "run" / "history.jsonl").read_bytes() == (tmp_path / "whole" / "history.jsonl").read_bytes()
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


def test_a_folder_without_config_never_gets_advice_that_points_back(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ds.DescendError, match="no run of descend.fit") as fresh:
        _fit(tmp_path / "run")
    assert "resume=True" not in str(fresh.value)
    with pytest.raises(ds.DescendError, match="nothing to resume"):
        _fit(tmp_path / "run", resume=True)


def test_a_final_file_that_no_longer_matches_its_checksum_is_written_again(tmp_path, capsys):
    run = tmp_path / "run"
    reference = _fit(run)
    (run / "model.safetensors").write_bytes(b"truncated")
    capsys.readouterr()
    finished = _fit(run, resume=True)
    assert "but model.safetensors is missing or incomplete" in capsys.readouterr().err
    assert _same_weights(finished.model, reference.model)
    weights = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(weights[k], v) for k, v in reference.model.state_dict().items())


def test_run_dir_turning_read_only_mid_run_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """As root (how these tests run) chmod does not stop a write, so a read-only file system is simulated by
    refusing to create anything once step 6 is done; as another user the directory is made read-only for real."""
    run = tmp_path / "run"

    class ReadOnlyAfter6(ds.loop.Callback):
        def on_step_end(self, state, record):
            if state.step != 6:
                return
            if os.geteuid() != 0:
                for folder in (run, run / "checkpoints"):
                    folder.chmod(0o555)
                return

            def refuse(self, *args, **kwargs):
                raise OSError(errno.EROFS, "Read-only file system")
            monkeypatch.setattr(Path, "mkdir", refuse)

    try:
        with pytest.raises(ds.DescendError, match=rf"could not write {re.escape(str(run))}/checkpoints/step-000000008: "
                                                  r"(Read-only file system|Permission denied)\. The last good "
                                                  r"checkpoint \(step-000000004\) is kept"):
            _fit(run, callbacks=[ReadOnlyAfter6()])
    finally:
        monkeypatch.undo()
        for folder in (run, run / "checkpoints"):
            folder.chmod(0o755)
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000000004"]
    resumed = _fit(run, resume=True)
    reference = _fit()
    assert resumed.history == reference.history and _same_weights(resumed.model, reference.model)


def _parallel_fit(run_dir: str, resume: bool) -> dict:
    """One rank of a 2-process fit recorded in `run_dir`; every rank's history and weights (as lists: tensors
    would travel back through shared memory of a process that has ended), gathered on each. After a resume it
    also tries a fit whose run_dir is given on rank 0 only and returns the refusal."""
    import torch.distributed as dist
    model, train, val = _problem()
    result = ds.fit(model, train, val=val, run_dir=run_dir, resume=resume, **SETTINGS)
    mine = {"history": result.history, "weights": {k: v.tolist() for k, v in result.model.state_dict().items()}}
    every = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    refusal = None
    if resume:
        try:
            ds.fit(model, train, val=val, run_dir=run_dir + "-other" if dist.get_rank() == 0 else None, **SETTINGS)
        except ds.DescendError as err:
            refusal = str(err)
    return {"ranks": every, "refusal": refusal}


@pytest.mark.slow
def test_two_processes_write_one_run_dir_and_resume_together(tmp_path):
    from descend.fit import distributed
    run = tmp_path / "run"
    whole = distributed.launch(_parallel_fit, 2, str(run), False, backend="gloo")["ranks"]
    assert whole[0]["history"] == whole[1]["history"] and len(whole[0]["history"]) == 12
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert history == whole[0]["history"]  # one writer: 12 lines, not one set per process
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "findings.json", "history.jsonl",
                                                   "model.safetensors", "summary.json"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000000008", "step-000000012"]
    saved = torch.load(run / "checkpoints" / "step-000000012" / "state.pt", weights_only=True)
    assert len(saved["rank_rng"]) == 2
    # a crash after checkpoint 8: the last checkpoint and the final files never got written
    shutil.rmtree(run / "checkpoints" / "step-000000012")
    for name in ("model.safetensors", "summary.json", "findings.json"):
        (run / name).unlink()
    again = distributed.launch(_parallel_fit, 2, str(run), True, backend="gloo")
    for rank in (0, 1):  # exact: two gloo processes sum the same gradients in the same order both times
        assert again["ranks"][rank]["history"] == whole[0]["history"]
        assert again["ranks"][rank]["weights"] == whole[0]["weights"] == whole[1]["weights"]
    assert [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()] == whole[0]["history"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000000008", "step-000000012"]
    assert re.match(r"run_dir/resume differs between processes \(rank 0: \('.*run-other', False\), "
                    r"rank 1: \(None, False\)\)", again["refusal"])
    assert not (tmp_path / "run-other").exists()


def test_resume_with_lr_auto_continues_the_sweep_or_its_choice_from_the_checkpoint(tmp_path):
    for crash_at in (10, 30):   # during the sweep (its kept weights are in the checkpoint) and after its choice
        reference = _fit(lr="auto", max_steps=60)
        with pytest.raises(RuntimeError, match="simulated crash"):
            _fit(tmp_path / str(crash_at), callbacks=[Crash(crash_at)], lr="auto", max_steps=60)
        resumed = _fit(tmp_path / str(crash_at), resume=True, lr="auto", max_steps=60)
        assert resumed.history == reference.history and _same_weights(resumed.model, reference.model)
        assert resumed.choice == reference.choice and resumed.choice.probe_steps > 0


class _Counter(ds.loop.Callback):
    """A user callback with memory: the checkpoint keeps its count."""

    def __init__(self):
        self.steps = 0

    def on_step_end(self, state, record):
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def test_a_callbacks_memory_resumes_with_it_and_another_set_is_refused(tmp_path):
    counter = _Counter()
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tmp_path, callbacks=[counter, Crash(10)])
    with pytest.raises(ValueError, match=r"the checkpoint holds the memory of callbacks \['_Counter', 'Doctor'\], "
                                         r"but this run has \['Doctor'\]"):
        _fit(tmp_path, resume=True)
    again = _Counter()
    result = _fit(tmp_path, callbacks=[again], resume=True)
    assert again.steps == len(result.history)     # counted from the checkpoint on, as if it had never stopped
