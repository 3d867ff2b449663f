"""TensorBoard: fit's history as event files (torch.utils.tensorboard), its settings as hyperparameters, the
findings as text and the final model as model.safetensors beside the events."""
from __future__ import annotations

import json
from pathlib import Path

from ...core.loop import LoopState, never
from ...fit.observer import FitObserver
from ...runs.files import write_atomic
from ...runs.ranks import is_main_process
from .common import best_metrics, findings_data, flat_settings, model_bytes, require, scalars


class TensorBoard(FitObserver):
    """Write a fit's run to `log_dir` for `tensorboard --logdir`: one scalar series per history column (loss, lr,
    grad_norm, val_*, epoch) against the step, fit's settings and the best record in the HPARAMS tab, the
    findings under TEXT, and model.safetensors. A second fit with the same callback writes to log_dir/fit-2 (a
    run of its own in TensorBoard), and so on. Under torch.distributed only the main process writes."""

    needs_sync = never   # writes the records whenever the loop settles them

    def __init__(self, log_dir):
        require("torch.utils.tensorboard", "tensorboard", "TensorBoard")
        self.log_dir, self.fits = Path(log_dir), 0
        self.writer, self.settings = None, {}

    @property
    def folder(self) -> Path:
        """Where the current (or last) fit writes."""
        return self.log_dir if self.fits <= 1 else self.log_dir / f"fit-{self.fits}"

    def on_settings(self, settings: dict) -> None:
        self.settings = settings

    def on_start(self, state: LoopState) -> None:
        if not is_main_process():
            return
        from torch.utils.tensorboard import SummaryWriter
        self.fits += 1
        self.writer = SummaryWriter(str(self.folder))
        self.writer.add_text("settings", _code(self.settings))

    def on_step(self, state: LoopState, record: dict) -> None:
        if self.writer is not None:
            for key, value in scalars(record).items():
                self.writer.add_scalar(key, value, record["step"])

    def on_end(self, state: LoopState) -> None:
        if self.writer is not None:
            self.writer.flush()   # a run cut short keeps what it wrote; on_result closes the writer

    def on_result(self, result) -> None:
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams
        writer, self.writer = self.writer, None
        metrics = best_metrics(result.best)
        for summary in hparams(flat_settings(self.settings), metrics):
            writer.file_writer.add_summary(summary)
        for key, value in metrics.items():   # the HPARAMS tab reads its metrics from scalars of these names
            writer.add_scalar(key, value, int(result.best.get("step", 0)))
        writer.add_text("stop_reason", result.stop_reason or "")
        writer.add_text("findings", _code(findings_data(result.findings)) if result.findings else "no findings")
        writer.close()
        write_atomic(self.folder / "model.safetensors", model_bytes(result.model))


def _code(value) -> str:
    """JSON shown as a code block in TensorBoard's text tab (which reads markdown)."""
    text = json.dumps(value, indent=2, default=str)
    return "\n".join("    " + line for line in text.splitlines())
