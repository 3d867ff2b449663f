"""Reading a table from CSV or Parquet, with the checks that turn pandas' surprises into one clear message."""
from __future__ import annotations

import csv
import gzip
import io
import warnings
from pathlib import Path

import pandas as pd

from ...core.errors import DescendError

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise DescendError(f"{path}: not a CSV or Parquet file (the name must end in "
                       f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})")


def _delimiter(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", newline="", encoding="utf-8", errors="replace")


def _csv_header(path: Path) -> list[str]:
    with _open_text(path) as handle:
        sample = handle.read(65536)
    if not sample.strip():
        raise DescendError(f"{path}: the file is empty; it needs a header line and data rows")
    try:
        return next(csv.reader(io.StringIO(sample), delimiter=_delimiter(path)))
    except csv.Error as err:
        raise DescendError(f"{path}: cannot be read as CSV ({err}); is it a text file?") from err


def _first_long_row(path: Path, width: int) -> int | None:
    """The first data row (1-based) with more fields than the header's `width`, if any."""
    with _open_text(path) as handle:
        rows = csv.reader(handle, delimiter=_delimiter(path))
        next(rows)
        return next((i for i, row in enumerate(rows, start=1) if len(row) > width), None)


def _long_row_error(path: Path, header: list[str]) -> DescendError | None:
    row = _first_long_row(path, len(header))
    if row is None:
        return None
    return DescendError(f"{path}: data row {row} has more fields than the header's {len(header)}; fix that line "
                        "(a stray delimiter, or a value that needs quotes)")


def _read_csv(path: Path, header: list[str]) -> pd.DataFrame:
    """pandas' CSV reader, refusing rows with more fields than the header (pandas would shift or drop them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(path, sep=_delimiter(path), index_col=False)
        except (pd.errors.ParserWarning, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as err:
            found = None if isinstance(err, UnicodeDecodeError) else _long_row_error(path, header)
            raise (found or DescendError(f"{path}: cannot be read as CSV ({str(err).splitlines()[0]})")) from None


def _check_names(path: Path, names: list[str]) -> None:
    seen = set()
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise DescendError(f"{path}: column name {name!r} appears twice (again as column {position}); "
                               "rename one of them")
        seen.add(name)


def read_table(path: str | Path) -> pd.DataFrame:
    """The table in `path` (CSV, optionally gzipped, or Parquet) as a DataFrame with unique column names."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise DescendError(f"{path}: no such file")
    if kind == "csv":
        header = _csv_header(path)
        _check_names(path, header)
        frame = _read_csv(path, header)
    else:
        try:
            frame = pd.read_parquet(path)
        except ImportError as err:
            raise DescendError(f"{path}: reading Parquet needs pyarrow: pip install 'descend[parquet]'") from err
        except Exception as err:  # pyarrow raises its own error types for non-Parquet bytes
            raise DescendError(f"{path}: cannot be read as Parquet ({str(err).splitlines()[0]})") from err
        _check_names(path, [str(c) for c in frame.columns])
        frame = frame.reset_index(drop=True)   # rows are numbered by their place in the file, whatever was stored
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DescendError(f"{path}: has a header but no data rows")
    return frame


def write_csv_atomic(frame: pd.DataFrame, path: str | Path) -> None:
    """Write `frame` to `path` through a temporary file so a failed write leaves no partial file."""
    path = Path(path)
    if path.is_dir():
        raise DescendError(f"--out {path} is a folder; give a file name such as {path / 'predictions.csv'}")
    if not path.parent.is_dir():
        raise DescendError(f"--out {path}: the folder {path.parent} does not exist; create it first")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        frame.to_csv(tmp, index=False)
        tmp.replace(path)
    except OSError as err:
        raise DescendError(f"--out {path}: cannot write it ({err.strerror or err})") from err
    finally:
        tmp.unlink(missing_ok=True)
