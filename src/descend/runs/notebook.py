"""What Jupyter shows for a run (`_repr_html_` of a RunRecord, and of fit's FitResult): the summary table beside
the loss curve (base64 PNG), the findings coloured by severity, and the settings folded away. A fragment, not a
page: its styles are inline, and it fetches nothing."""
from __future__ import annotations

from html import escape

import pandas as pd

from ..core.html import CELL, FONT, findings_table, table
from . import plots


def run_html(title: str, rows: list[list], history, findings: list | None, best_step=None,
             settings: list[list] = ()) -> str:
    """The run's view: `rows` of [label, value], `history` (records or a DataFrame) drawn as the loss curve,
    `findings` as dicts or Finding objects (None: none were recorded), `settings` as [name, value] rows."""
    frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
    png = plots.loss_curves(frame, best_step) if len(frame) else None
    curve = (f'<img alt="loss curves" style="max-width:620px;width:100%" src="data:image/png;base64,{png}">'
             if png else "<p>no steps recorded yet</p>")
    if findings is None:
        found = "<p>No findings recorded (no findings.json).</p>"
    else:
        found = findings_table([f if isinstance(f, dict) else f.to_dict() for f in findings])
    folded = (f"<details style='margin-top:.6em'><summary>settings ({len(settings)})</summary>"
              f"{table(['', 'value'], list(settings), CELL)}</details>" if settings else "")
    return (f"<div class='descend' style='{FONT}'><h3 style='margin:.3em 0'>{escape(title)}</h3>"
            "<div style='display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start'>"
            f"<div style='max-width:460px'>{table(['', 'value'], rows, CELL)}</div><div>{curve}</div></div>"
            f"<h4 style='margin:.6em 0 .3em'>Findings</h4>{found}{folded}</div>")
