"""A landscape folder: PNGs, landscape.json (numbers, notes, the pictures with captions, the data behind them)
and landscape.html, the same pictures inlined in one self-contained page (no network needed to open it).
`descend report` shows the folder RUN_DIR/landscape as a section of the run's report."""
from __future__ import annotations

from pathlib import Path

from ...core.errors import DescendError
from ...runs.files import dumps, write_atomic
from ...runs.report import LANDSCAPE_INDEX, write_landscape_page


class LandscapeFolder:
    """Collects pictures and numbers, then writes the index and the page in `finish`."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DescendError(f"cannot write the landscape into {self.out}: {err.strerror or err}; choose a folder "
                               "that can be created (--out, or LandscapeFolder(out))") from err
        self.figures: list[dict] = []

    def picture(self, file: str, title: str, caption: str) -> Path:
        """The path to draw `file` at; it is listed in the page with `title` and `caption`, in call order."""
        self.figures.append({"file": file, "title": title, "caption": caption})
        return self.out / file

    def finish(self, numbers: dict, notes: list[str], data: dict, title: str = "descend: loss landscape") -> Path:
        """Write landscape.json (numbers, notes, figures, data) and landscape.html; returns the page's path."""
        index = {"numbers": numbers, "notes": notes, "figures": self.figures, **data}
        write_atomic(self.out / LANDSCAPE_INDEX, dumps(index).encode())
        return write_landscape_page(self.out, title)

