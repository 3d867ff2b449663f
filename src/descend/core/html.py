"""HTML pieces shared by report pages and notebook displays (`_repr_html_`): escaped tables, and the doctor's
findings coloured by severity. Styles are inline, so a fragment looks the same inside Jupyter, where a page's
stylesheet does not reach."""
from __future__ import annotations

import math
from html import escape

SEVERITY_STYLES = {"error": "background:#fde8eb;color:#9f0020", "warning": "background:#fff2d9;color:#7a4600",
                   "info": "background:#f1f3f5;color:#3d4349"}


FONT = "font-family:system-ui,sans-serif;font-size:13px;line-height:1.35"   # for fragments
CELL = "border:1px solid #d0d4d9;padding:2px 8px;text-align:left;vertical-align:top"   # for fragments


def cell(value, style: str = "") -> str:
    """One table cell: numbers right-aligned with 4 significant digits (the exact value in data-value), the rest
    as escaped text; `style` inline (a page's stylesheet styles cells itself)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"<td style='{style}'>{escape(str(value))}</td>" if style else f"<td>{escape(str(value))}</td>"
    shown = "n/a" if isinstance(value, float) and not math.isfinite(value) else format(value, ".4g")
    aligned = f' style="{style};text-align:right"' if style else ""   # a page's stylesheet aligns td.num
    return f'<td class="num"{aligned} data-value="{value!r}">{shown}</td>'


def table(header: list[str], rows: list[list], style: str = "") -> str:
    """A table with a header row; `style` goes inline on every cell (CELL for a fragment shown without a page)."""
    th = f"<th style='{style}'>" if style else "<th>"
    head = "".join(f"{th}{escape(str(h))}</th>" for h in header)
    label = f"{style};white-space:nowrap" if style else ""   # the first column names the row: kept on one line
    body = "".join("<tr>" + "".join(cell(v, label if i == 0 else style) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    opening = "<table style='border-collapse:collapse'>" if style else "<table>"
    return f"{opening}<tr>{head}</tr>{body}</table>"


def findings_table(findings: list[dict]) -> str:
    """The findings (as dicts: severity, code, steps, message, fix), one row each, coloured by severity; a line
    saying so when there are none."""
    if not findings:
        return "<p>doctor: no problems found.</p>"
    rows = []
    for finding in findings:
        severity = str(finding.get("severity", ""))
        steps = finding.get("steps")
        shown = f"{steps[0]}-{steps[1]}" if isinstance(steps, (list, tuple)) and len(steps) == 2 else ""
        texts = [f"<b>{escape(severity)}</b>", f"<code>{escape(str(finding.get('code', '')))}</code>", escape(shown),
                 escape(str(finding.get("message", ""))), escape(str(finding.get("fix", "")))]
        rows.append(f"<tr class='{escape(severity)}' style='{SEVERITY_STYLES.get(severity, '')}'>"
                    + "".join(f"<td style='{CELL}'>{text}</td>" for text in texts) + "</tr>")
    head = "".join(f"<th style='{CELL}'>{name}</th>" for name in ("severity", "code", "steps", "finding", "fix"))
    return f"<table style='border-collapse:collapse'><tr>{head}</tr>" + "".join(rows) + "</table>"
