"""A model's training flags set without nn.Module.train's walks: the watch and the doctor put a model in eval mode
for a forward pass and back many times a run, and train() walks every module's children each time (and the
mode's restore a second time), which cost more than a small model's forward on a few rows."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn


def _plain(kind: type) -> bool:
    """Whether a module class keeps nn.Module's train, eval and __setattr__: then model.train(mode) sets
    `training` on every module and nothing else, and nn.Module.__setattr__ stores a bool as object's does."""
    return kind.train is nn.Module.train and kind.eval is nn.Module.eval and kind.__setattr__ is nn.Module.__setattr__


@dataclass(frozen=True)
class Modules:
    """A model's modules as they are now (`all`, each once, in model.modules() order), and whether their modes can
    be set by each one's flag (`by_flags`: no class among them overrides train, eval or __setattr__)."""

    model: nn.Module
    all: tuple[nn.Module, ...]
    by_flags: bool

    @classmethod
    def of(cls, model: nn.Module) -> "Modules":
        """One walk of `model`'s modules (fit adds none during a run, so a run's reads can share it)."""
        found = tuple(model.modules())
        return cls(model, found, all(_plain(type(m)) for m in found))

    def buffer_ids(self) -> list[int]:
        """The ids of every module's buffers, which tell when a module replaced one (model.buffers() walks the
        modules again each time)."""
        return [id(buffer) for module in self.all for buffer in module._buffers.values()]

    def flags(self) -> list[bool]:
        """Each module's training flag, in the order of `all`."""
        return [module.training for module in self.all]

    def put(self, flags: list[bool]) -> None:
        """Give each module its flag from `flags` (as flags() returned them), by the flag alone."""
        assign = object.__setattr__ if self.by_flags else setattr
        for module, training in zip(self.all, flags):
            assign(module, "training", training)

    def train(self, mode: bool) -> None:
        """What model.train(mode) does (model.eval() for False): by the flags where that is all it does."""
        if self.by_flags:
            self.put([mode] * len(self.all))
        else:
            self.model.train(mode)
