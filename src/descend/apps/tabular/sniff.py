"""How a text table was saved: its encoding, field separator and decimal mark, guessed from the file itself.

Spreadsheets save CSV files the way their locale writes numbers: Excel in much of Europe writes `;` between fields
and `3,5` for three and a half, and Windows programs often write cp1252 rather than UTF-8. Reading such a file as
plain UTF-8 with commas turns every row into one column or fails on a byte; guessing the dialect from the file
reads it as the person who saved it meant.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from ...core.errors import DescendError
from .tidy import comment_lines

SEPARATORS = (",", ";", "\t", "|")
FALLBACK_ENCODINGS = ("cp1252", "latin-1")   # latin-1 decodes any byte, so the list always ends with a reading
SAMPLE_LINES = 200
UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")       # 3,5 (or 1,234: a thousand, or one and a bit?)
_DECIMAL_POINT = re.compile(r"^[-+]?\d*\.\d+$")      # 3.5 (or 1.234, a thousand where commas are decimal)
EXCEL_SEPARATOR_LINE = re.compile(r"^sep=.\s*$")
_GROUPED = re.compile(r"^[-+]?[1-9]\d{0,2}[.,]\d{3}$")  # either reading is possible: a vote for neither
_SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


@dataclass
class Dialect:
    """What `pandas.read_csv` needs to read the file as it was written, and notes on anything unusual."""

    encoding: str = "utf-8-sig"
    separator: str = ","
    decimal: str = "."
    notes: tuple[str, ...] = ()
    bom: bool = False      # UTF-8 with Excel's byte-order mark (its "CSV UTF-8"): kept, or Excel misreads accents
    crlf: bool = False     # lines ending in CR LF (Windows)

    @property
    def thousands(self) -> str | None:
        """With a decimal comma, a point groups thousands (1.234,5)."""
        return "." if self.decimal == "," else None

    def written(self) -> dict:
        """`DataFrame.to_csv` arguments that write a table the way this file was written (its separator, decimal
        mark and, when not UTF-8, encoding), so a spreadsheet that opened the file opens the answer too."""
        return {"sep": self.separator, "decimal": self.decimal,
                **({} if self.encoding == "utf-8-sig" and not self.bom else {"encoding": self.encoding}),
                **({"lineterminator": "\r\n"} if self.crlf else {})}


def raw_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in .gz."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        return handle.read()


def decode(path: Path, data: bytes) -> tuple[str, str, tuple[str, ...]]:
    """(text, encoding, notes): UTF-16 when the bytes start with its byte-order mark (Excel's "Unicode text"),
    UTF-8 when they are UTF-8, else the first fallback that reads them, with a note naming the file and the first
    byte that was not UTF-8."""
    if data.startswith(UTF16_MARKS):
        try:
            return data.decode("utf-16"), "utf-16", ()
        except UnicodeDecodeError:
            pass   # not UTF-16 after all: NUL bytes make it no text file (read_text says so)
    try:
        return data.decode("utf-8-sig"), "utf-8-sig", ()
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        bad = data[err.start]
    for encoding in FALLBACK_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        note = (f"note: {path} is not UTF-8 (byte 0x{bad:02x} on line {line}); read it as {encoding}. If accented "
                f"letters look wrong, save the file as UTF-8")
        return text, encoding, (note,)
    raise AssertionError("latin-1 decodes every byte")   # pragma: no cover


def _field_counts(lines: list[str], separator: str) -> list[int]:
    try:
        return [len(row) for row in csv.reader(lines, delimiter=separator, skipinitialspace=True) if row]
    except csv.Error:
        return []


def _consistency(lines: list[str], separator: str) -> tuple[float, int]:
    """(share of lines with the header's field count, that count) when splitting on `separator`."""
    counts = _field_counts(lines, separator)
    if not counts or counts[0] < 2:
        return 0.0, 0
    return Counter(counts)[counts[0]] / len(counts), counts[0]


def separator(lines: list[str], default: str) -> str:
    """The candidate that splits the header into the most fields among those that split most lines alike."""
    scores = {sep: _consistency(lines, sep) for sep in SEPARATORS}
    best = max(scores, key=lambda sep: (scores[sep][0] >= 0.9, scores[sep][1], sep == default))
    return best if scores[best][1] >= 2 else default


def decimal_mark(lines: list[str], sep: str) -> tuple[str, str]:
    """(',' or '.', the note's words for ','): ',' when the fields hold numbers like 3,5 and none like 3.5 (only
    possible when fields are not split on commas), else '.'. Cells like 1,234 or 1.234 say nothing alone: they
    read as a thousand-odd either way, so when they are all the numbers hold, their mark groups thousands: points
    then (8.412 is 8412), as commas do for 1,234 (read as a number later, a column at a time)."""
    if sep == ",":
        return ".", ""
    cells = _decimal_votes(lines, sep)
    if cells["point"] or not (cells["comma"] or _points_group(cells)):
        return ".", ""
    return ",", " and decimal commas (3,5)" if cells["comma"] else " and points grouping thousands (1.234 is 1234)"


def _decimal_votes(lines: list[str], sep: str) -> Counter:
    """How many cells read only with a decimal comma, only with a decimal point, or either way (1.234, 1,234)."""
    cells = Counter()
    for row in csv.reader(lines[1:], delimiter=sep, skipinitialspace=True):
        for cell in row:
            cell = cell.strip()
            if _GROUPED.match(cell):
                cells["grouped" + cell[-4]] += 1
            else:
                cells["comma"] += bool(_DECIMAL_COMMA.match(cell))
                cells["point"] += bool(_DECIMAL_POINT.match(cell))
    return cells


def _points_group(cells: Counter) -> bool:
    """Whether the only numbers with a mark are 1.234-style (points grouping thousands, as a spreadsheet in a
    comma-decimal locale writes whole numbers), none 1,234-style."""
    return bool(cells["grouped."]) and not cells["grouped,"]


def sniff(path: Path, text: str, encoding: str, notes: tuple[str, ...]) -> Dialect:
    """The dialect of `text` (the decoded file); .tsv files are tab-separated unless they plainly are not."""
    lines = text.splitlines()[:SAMPLE_LINES]
    default = "\t" if path.name.lower().endswith(".tsv") else ","
    sep = separator(lines, default)
    decimal, marks = decimal_mark(lines, sep)
    if sep != default or decimal != ".":
        notes += (f"note: {path} has fields separated by {_SEPARATOR_NAMES[sep]}{marks}",)
    return Dialect(encoding, sep, decimal, notes)


def read_text(path: Path) -> tuple[str, Dialect]:
    """The decoded text of a CSV file and how it was written; a file with NUL characters is no text file."""
    data = raw_bytes(path)
    text, encoding, notes = decode(path, data)
    if "\x00" in text:
        raise DescendError(f"{path}: cannot be read as CSV (it holds NUL bytes); is it a text file?")
    crlf = text.partition("\n")[0].endswith("\r")
    text, notes = _without_separator_line(path, text, notes)
    text, notes = _without_comments(path, text, notes)
    return text, replace(sniff(path, text, encoding, notes), bom=data.startswith(codecs.BOM_UTF8), crlf=crlf)


def _without_separator_line(path: Path, text: str, notes: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The text without Excel's `sep=;` first line (its hint of the separator, which it writes and reads; taken for
    the header, it made every data row too long); the separator is sniffed from the rows as in any file."""
    first, _, rest = text.partition("\n")
    if not EXCEL_SEPARATOR_LINE.match(first):
        return text, notes
    return rest, notes + (f"note: {path}: Excel's {first.strip()!r} line above the header left out",)


def _without_comments(path: Path, text: str, notes: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The text from its header on, leaving out comment lines ('#') and blank lines above it, with a note when
    there were comments; data rows are then counted from the header, as in every other message."""
    top = text.splitlines(keepends=True)[:SAMPLE_LINES]
    skipped = comment_lines(top)
    if not skipped:
        return text, notes
    comments = sum(line.lstrip().startswith("#") for line in top[:skipped])
    if comments:
        notes += (f"note: {path}: {comments} comment line(s) starting with '#' above the header left out",)
    return text[sum(len(line) for line in top[:skipped]):], notes


def text_stream(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")
