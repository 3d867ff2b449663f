"""report.html for one run and compare.html for several: self-contained pages (pictures embedded as base64 PNG)."""
from __future__ import annotations

import base64
import json
import math
from html import escape
from pathlib import Path

from ..core.errors import DescendError
from ..core.html import findings_table, table as _table
from . import plots
from .config import changes
from .files import write_atomic
from .records import RunRecord, kept_history, last_value, read_run

STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1em 0}
img{max-width:100%}.error{color:#b00020}.warning{color:#a15c00}.info{color:#555}pre{background:#f7f7f7;padding:1em;
overflow:auto;font-size:.85em}"""


def _figure(png: str | None, alt: str, caption: str) -> str:
    if png is None:
        return ""
    return (f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{png}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _page(title: str, sections: list[str]) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{''.join(sections)}</body></html>\n")


def _summary(record: RunRecord) -> str:
    rows = record.summary_rows() + record.settings_rows()
    return "<section id='summary'><h2>Summary</h2>" + _table(["", "value"], rows) + "</section>"


def _findings(record: RunRecord) -> str:
    if record.findings is None:
        return "<section id='findings'><h2>Findings</h2><p>No findings recorded (no findings.json).</p></section>"
    return f"<section id='findings'><h2>Findings</h2>{findings_table(record.findings)}</section>"


def _flat(record: dict, prefix: str = "") -> dict:
    """A nested record as one row: {"before": {"rmse": 3}} -> {"before rmse": 3}."""
    row = {}
    for key, value in record.items():
        if isinstance(value, dict):
            row.update(_flat(value, f"{prefix}{key} "))
        else:
            row[f"{prefix}{key}"] = value
    return row


def _records_table(key: str, records: list[dict]) -> str:
    """A list of records (descend update's, one per update) as a table, one numbered row each."""
    rows = [_flat(r) for r in records]
    columns = list(dict.fromkeys(c for row in rows for c in row))
    body = [[number, *(_score(row.get(c, "")) for c in columns)] for number, row in enumerate(rows, start=1)]
    return f"<h3>{escape(key)}</h3>" + _table(["#", *columns], body)


IMPORTANCE_SHOWN = 30   # columns drawn and listed; a wide table's others are summed up in one line


def _importance(value: dict) -> str:
    """Permutation importance: a bar chart and its numbers, for the IMPORTANCE_SHOWN columns the model leans on
    most (a 2,308-column table drew a figure 16,000 pixels tall); the rest in one line."""
    columns = value.get("columns", {})
    shown = dict(list(columns.items())[:IMPORTANCE_SHOWN])
    rest = list(columns.values())[IMPORTANCE_SHOWN:]
    more = (f" The {len(shown)} largest of {len(columns)} columns; the other {len(rest)} rise between {min(rest):.4g} "
            f"and {max(rest):.4g} (metrics.json has every column)." if rest else "")
    return ("<h3>permutation importance (validation rows)</h3>"
            + _figure(plots.bars(shown, value.get("measure", "")), "permutation importance",
                      f"{value.get('measure', '')}; longer bars: the model leans on that column more.{more}")
            + _table(["column", "rise"], [[name, rise] for name, rise in shown.items()]))


def _metrics(record: RunRecord) -> str:
    """metrics.json as tables: a dict of dicts (model or baseline -> scores) becomes one table, a list of records
    (updates) one row per record, sentences a list, plain values one table."""
    if not record.metrics:
        return ""
    parts, plain = [], []
    for key, value in record.metrics.items():
        if key == "importance" and isinstance(value, dict):
            parts.append(_importance(value))
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            parts.append(f"<h3>{escape(key.replace('_', ' '))}</h3><ul>"
                         + "".join(f"<li>{escape(v)}</li>" for v in value) + "</ul>")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.append(_records_table(key, value))
        elif _per_model(value):
            parts.append(_scores_table(key, value) + (_before_updates(record) if key == "scores" else ""))
        elif isinstance(value, dict):
            parts.append(_mapping(key, value))
        else:
            plain.append([key, value])
    head = _table(["", "value"], plain) if plain else ""
    return f"<section id='metrics'><h2>Metrics (metrics.json)</h2>{head}{''.join(parts)}</section>"


def _per_model(value) -> bool:
    """Whether `value` is scores per model: a dict of dicts."""
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict) for v in value.values())


def _scores_table(key: str, value: dict) -> str:
    """Scores per model (or baseline) as one table: a row per model, a column per score."""
    columns = list(dict.fromkeys(c for row in value.values() for c in row))
    rows = [[label, *(_score(row.get(c, "")) for c in columns)] for label, row in value.items()]
    return f"<h3>{escape(key)}</h3>" + _table(["", *columns], rows)


