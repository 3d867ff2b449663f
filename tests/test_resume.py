"""A run killed for real (SIGKILL) or interrupted (SIGINT) in the middle of an epoch and resumed ends with the
same parameters and history as a run that was never stopped: bit-identical on CPU."""
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import descend as ds
from descend.runs import checkpoint

SETUP = '''
import torch
from torch import nn
import descend as ds
from descend.runs import checkpoint

def make():
    torch.manual_seed(0)
    X = torch.randn(120, 4)
    y = X @ torch.arange(1.0, 5.0).unsqueeze(1) + 0.1 * torch.randn(120, 1)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 1))
    return model, (X[:96], y[:96]), (X[96:], y[96:])

def rules():
    return [ds.stop.Patience(50, restore_best=True), ds.stop.Converged(rtol=1e-12, window=5)]

# 10 batches per epoch: checkpoints at steps 4, 8, 12, 16 ... fall inside epochs
SETTINGS = dict(max_steps=36, batch_size=10, eval_every=5, lr=1e-2, progress=False, checkpoint_every=4,
                schedule=ds.schedules.cosine())
'''
CHILD = SETUP + '''
import sys, time
from pathlib import Path

class PauseAt14(ds.loop.Callback):
    """Mid-epoch, two steps after checkpoint 12: say so, then wait until the parent has sent its signal."""
    def on_step_end(self, state, record):
        if state.step == 14:
            (Path(sys.argv[2]) / "at-14").touch()
            while not (Path(sys.argv[2]) / "go").exists():
                time.sleep(0.01)

model, train, val = make()
ds.fit(model, train, val=val, stop=rules(), run_dir=sys.argv[1], callbacks=[PauseAt14()], **SETTINGS)
'''
namespace: dict = {}
exec(SETUP, namespace)


@functools.cache
def _reference():
    model, train, val = namespace["make"]()
    return ds.fit(model, train, val=val, stop=namespace["rules"](), **namespace["SETTINGS"])


def _signal_child_at_step_14(tmp_path: Path, sig: int) -> tuple[Path, subprocess.Popen]:
    """Start a real training process, wait until it is paused after step 14 and send it `sig`."""
    script, run_dir = tmp_path / "child.py", tmp_path / "run"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(ds.__file__).parents[1])}
    child = subprocess.Popen([sys.executable, str(script), str(run_dir), str(tmp_path)], env=env,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "at-14").exists():
        assert child.poll() is None, f"child ended early: {child.stderr.read()}"
        assert time.monotonic() < deadline, "the child never reached step 14"
        time.sleep(0.01)
    child.send_signal(sig)
    (tmp_path / "go").touch()
    return run_dir, child


def _resume_and_compare(run_dir: Path) -> ds.FitResult:
    model, train, val = namespace["make"]()
    resumed = ds.fit(model, train, val=val, stop=namespace["rules"](), run_dir=str(run_dir), resume=True,
                     **namespace["SETTINGS"])
    reference = _reference()
    assert resumed.history == reference.history
    for (name, got), want in zip(resumed.model.state_dict().items(), reference.model.state_dict().values()):
        assert torch.equal(got, want), name
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    assert len(lines) == len(reference.history) == 36
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-000000032", "step-000000036"]
    return resumed


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    run_dir, child = _signal_child_at_step_14(tmp_path, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert not (run_dir / "model.safetensors").exists()  # it really died before the end
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-000000008", "step-000000012"]
    saved = torch.load(run_dir / "checkpoints" / "step-000000012" / "state.pt", weights_only=True)
    assert (saved["data"]["epoch"], saved["data"]["position"]) == (1, 2)  # inside the second epoch
    assert len((run_dir / "history.jsonl").read_text().splitlines()) == 14  # steps 13-14 are redone
    _resume_and_compare(run_dir)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_says_how_to_resume_and_resumes_exactly(tmp_path):
    run_dir, child = _signal_child_at_step_14(tmp_path, signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGINT  # Python re-raises an unhandled KeyboardInterrupt as SIGINT
    saved = run_dir / "checkpoints" / "step-000000014"   # the step the signal arrived in, once it was complete
    line = next(l for l in err.splitlines() if l.startswith("interrupted at step"))
    assert line == f"interrupted at step 14; checkpoint saved in {saved}"
    assert err.strip().splitlines()[-1] == (f"KeyboardInterrupt: interrupted at step 14; resume with fit(..., "
                                            f"run_dir={str(run_dir)!r}, resume=True)")
    assert checkpoint.verify(saved)["step"] == 14 and not (run_dir / "model.safetensors").exists()
    assert len((run_dir / "history.jsonl").read_text().splitlines()) == 14  # nothing after the interrupted step
    _resume_and_compare(run_dir)
