"""The doctor reads the model's output activation from the forward pass it makes on the comparison rows: the
activation module that ran last, when its output is the model's output. A head built before its blocks (used last
in forward, registered first) is read right, and a block's own activation is not taken for the output."""
import torch
from torch import nn

import descend as ds
from descend.doctor.probes import evaluate, last_activation, output_activation

WARN = ("warning", "error")


class HeadFirst(nn.Module):
    """A head defined before the blocks it follows: its modules are registered first, though it runs last."""

    def __init__(self, block_act=nn.ReLU, squash: bool = False, inputs: int = 4, width: int = 16, depth: int = 2):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Sequential(nn.Linear(width, 1), *((nn.Sigmoid(),) if squash else ()))
        self.inp = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), block_act()) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h).squeeze(-1)


def labels(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, ((x[:, 0] + x[:, 1] * x[:, 2]) > 0).float()


def fit(model):
    x, y = labels()
    return ds.fit(model, (x[:450], y[:450]), val=(x[450:], y[450:]), loss="bce", max_epochs=15, progress=False)


def mismatch(result):
    return next((f for f in result.findings if f.severity in WARN and f.code == "loss_target_mismatch"), None)


def read(model: nn.Module, x: torch.Tensor) -> str | None:
    with last_activation(model) as last:
        out = evaluate(model, x)
    return output_activation(last, out)


def test_a_sigmoid_head_built_before_its_blocks_is_named_under_a_logits_loss_and_its_twin_is_not():
    squashed, raw = fit(HeadFirst(squash=True)), fit(HeadFirst())
    found = mismatch(squashed)
    assert found is not None and found.evidence["output_activation"] == "Sigmoid"
    assert found.change == {"drop_output_activation": True}
    assert mismatch(raw) is None
    assert raw.history[-1]["val_loss"] < 0.8 * squashed.history[-1]["val_loss"]


def test_a_sigmoid_inside_the_last_block_is_not_the_output_but_one_after_the_head_is():
    inside = fit(HeadFirst(block_act=nn.Sigmoid))   # registered last; the Linear head runs after it
    assert mismatch(inside) is None
    after = fit(HeadFirst(block_act=nn.Sigmoid, squash=True))
    assert mismatch(after).evidence["output_activation"] == "Sigmoid"


def test_a_final_activation_built_wider_than_its_default_is_judged_by_the_outputs_it_gave():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1000, 5, generator=g)
    y = 2 * torch.sin(x[:, 0]) + x[:, 1]
    y = 2 * (y - y.mean()) / y.std()   # a spread of 2: over a third lies beyond Hardtanh's default (-1, 1)
    torch.manual_seed(0)
    wide = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1),
                         nn.Hardtanh(-4.0, 4.0))
    result = ds.fit(wide, (x[:800], y[:800]), val=(x[800:], y[800:]), max_epochs=10, progress=False, seed=0)
    assert read(wide, x[:8]) == "Hardtanh"   # it does make the output, but not inside (-1, 1)
    assert mismatch(result) is None and result.history[-1]["val_loss"] < 0.2


def test_the_reading_follows_the_output_through_reshapes_and_not_past_changes():
    x = torch.randn(8, 4)
    assert read(nn.Sequential(nn.Linear(4, 1), nn.Sigmoid()), x) == "Sigmoid"
    assert read(nn.Sequential(nn.Linear(4, 1), nn.Tanh(), nn.Flatten(0), nn.Dropout(0.5)), x) == "Tanh"
    assert read(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)), x) is None
    assert read(HeadFirst(block_act=nn.Sigmoid), x) is None
    assert read(HeadFirst(squash=True), x) == "Sigmoid"

    class ShiftedInPlace(nn.Module):   # the activation's output changed in place after it ran
        def __init__(self):
            super().__init__()
            self.lin, self.act = nn.Linear(4, 1), nn.Sigmoid()

        def forward(self, x):
            return self.act(self.lin(x)).mul_(3.0)

    assert read(ShiftedInPlace(), x) is None
    assert read(nn.Linear(4, 1), x) is None
