"""The loop callback that keeps a run directory current while `fit` runs: config at the start, a history line
per step, checkpoints every `checkpoint_every` steps and at the last one; on resume it restores the checkpoint
before the first step."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

import torch

from .. import optim
from ..core.errors import DescendError
from ..core.loop import FIRST, LAST, Callback, LoopState, never
from . import checkpoint, faults, ranks, state as train_state
from .directory import CHECKPOINTS, CONFIG, HISTORY, Run
from .files import jsonable, write_json


def _write_error(path: Path, err: OSError, kept: str) -> DescendError:
    return DescendError(f"could not write {path}: {err.strerror or err}. {kept} Free space or make the directory "
                        "writable, then call fit again with resume=True")


class Checkpoints(Callback):
    """The recorder's second half, last among the callbacks: a step's checkpoint is taken once every other
    callback is done with the step, so it holds their memory of it too."""

    order = LAST

    def __init__(self, recorder: "Recorder"):
        self.recorder = recorder

    def needs_sync(self, state: LoopState) -> bool:
        """A checkpoint holds the model of its own step: the loop must settle before it moves on."""
        return self.recorder.interrupted or state.step % self.recorder.every == 0

    def on_step_end(self, state: LoopState, record: dict) -> None:
        if not state.replaying or state.stop_reason is not None:   # the model is this step's
            self.recorder.checkpoint_if_due(state)


class Recorder(Callback):
    """Keeps the run directory current: config at the start, a history line per step, checkpoints every
    `checkpoint_every` steps and at the last step (through its `checkpoints`, which go last); on resume it restores
    the checkpoint before the first step. It goes first among the callbacks, so the others start from the restored
    state and a step's history line is on disk before any of them acts on the step.
    Ctrl-C asks for a checkpoint at the end of the current step, then stops with a line saying how to resume
    (in a single process; under torch.distributed a run continues from its last periodic checkpoint).
    `callbacks` are the two halves, for the loop to add."""

    order = FIRST

    def __init__(self, run: Run, loop, stream, model, device: torch.device):
        self.run, self.loop, self.stream, self.model, self.device = run, loop, stream, model, device
        self.history = None
        self.checkpoints = Checkpoints(self)
        self.callbacks = (self, self.checkpoints)
        self.digest = hashlib.sha256()   # of every history line written, for the checkpoints' manifests
        self.interrupted = False
        self.previous_handler = None
        self.last_saved: str = "none yet"

    def on_start(self, state: LoopState) -> None:
        run, total = self.run, state.total_steps
        self.every = run.checkpoint_every or (max(total // 10, 1) if total else 1000)
        if run.resume is not None:
            self._restore(state)
        elif run.writes:
            write_json(run.path / CONFIG, run.config)
        if run.writes:
            self.history = open(run.path / HISTORY, "ab")
        single = ranks.world()[1] == 1
        if single and threading.current_thread() is threading.main_thread():
            self.previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def _restore(self, state: LoopState) -> None:
        resume = self.run.resume
        weights, saved = self.run.load_checkpoint(self.device, keep=False)
        self.model.load_state_dict(weights)
        history, prefix = self.run.read_history()
        self.digest.update(prefix)
        train_state.restore(saved, self.loop, self.stream, history, self.device, ranks.world()[0])
        self.last_saved = resume.checkpoint.name
        if resume.finish_only:
            # the loop takes no step; fit writes the final files
            state.stop_reason, state.stop_code = resume.stop_reason, resume.stop_code
        elif self.run.writes:
            print(f"resumed {self.run.path} from {self.last_saved} (step {state.step})", file=sys.stderr)

    needs_sync = never   # writes each record's history line whenever the loop settles

    def _on_sigint(self, signum, frame) -> None:
        if self.interrupted:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.interrupted = True
        print("\ninterrupt: saving a checkpoint at the end of this step (Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    def on_step_end(self, state: LoopState, record: dict) -> None:
        if self.run.writes:
            self._append(record)

    def checkpoint_if_due(self, state: LoopState) -> None:
        """Save at every `every` steps, at the last step, and at the end of a step Ctrl-C interrupted."""
        if self.interrupted or state.stop_reason is not None or state.step % self.every == 0:
            folder = self._save(state)
        if self.interrupted:   # how to resume is the caller's to say: fit(...) in Python, --resume in the CLI
            print(f"interrupted at step {state.step}; checkpoint saved in {folder}", file=sys.stderr, flush=True)
            raise KeyboardInterrupt(f"interrupted at step {state.step}; resume with fit(..., "
                                    f"run_dir={str(self.run.path)!r}, resume=True)")

    def _append(self, record: dict) -> None:
        line = (json.dumps(jsonable(record)) + "\n").encode()
        faults.point("history", tear=lambda: (self.history.write(line[:len(line) // 2]), self.history.flush()))
        try:
            self.history.write(line)
            self.history.flush()
        except OSError as err:
            raise _write_error(self.run.path / HISTORY, err,
                               f"The last good checkpoint ({self.last_saved}) is kept.") from err
        self.digest.update(line)

    def _save(self, state: LoopState) -> Path | None:
        rngs = ranks.gather(train_state.rng_state(self.device))  # every rank's generators, on rank 0
        if not self.run.writes:
            return None
        folder = self.run.path / CHECKPOINTS / checkpoint.name(state.step)
        try:
            os.fsync(self.history.fileno())  # the checkpoint refers to these lines, so they must be on disk first
            evaluated, training = self._weights()
            meta = {"stop_reason": state.stop_reason, "stop_code": state.stop_code,
                    "history": {"length": len(state.history), "sha256": self.digest.hexdigest()}}
            folder = checkpoint.save(self.run.path / CHECKPOINTS, state.step, evaluated,
                                     train_state.capture(self.loop, self.stream, rngs), meta, training,
                                     self._history_bytes())
        except OSError as err:
            raise _write_error(folder, err, f"The last good checkpoint ({self.last_saved}) is kept.") from err
        self.last_saved = folder.name
        return folder

    def _history_bytes(self) -> bytes | None:
        """The history lines written so far, as the checkpoint's own copy (None if the file no longer holds
        exactly them: then the checkpoint keeps only their checksum)."""
        data = (self.run.path / HISTORY).read_bytes()
        return data if hashlib.sha256(data).hexdigest() == self.digest.hexdigest() else None

    def _weights(self) -> tuple[dict, dict | None]:
        """The evaluation weights (Schedule-Free's x, EMA's average: what a user loading a checkpoint expects)
        and, when they differ, the training weights the next step starts from, put back bit for bit."""
        optimizer = self.loop.optimizer
        if not callable(getattr(optimizer, "eval", None)):
            return self.model.state_dict(), None
        training = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        with optim.evaluation_weights(optimizer):
            evaluated = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(training)  # switching back may round differently; the run must not notice
        same = all(torch.equal(evaluated[k], training[k]) for k in training)
        return evaluated, None if same else training

    def on_end(self, state: LoopState) -> None:
        if self.previous_handler is not None:
            signal.signal(signal.SIGINT, self.previous_handler)
        if self.history is not None:
            self.history.close()