def _before_updates(record: RunRecord) -> str:
    """A line under the test scores of a run that `descend update` went on training: those scores are the first
    fit's, on its test rows, from before the updates (whose own scores, on each update's newest rows, are in the
    updates table); empty for a run never updated."""
    updates = record.metrics.get("updates", [])
    if not isinstance(updates, list) or not updates:
        return ""
    return (f"<p>These are the first fit's scores on its test rows, from before the {len(updates)} update(s) that "
            "came later; each update's scores, on its own newest rows, are in the updates table.</p>")


def _score(value):
    """A score as metrics.json holds it, for a table cell: null is a score the rows could not give (NaN, which
    strict JSON cannot hold: r2 of a constant target), shown as n/a like the command line's table, not "None"."""
    return math.nan if value is None else value


def _mapping(key: str, value: dict) -> str:
    """A dict as its plain values in one table (sub-dicts flattened: "losses linear"), then each of its scores
    per model in a table of its own (the validation rows' scores read as the test scores do)."""
    rest = {k: v for k, v in value.items() if not _per_model(v)}
    table = _table(["", "value"], [[k, v] for k, v in _flat(rest).items()]) if rest else ""
    return (f"<h3>{escape(key)}</h3>" + table
            + "".join(_scores_table(f"{key} {k}", v) for k, v in value.items() if _per_model(v)))


def _training(record: RunRecord) -> str:
    history, best = record.history, record.summary.get("best", {}).get("step")
    figures = [_figure(plots.loss_curves(history, best), "loss curves",
                       "Training loss per step (faint), smoothed, and validation loss at each evaluation."),
               _figure(plots.single_curve(history, "lr", "learning rate"), "learning rate",
                       "Learning rate used at each step (the schedule)."),
               _figure(plots.single_curve(history, "grad_norm", "gradient norm"), "gradient norm",
                       _grad_norm_caption(record.config.get("run", {}).get("grad_clip")))]
    for column in history.columns:
        if column.startswith("val_") and column != "val_loss":
            figures.append(_figure(plots.single_curve(history, column, column), column, f"{column} at each evaluation."))
    return f"<section id='training'><h2>Training</h2>{''.join(figures)}</section>"


def _grad_norm_caption(grad_clip) -> str:
    """The gradient-norm plot's caption, saying what the run clipped (config.json's grad_clip): a run that clipped
    nothing (descend fit's tables, fit's default) is not told its norms were read "before clipping"."""
    if grad_clip is None:
        return "Norm of the whole gradient at each step (this run clipped no gradients)."
    kind, limit = next(iter(grad_clip.items())) if isinstance(grad_clip, dict) else ("norm", grad_clip)
    clipped = f"each element to +-{limit:g}" if kind == "value" else f"the norm to {limit:g}"
    return f"Norm of the whole gradient at each step, before clipping {clipped}."


def _predictions(record: RunRecord) -> str:
    table = record.predictions
    if table is None:
        return ""
    if any(str(c).startswith("p_") for c in table.columns):   # classes: probabilities against how often right
        return ("<section id='predictions'><h2>Test predictions (test_predictions.csv)</h2>"
                + _figure(plots.calibration(table), "calibration",
                          "Test rows grouped by the probability the model gave its predicted class, against the share "
                          "of them it got right; on the diagonal, the probabilities can be taken at their word.")
                + "</section>")
    return ("<section id='predictions'><h2>Test predictions (test_predictions.csv)</h2>"
            + _figure(plots.predicted_vs_actual(table), "predicted vs actual", "Points on the diagonal are exact.")
            + _figure(plots.residuals_over_time(table), "residuals over time",
                      "Residuals in time order; a drifting rolling mean means the model ages." if "time" in table
                      else "Residuals in the order of the data file (the table has no dates); a drifting rolling "
                      "mean means later rows are predicted worse.") + "</section>")


LANDSCAPE = "landscape"              # RUN_DIR/landscape: where `descend landscape` writes by default
LANDSCAPE_INDEX = "landscape.json"   # its numbers and the list of its pictures with their captions


def landscape_section(folder: Path) -> str:
    """The pictures and numbers a landscape folder's index lists, pictures inlined, as one page section."""
    try:
        index = json.loads((folder / LANDSCAPE_INDEX).read_text())
        pictures = [(item["file"], item["title"], item["caption"]) for item in index.get("figures", [])]
        figures = [_figure(base64.b64encode((folder / file).read_bytes()).decode("ascii"), title,
                           f"{title}. {caption}") for file, title, caption in pictures]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DescendError(f"cannot read the landscape in {folder}: {err}; run descend landscape again") from err
    numbers = _table(["", "value"], [[k, v] for k, v in index.get("numbers", {}).items()])
    notes = "".join(f"<p>{escape(str(note))}</p>" for note in index.get("notes", []))
    return f"<section id='landscape'><h2>Loss landscape</h2>{notes}{numbers}{''.join(figures)}</section>"


