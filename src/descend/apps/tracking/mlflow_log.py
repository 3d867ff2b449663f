"""MLflow: fit's run in an MLflow tracking store (a local folder, a database, a server): settings as params,
the history as metrics by step, the findings as findings.json and tags, the final model as
model/model.safetensors."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from ...core.errors import DescendError
from ...core.loop import LoopState, never
from ...fit.observer import FitObserver
from ...runs.ranks import is_main_process
from .common import best_metrics, findings_data, flat_settings, model_bytes, require, scalars

BATCH = 1000           # metrics per log_batch call (MLflow's limit)
PARAM_CHARS = 6000     # MLflow refuses longer parameter values; longer settings are cut with a mark


class MLflow(FitObserver):
    """Log each fit as one run of `experiment` at `tracking_uri` (None: MLflow's own default, MLFLOW_TRACKING_URI
    included), named `run_name`. A run cut short by an error or Ctrl-C is marked FAILED with what it logged;
    `run_id` names the latest run. Under torch.distributed only the main process logs."""

    needs_sync = never

    def __init__(self, tracking_uri: str | None = None, experiment: str = "descend", run_name: str | None = None):
        require("mlflow", "mlflow", "MLflow")
        self.tracking_uri, self.experiment, self.run_name = tracking_uri, experiment, run_name
        self.client, self.run_id, self.settings, self.pending = None, None, {}, []

    def on_settings(self, settings: dict) -> None:
        self.settings = settings

    def on_start(self, state: LoopState) -> None:
        if not is_main_process():
            return
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
        try:
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
            found = self.client.get_experiment_by_name(self.experiment)
            experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
        except MlflowException as err:   # a store MLflow cannot open or refuses, before the first step
            raise DescendError(f"MLflow tracking URI {self.tracking_uri!r}: {err.message}") from None
        self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
        params = [Param(key, _cut(str(value))) for key, value in flat_settings(self.settings).items()]
        self.client.log_batch(self.run_id, params=params)

    def on_step(self, state: LoopState, record: dict) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        self.pending += [Metric(key, value, now, int(record["step"])) for key, value in scalars(record).items()]
        if len(self.pending) >= BATCH:
            self._flush()

    def on_end(self, state: LoopState) -> None:
        if self.client is None:
            return
        self._flush()
        if state.stop_reason is None:   # an error or Ctrl-C: fit returns no result
            self.client.set_terminated(self.run_id, "FAILED")
            self.client = None

    def on_result(self, result) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        from mlflow.entities import Metric, RunTag
        now = int(time.time() * 1000)
        step = int(result.best.get("step", 0))
        client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in best_metrics(result.best).items()],
                         tags=[RunTag("descend.stop_reason", _cut(result.stop_reason or "")),
                               RunTag("descend.findings", ", ".join(f.code for f in result.findings) or "none")])
        with tempfile.TemporaryDirectory() as folder:
            findings, model = Path(folder) / "findings.json", Path(folder) / "model.safetensors"
            findings.write_text(json.dumps(findings_data(result.findings), indent=1))
            model.write_bytes(model_bytes(result.model))
            client.log_artifact(self.run_id, str(findings))
            client.log_artifact(self.run_id, str(model), artifact_path="model")
        client.set_terminated(self.run_id, "FINISHED")

    def _flush(self) -> None:
        for start in range(0, len(self.pending), BATCH):
            self.client.log_batch(self.run_id, metrics=self.pending[start:start + BATCH])
        self.pending = []


def _cut(text: str) -> str:
    return text if len(text) <= PARAM_CHARS else text[:PARAM_CHARS - 3] + "..."
