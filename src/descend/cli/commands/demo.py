"""`descend demo`: the whole tabular job on bundled data (hourly bike rentals), start to finish."""
from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

from ...apps.tabular import fit_table, read_table
from ...apps.tabular.options import Options
from ...apps.tabular.run import recording_folder
from ...core.errors import DescendError
from ...runs import lock
from ..tabular_options import report, saved

HELP = "train on bundled Bikeshare data (predict hourly rentals) and show the report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/bikeshare-demo",
                        help="folder for the trained model (default runs/bikeshare-demo; an earlier demo is replaced)")
    parser.add_argument("--max-epochs", type=int, default=Options(target="").max_epochs, help="training epochs at most")


def _demo_folders(out: Path) -> Path:
    """Refuse an --out that is something else than an earlier demo; clear an interrupted demo's record (under
    the lock of DIR.partial, which the caller holds)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "config.json").is_file())):
        raise DescendError(f"--out {out} already exists and is not a descend run folder; pick another folder")
    partial = recording_folder(out)
    for leftover in partial.iterdir():
        if leftover.name != lock.LOCK:
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    return partial


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    opts = Options(target="bikers", drop=("casual", "registered"), split="time", max_epochs=args.max_epochs).check()
    with lock.hold(recording_folder(out), f"--out {out}"):
        return _demo(out, opts)


def _demo(out: Path, opts: Options) -> int:
    partial = _demo_folders(out)
    data = resources.files("descend") / "data" / "bikeshare.csv.gz"
    print("descend demo: predict how many bikes are rented in an hour (Capital Bikeshare, Washington D.C., 2011)\n"
          "from the calendar and the weather; the last 20% of the year is the test set. The same as:\n"
          f"  descend fit {data} --target bikers --drop casual,registered --split time --out {out}\n"
          "Data: Fanaee-T & Gama (2013), UCI Bike Sharing Dataset, CC BY 4.0 (see descend/data/bikeshare.ATTRIBUTION.md)\n")
    with resources.as_file(data) as path:
        frame = read_table(path)
    result = fit_table(frame, opts, run_dir=partial)
    print()
    print(report(result))
    print(saved(result.save(out, partial)))
    print(f"next: descend report {out}   |   descend predict {out} new_hours.csv   |   descend update {out} "
          "next_week.csv")
    return 0
