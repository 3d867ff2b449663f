import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Each test starts from the same global RNG state and runs torch on one thread.

    The tests train tiny models, where a second intra-op thread gains nothing; on a loaded 2-core machine its
    waits made test modules 10-30x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def saved_run(tmp_path_factory):
    """A small tables run whose model is its networks, fit once for the session (the landscape tests draw it), and
    its data file."""
    from descend.cli import main
    from tabular_data import waves
    folder = tmp_path_factory.mktemp("landscape_run")
    data, run = folder / "sales.csv", folder / "run"
    waves(200).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "sales", "--out", str(run), "--max-epochs", "5"]) == 0
    return data, run
