"""Experiment trackers as fit callbacks: `TensorBoard(log_dir)` writes event files, `MLflow(tracking_uri)` a run
in any MLflow tracking store. Each writes what the history holds (losses, lr, grad_norm, metrics, per step), fit's
settings as hyperparameters, the doctor's findings and the final model (safetensors). Each needs its optional
package (`pip install 'descend[tensorboard]'`, `'descend[mlflow]'`) and says so in one line when it is missing.
`from_target("tensorboard:DIR")` builds one from the CLI's `--log` text.

May import: core, runs, fit.
"""
from .mlflow_log import MLflow
from .targets import TRACKERS, from_target, from_targets, parse_target
from .tensorboard_log import TensorBoard

__all__ = ["TensorBoard", "MLflow", "TRACKERS", "from_target", "from_targets", "parse_target"]
