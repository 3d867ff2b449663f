"""Fixed costs of a default fit made cheaper compute what torch's own calls did, value for value: the target's
quartiles that decide whether fit folds its units into the last layer (numpy's sort for torch.quantile), and the
column medians that tell the doctor which input columns vary (numpy's partition for torch.median along rows)."""
import numpy as np
import pytest
import torch

from descend.doctor.inputs import column_medians, varying_columns
from descend.fit.auto.units import quartiles, unit_scale


def _targets():
    """Targets of every kind the rule meets: normal, rounded (ties at the quartiles), heavy-tailed in raw units,
    0/1 labels, tiny float32 values, and the shortest (2 and 3 values: quartiles between two order statistics)."""
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 4, 5, 7, 100, 1001, 2048, 4096):
        normal = torch.randn(n, generator=g, dtype=torch.float64)
        yield normal
        yield (3 * normal).round()
        yield normal.exp() * 1e4
        yield torch.randint(0, 2, (n,), generator=g).double()
        yield normal.float().double() * 1e-7


@pytest.mark.parametrize("values", list(_targets()), ids=lambda v: f"{len(v)}-{float(v[0]):.2g}")
def test_the_quartiles_are_torch_quantiles_own_numbers(values):
    expected = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    assert torch.equal(quartiles(values), expected)


def test_a_unit_scale_target_and_a_raw_one_are_told_apart_as_before():
    g = torch.Generator().manual_seed(1)
    assert unit_scale(torch.randn(500, generator=g))
    assert not unit_scale(60_000 + 13_000 * torch.randn(500, generator=g))   # dollars
    assert not unit_scale(0.001 * torch.randn(500, generator=g))             # spread far below 1


def test_column_medians_are_torch_medians_lower_middle_included():
    g = torch.Generator().manual_seed(2)
    for rows, count in ((1, 1), (3, 2), (32, 512), (7, 511), (5, 4)):
        table = torch.randn(rows, count, generator=g, dtype=torch.float64)
        for values in (table, table.round(), (table > 0.5).double()):
            assert torch.equal(column_medians(values), values.median(dim=1, keepdim=True).values)


def test_varying_columns_read_constant_and_image_border_columns_as_before():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(600, 6, generator=g)
    x[:, 1] = 2.5                         # constant
    x[:590, 2] = 0.0                      # 98% one value: a border pixel
    x[:300, 3] = 1.0                      # half one value: varies
    x[5, 4] = float("nan")                # a row with a NaN is left out of the reading
    expected = [True, False, False, True, True, True]
    assert varying_columns(x) == expected
    table = x[:512][torch.isfinite(x[:512]).all(dim=1)].double().T.contiguous()
    old = ((table == table.median(dim=1, keepdim=True).values).double().mean(dim=1) < 0.95).tolist()
    assert old == expected
    assert np.array_equal(column_medians(table).numpy(), table.median(dim=1, keepdim=True).values.numpy())
