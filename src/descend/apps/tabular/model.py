"""The tabular network: numbers plus one-hot or embedded categories, then a linear layer or an MLP."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .preprocess import Preprocessor


def architecture(pre: Preprocessor, hidden: tuple[int, ...], out_dim: int) -> dict:
    """The JSON-able description the network is rebuilt from (saved in config.json)."""
    return {"numeric_width": pre.numeric_width, "hidden": list(hidden), "out_dim": out_dim,
            "categorical": [[c.size, c.encoding, c.dim] for c in pre.categorical]}


class TabularNet(nn.Module):
    """Input columns: first `numeric_width` standardized numbers, then one category index per categorical.

    Index 0 (a level unseen in training) adds nothing: its one-hot block is all zeros, its embedding is fixed at 0.
    """

    def __init__(self, numeric_width: int, categorical: list, hidden: list[int], out_dim: int):
        super().__init__()
        self.numeric_width = numeric_width
        self.onehot = [(i, size) for i, (size, enc, _) in enumerate(categorical) if enc == "onehot"]
        self.embedded = [i for i, (_, enc, _) in enumerate(categorical) if enc == "embedding"]
        self.embeddings = nn.ModuleList(nn.Embedding(categorical[i][0], categorical[i][2], padding_idx=0)
                                        for i in self.embedded)
        width = numeric_width + sum(size - 1 for _, size in self.onehot) + sum(e.embedding_dim for e in self.embeddings)
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, out_dim))
        self.layers = nn.Sequential(*layers)

    @classmethod
    def build(cls, spec: dict) -> "TabularNet":
        return cls(spec["numeric_width"], spec["categorical"], spec["hidden"], spec["out_dim"])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The first layer's input: numbers, one-hot blocks and embeddings side by side."""
        codes = x[:, self.numeric_width:].long()
        parts = [x[:, :self.numeric_width]]
        parts += [F.one_hot(codes[:, i], size)[:, 1:].to(x.dtype) for i, size in self.onehot]
        parts += [emb(codes[:, i]) for emb, i in zip(self.embeddings, self.embedded)]
        return torch.cat(parts, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.features(x))

    def set_output_bias(self, value: float) -> None:
        with torch.no_grad():
            self.layers[-1].bias.fill_(value)


def inputs(x_num, x_cat) -> torch.Tensor:
    """The single float matrix the network takes: numbers then category indices (exact in float32 below 2**24)."""
    return torch.cat([torch.as_tensor(x_num, dtype=torch.float32), torch.as_tensor(x_cat).float()], dim=1)
