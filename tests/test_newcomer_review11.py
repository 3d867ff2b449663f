"""A new user's eleventh review: the demo's own run ended in a doctor_error, ..."""
import re
from importlib import resources
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from descend.apps.tabular import Options, fit_table
from descend.doctor.probes import size_blind


class OneHotThenLinear(nn.Module):
    """A model that takes a category code in a float column (as descend fit's networks do) and one-hots it."""

    def __init__(self, levels: int):
        super().__init__()
        self.levels, self.linear = levels, nn.Linear(levels + 1, 1)

    def forward(self, x):
        return self.linear(torch.cat([x[:, :1], F.one_hot(x[:, 1].long(), self.levels).float()], dim=1))


def test_the_size_probe_reads_a_model_of_category_codes_as_having_no_size():
    """Scaling every input by 10 sent codes past their levels: F.one_hot raised, and the doctor's whole comparison
    of the model with its references failed (a doctor_error in `make demo`'s output)."""
    x = torch.stack([torch.randn(32), torch.arange(32.0) % 24], dim=1)
    assert size_blind(OneHotThenLinear(24), x) is None


def test_the_demo_table_ends_without_a_doctor_error():
    """`make demo` printed "[info] the doctor's check 'measuring the model against references' failed on this run
    (RuntimeError: Class values must be smaller than num_classes.)"."""
    frame = pd.read_csv(resources.files("descend") / "data" / "bikeshare.csv.gz").iloc[:3000]
    opts = Options(target="bikers", drop=["casual", "registered"], split="time", max_epochs=1)
    run = fit_table(frame, opts, say=lambda line: None)
    assert run.findings is not None and "doctor_error" not in [f.code for f in run.findings]


ROOT = Path(__file__).resolve().parents[1]


def test_readmes_map_of_the_benchmarks_gives_every_script_one_line():
    """The map named a dozen scripts in prose and lacked keep_best.py, wide_ridge.py and six more; each script now
    has its own line, and a script added without one fails here."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Map of the benchmarks", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^  (\w+\.(?:py|sh)) +\S", section, flags=re.M)
    scripts = sorted(p.name for p in (ROOT / "benchmarks").iterdir() if p.suffix in (".py", ".sh"))
    assert sorted(listed) == scripts and len(listed) == len(set(listed))
