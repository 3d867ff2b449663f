"""Reading a table from CSV or Parquet, with the checks that turn pandas' surprises into one clear message."""
from __future__ import annotations

import csv
import difflib
import itertools
import re
import sys
import warnings
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from ...core.errors import DescendError
from .sniff import Dialect, read_text, text_stream
from .tidy import missing_markers, strip_cells, trailing_rows, unnamed_empty_columns

Say = Callable[[str], None]

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
SPREADSHEET_SUFFIXES = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")


def warn(line: str) -> None:
    """Notes on how a file was read go to stderr, so that predictions printed on stdout stay a clean CSV."""
    print(line, file=sys.stderr)


def reading_notes(say: Say) -> Say:
    """Where a note on reading a table goes once fit or update has it (rows left out for an empty target): to stderr
    with read_table's notes while their own lines go to stdout (`say` is print), else where the caller sends those
    lines (tune's silent trials, a list in a test)."""
    return warn if say is print else say


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(SPREADSHEET_SUFFIXES):
        raise DescendError(f"{path}: a spreadsheet, not a CSV or Parquet file; save it as CSV (in Excel: File > Save "
                           "As > CSV UTF-8) and give that file")
    raise DescendError(f"{path}: not a CSV or Parquet file (the name must end in "
                       f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)})")


def _csv_header(path: Path, text: str, dialect: Dialect) -> list[str]:
    if not text.strip():
        raise DescendError(f"{path}: the file is empty; it needs a header line and data rows")
    try:
        return next(csv.reader(text_stream(text), delimiter=dialect.separator, skipinitialspace=True))
    except csv.Error as err:
        raise DescendError(f"{path}: cannot be read as CSV ({err}); is it a text file?") from err


DOTTED_DATE = re.compile(r"^\d{1,2}\.\d{1,2}\.\d{2,4}(?:\D|$)")   # 15.01.2001: never a number grouped by points
SAMPLE_ROWS = 200


def _dotted_dates(text: str, dialect: Dialect, header: list[str]) -> dict[str, type]:
    """pandas dtypes that keep columns of 15.01.2001-style dates as text in a file whose points group thousands
    (pandas would drop the points and read 01.01.2023 as the number 1012023)."""
    if dialect.thousands != ".":
        return {}
    rows = itertools.islice(csv.reader(text_stream(text), delimiter=dialect.separator, skipinitialspace=True), 1,
                            1 + SAMPLE_ROWS)
    found = {name for row in rows for name, cell in zip(header, row) if name and DOTTED_DATE.match(cell.strip())}
    return dict.fromkeys(found, str)


def _long_rows(text: str, dialect: Dialect, width: int) -> list[int]:
    """The data rows (1-based) with more fields than the header's `width`."""
    rows = csv.reader(text_stream(text), delimiter=dialect.separator, skipinitialspace=True)
    next(rows)
    return [i for i, row in enumerate(rows, start=1) if len(row) > width]


def _long_row_error(path: Path, text: str, dialect: Dialect, header: list[str]) -> DescendError | None:
    long = _long_rows(text, dialect, len(header))
    if not long:
        return None
    row, data_rows = long[0], max(text.count("\n") - 1, 1)
    everywhere = dialect.separator == "," and len(long) >= 0.5 * data_rows   # most rows: a habit, not a typo
    as_written = ", " in text.splitlines()[row]   # "Jan 5, 2001": a comma inside a value, as people write it
    why = ("numbers written with decimal commas (3,5) need quotes, or ';' between the fields"
           if everywhere and not as_written else "a stray delimiter, or a value that needs quotes")
    return DescendError(f"{path}: data row {row} has more fields than the header's {len(header)}; fix that line "
                        f"({why})")