def write_landscape_page(folder, title: str = "descend: loss landscape") -> Path:
    """Write folder/landscape.html: the landscape section alone, as a self-contained page."""
    folder = Path(folder)
    return _write_page(folder / "landscape.html", _page(title, [landscape_section(folder)]), "landscape page")


def render_report(record: RunRecord) -> str:
    config = f"<section id='config'><h2>Config</h2><pre>{escape(json.dumps(record.config, indent=2))}</pre></section>"
    landscape = record.path / LANDSCAPE
    extra = [landscape_section(landscape)] if (landscape / LANDSCAPE_INDEX).is_file() else []
    return _page(f"descend run: {record.name}", [_summary(record), _findings(record), _metrics(record),
                                                 _training(record), _predictions(record), *extra, config])


def _write_page(path: Path, page: str, what: str) -> Path:
    """Write one page atomically; an unwritable target, or an existing file other than a page (the CSV a user
    meant to read, say), becomes a DescendError naming it and what to do."""
    if path.is_dir():
        raise DescendError(f"cannot write the {what} to {path}: it is a directory; give a file name such as "
                           f"{path / (what + '.html')}")
    if not path.parent.is_dir():
        raise DescendError(f"cannot write the {what} to {path}: the folder {path.parent} does not exist "
                           "(or is not a folder); create it or choose another path")
    if path.exists() and path.suffix.lower() not in (".html", ".htm"):   # a data file, or a run's own file
        raise DescendError(f"cannot write the {what} to {path}: that file exists and is no HTML page, and the "
                           f"{what} would replace it; give a .html file name such as {path.with_suffix('.html')}")
    try:
        write_atomic(path, page.encode())
    except OSError as err:
        raise DescendError(f"cannot write the {what} to {path}: {err.strerror or err}; choose a writable path "
                           "(--out, or out= in Python)") from err
    return path


def write_report(run_dir, out=None) -> Path:
    """Write RUN_DIR/report.html (or `out`) for the run in `run_dir`; returns the file's path."""
    record = read_run(run_dir)
    path = Path(out) if out is not None else record.path / "report.html"
    return _write_page(path, render_report(record), "report")


def _comparison_table(records: list[RunRecord]) -> str:
    """The runs side by side: steps, the last step's own loss (the curves below may be smoothed, so the table says
    which loss it holds), the best val_loss where any run was validated, and why each stopped."""
    header = ["run", "steps", "last step's loss", "best val_loss", "stopped because"]
    rows = []
    for record in records:
        val = record.history["val_loss"].dropna() if "val_loss" in record.history else []
        rows.append([record.name, len(record.history), last_value(kept_history(record), "loss"),
                     float(val.min()) if len(val) else "", record.summary.get("stop_reason", "not finished")])
    if all(row[3] == "" for row in rows):   # no run was validated: an empty column says nothing
        header, rows = header[:3] + header[4:], [row[:3] + row[4:] for row in rows]
    return _table(header, rows)


def setting_differences(first: RunRecord, other: RunRecord) -> list[str]:
    """Each setting that differs, e.g. "lr 0.01 in fast, 0.001 in slow" (run settings without the "run." prefix)."""
    return [f"{path.removeprefix('run.')} {a} in {first.name}, {b} in {other.name}"
            for path, a, b in changes(first.config, other.config)]


def render_comparison(records: list[RunRecord]) -> str:
    histories = {record.name: record.history for record in records}
    table = _comparison_table(records)
    first = records[0]
    changes = [f"<li>{escape(r.name)}: {escape('; '.join(setting_differences(first, r)) or 'same settings')}</li>"
               for r in records[1:]]
    figures = [_figure(plots.overlay(histories, "loss", "training loss", smoothed=True), "training loss",
                       "Training loss of each run."),
               _figure(plots.overlay(histories, "val_loss", "validation loss"), "validation loss",
                       "Validation loss of each run at its evaluations."),
               _figure(plots.overlay(histories, "lr", "learning rate"), "learning rate", "Learning rate of each run."),
               _figure(plots.overlay(histories, "grad_norm", "gradient norm", smoothed=True), "gradient norm",
                       "Gradient norm of each run.")]
    return _page(f"descend: comparing {len(records)} runs",
                 ["<section id='runs'><h2>Runs</h2>", table, f"<p>Differences from {escape(records[0].name)}:</p>",
                  f"<ul>{''.join(changes)}</ul></section><section id='curves'><h2>Curves</h2>", *figures, "</section>"])


def write_comparison(run_dirs: list, out) -> Path:
    """Write one page overlaying the curves of several runs; returns its path."""
    records = [read_run(d) for d in run_dirs]
    return _write_page(Path(out), render_comparison(records), "comparison")
