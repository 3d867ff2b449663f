"""Data-parallel fit on torch.distributed: N gloo processes on CPU give the one-process history."""
import pytest
import torch
import torch.distributed as dist

import descend as ds
from descend.fit import distributed
from descend.runs import ranks
from descend.core.errors import DescendError

RTOL = 1e-5   # the summed gradients are rounded differently than one process's, nothing more


def regression(rows: int):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(rows + 10, 5, generator=g)
    y = x @ torch.randn(5, generator=g) + 0.1 * torch.randn(rows + 10, generator=g)
    return (x[:rows], y[:rows]), (x[rows:], y[rows:])


def histories() -> list[list[dict]]:
    """Two fits: 35 rows with accumulate=2 (last batch of 3 rows splits 1/2 between two ranks) and 33 rows
    (last batch of 1 row: one rank has none). Every rank's histories, gathered on each rank."""
    runs = []
    for rows, accumulate in ((35, 2), (33, 1)):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        train, val = regression(rows)
        result = ds.fit(model, train, val=val, lr=0.05, batch_size=16, accumulate=accumulate, max_steps=7,
                        eval_every=2, metrics=["mae"], progress=False)
        runs.append(result.history)
    if not dist.is_initialized():
        return [runs]
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, runs)
    return gathered


def assert_close(expected: list[dict], got: list[dict]) -> None:
    assert [sorted(r) for r in got] == [sorted(r) for r in expected]
    for want, have in zip(expected, got):
        for key, value in want.items():
            assert have[key] == pytest.approx(value, rel=RTOL), (want["step"], key)


@pytest.mark.slow
def test_two_gloo_processes_give_the_one_process_history_on_every_rank():
    (single,) = histories()
    ranks = distributed.launch(histories, 2, backend="gloo")
    assert len(ranks) == 2 and ranks[0] == ranks[1]          # every rank holds the same history, exactly
    for one, parallel in zip(single, ranks[0]):
        assert len(one) == 7
        assert_close(one, parallel)


def _fails_on_rank_1():
    if dist.get_rank() == 0:
        dist.barrier()          # would wait forever for rank 1; launch must stop it
        return "unreachable"
    model = torch.nn.Linear(5, 1)
    train, _ = regression(20)
    return ds.fit(model, train, optimizer="lbfgs", max_steps=2, progress=False)


@pytest.mark.slow
def test_an_error_in_one_process_stops_all_and_is_raised_with_its_message():
    with pytest.raises(DescendError, match="'lbfgs' .* cannot run data-parallel"):
        distributed.launch(_fails_on_rank_1, 2, backend="gloo")


def test_rank_shards_cover_each_batch_once_with_weights_that_sum_to_the_rank_count():
    batches = [(torch.arange(5), torch.arange(5)), (torch.arange(1), torch.arange(1))]
    shards = [distributed.RankShard(batches, rank, 2) for rank in (0, 1)]
    seen = [[(x.tolist(), shard.weight) for x, _ in shard] for shard in shards]
    assert seen[0] == [([0, 1], 0.8), ([0], 0.0)]      # 2 of 5 rows; then no rows: a stand-in row, weight 0
    assert seen[1] == [([2, 3, 4], 1.2), ([0], 2.0)]
    assert len(shards[0]) == 2


@pytest.mark.parametrize("nproc, rows, batch_size, message", [
    (4, 3, 64, "nproc 4 is more than the 3 training rows"),
    (8, 100, 4, "nproc 8 is more than batch_size 4"),
    (0, 100, 4, "nproc must be a positive integer"),
])
def test_nproc_that_cannot_split_the_data_is_refused(nproc, rows, batch_size, message):
    with pytest.raises(DescendError, match=message):
        distributed.check_nproc(nproc, rows, batch_size)


def test_launch_refuses_a_bad_process_count_before_starting_any():
    with pytest.raises(DescendError, match="nproc must be a positive integer"):
        distributed.launch(histories, 0)


def test_without_a_process_group_fit_runs_as_one_process():
    assert ranks.world() == (0, 1) and ranks.is_main_process()
    source = [(torch.zeros(2, 1), torch.zeros(2))]
    assert distributed.attach(torch.nn.Linear(1, 1), source, True) == (source, True, None)


def test_fits_that_cannot_run_data_parallel_are_refused_on_every_rank_before_training():
    from torch.utils.data import DataLoader, TensorDataset
    dataset = TensorDataset(torch.zeros(40, 2), torch.zeros(40))
    model = torch.nn.Linear(2, 1)
    with pytest.raises(DescendError, match="lbfgs"):
        distributed.check_parallel(torch.optim.LBFGS(model.parameters()), dataset, 2, 8)
    with pytest.raises(DescendError, match="shuffles without a seeded generator"):
        distributed.check_parallel(None, DataLoader(dataset, batch_size=8, shuffle=True), 2, 8)
    with pytest.raises(DescendError, match="nproc 3 is more than batch_size 2"):
        distributed.check_parallel(None, DataLoader(dataset, batch_size=2, shuffle=False), 3, 64)
    seeded = DataLoader(dataset, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    distributed.check_parallel(None, seeded, 2, 8)     # the same order on every rank: accepted