def _read_csv(path: Path, say: Say, as_text: Iterable[str]) -> pd.DataFrame:
    """pandas' CSV reader with the file's own separator, decimal mark and encoding, refusing rows with more fields
    than the header (pandas would shift or drop them); the `as_text` columns keep their cells as written."""
    text, dialect = read_text(path)
    header = _csv_header(path, text, dialect)
    texts = {name: str for name in header if name.strip() in set(as_text)}
    _check_names(path, [name.strip() for name in header if name.strip()])
    for note in dialect.notes:
        say(note)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            frame = pd.read_csv(text_stream(text), sep=dialect.separator, decimal=dialect.decimal,
                                thousands=dialect.thousands, index_col=False, skipinitialspace=True,
                                dtype={**_dotted_dates(text, dialect, header), **texts} or None)
        except (pd.errors.ParserWarning, pd.errors.ParserError, csv.Error) as err:
            found = _long_row_error(path, text, dialect, header)
            raise (found or DescendError(f"{path}: cannot be read as CSV ({str(err).splitlines()[0]})")) from None
    frame = missing_markers(trailing_rows(unnamed_empty_columns(strip_cells(frame), header), path, say), path, say)
    frame.attrs["written"] = dialect.written()   # how tables made from this one are written back (predict)
    return frame


def _check_names(path: Path, names: list[str]) -> None:
    seen = set()
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise DescendError(f"{path}: column name {name!r} appears twice (again as column {position}); "
                               "rename one of them")
        seen.add(name)


def _near_file(path: Path) -> str:
    """'; did you mean housing.txt?' for the file beside a missing `path` that it most likely meant: the one with
    the same name before its endings (the table saved as .txt or .tsv, or gzipped), else a near spelling."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f" (there is no folder {folder})"
    files = [entry.name for entry in itertools.islice(folder.iterdir(), 10_000) if entry.is_file()]
    stem = path.name.split(".")[0]
    same = [name for name in files if name.split(".")[0] == stem]
    near = same if len(same) == 1 else difflib.get_close_matches(path.name, files, n=1, cutoff=0.8)
    return f"; did you mean {folder / near[0]}?" if near else ""


def read_table(path: str | Path, say: Say = warn, as_text: Iterable[str] = ()) -> pd.DataFrame:
    """The table in `path` (CSV, optionally gzipped, or Parquet) as a DataFrame with unique column names; a CSV
    file is read with the encoding, separator and decimal mark it was written with, each unusual one said.
    `as_text` names columns whose cells stay text as written (an ID's leading zeros, which a number loses)."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise DescendError(f"{path}: no such file{_near_file(path)}")
    if kind == "csv":
        frame = _read_csv(path, say, as_text)
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


def check_out(path: str | Path, data: str | Path, run_dir: str | Path) -> None:
    """Refuse, before any work, an --out for predictions that cannot be written or would replace a file the user
    still needs: the data file being predicted, or a file inside the run folder (descend's own: a replaced file
    fails its checksum)."""
    path = Path(path)
    if path.is_dir():
        raise DescendError(f"--out {path} is a folder; give a file name such as {path / 'predictions.csv'}")
    if not path.parent.is_dir():
        raise DescendError(f"--out {path}: the folder {path.parent} does not exist; create it first")
    if path.exists() and Path(data).exists() and path.samefile(data):
        raise DescendError(f"--out {path} is the data file itself; the predictions would replace its rows: give "
                           "another file name, such as predictions.csv")
    if Path(run_dir).resolve() in path.resolve().parents:
        raise DescendError(f"--out {path} is inside the run folder {run_dir}, which descend writes and checks "
                           "against summary.json; write the predictions outside it, such as predictions.csv")


def write_csv_atomic(frame: pd.DataFrame, path: str | Path, written: dict | None = None) -> None:
    """Write `frame` to `path` through a temporary file so a failed write leaves no partial file; `written`: how
    (to_csv's sep, decimal and encoding, as `read_table` records them in a frame's attrs["written"])."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        frame.to_csv(tmp, index=False, **(written or {}))
        tmp.replace(path)
    except OSError as err:
        raise DescendError(f"--out {path}: cannot write it ({err.strerror or err})") from err
    finally:
        tmp.unlink(missing_ok=True)
