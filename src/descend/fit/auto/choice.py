"""What `optimizer="auto"` (or `lr="auto"`) chose, in words and as data: the record FitResult, config.json and
`descend fit` show, and the one a resumed run reads back instead of choosing again."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .converge import describe
from .units import Units


@dataclass
class Choice:
    """The algorithm (a registry name), learning rate and schedule the run trains with, why, and what was observed.

    `probe_steps` are steps the choice itself took; they trained the model and count in the run's steps.
    `observed` holds the measurements the decision read (full batch or not, gradient noise, parameters, ...).
    `limit` is how the run ends when the choice sets it, else empty: how long it goes (L-BFGS: until converged,
    under a cap) and, as "keeps_best", the value whose best evaluation's weights it ends with (best.py).
    """

    optimizer: str
    lr: float | None
    schedule: str
    reason: str
    probe_steps: int = 0
    observed: dict = field(default_factory=dict)
    limit: dict = field(default_factory=dict)

    def line(self) -> str:
        """One line for people: 'auto: adamw, lr 3.1e-03, cosine to 0 after a 27-step sweep (mini-batches ...)'."""
        lr = "line search" if self.lr is None else f"lr {self.lr:.2g}"
        until = f", {describe(self.limit)}" if "until_converged" in self.limit else ""
        if "keeps_best" in self.limit:
            until += (f", keeping the weights of its lowest {self.limit['keeps_best']} evaluation if the last ones "
                      "score worse beyond the validation rows' noise")   # a plan: the stop reason says what happened
        units = f"; {Units(**self.observed['target']).words()}" if "target" in self.observed else ""
        return f"auto: {self.optimizer}, {lr}, {self.schedule}{until} ({self.reason}){units}"

    def to_dict(self) -> dict:
        """The fields, and the line in words (config.json's "auto" section, which `descend report` shows)."""
        return {**asdict(self), "line": self.line()}

    @classmethod
    def from_dict(cls, data: dict) -> "Choice":
        return cls(**{key: value for key, value in data.items() if key != "line"})   # the line follows the fields
