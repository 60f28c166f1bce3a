"""The reproduction report: ``DIR/report.md`` and a self-contained ``DIR/report.html``.

Top: the verdict table (one headline row per experiment: the paper's claim,
its number, ours, the verdict) and the wall time of every step. Then one
section per experiment with all its verdict rows, tables and figures. The
HTML embeds every figure as a base64 PNG, so the file can be mailed alone.
Tables are written here (no ``tabulate`` dependency).
"""

from __future__ import annotations

import base64
import html
import math
import time
from pathlib import Path

import pandas as pd

#: Rows shown per table; the full table is in the CSV next to it.
MAX_ROWS = 40


def format_value(value, digits: int = 3) -> str:
    """A table cell: integers as is, small p-values in scientific notation, other floats rounded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value.is_integer() and abs(value) < 1e9 and digits >= 0 and abs(value) >= 1:
            return str(int(value))
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    try:  # numpy scalars
        import numpy as np

        if isinstance(value, np.bool_):
            return "yes" if value else "no"
        if isinstance(value, np.integer):
            return str(int(value))
        if isinstance(value, np.floating):
            return format_value(float(value), digits)
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def _cells(table: pd.DataFrame, digits: int, max_rows: int | None):
    shown = table if max_rows is None else table.head(max_rows)
    header = [str(c) for c in table.columns]
    rows = [[format_value(v, digits) for v in row] for row in shown.itertuples(index=False, name=None)]
    more = len(table) - len(shown)
    return header, rows, more


def markdown_table(table: pd.DataFrame, *, digits: int = 3, max_rows: int | None = MAX_ROWS) -> str:
    """A DataFrame as a GitHub-flavoured markdown table (index dropped).

    Parameters
    ----------
    table : DataFrame
    digits : int
        Decimals of floats.
    max_rows : int or None
        Rows shown; a line says how many were left out.

    Returns
    -------
    str
    """
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header, rows, more = _cells(table, digits, max_rows)
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    if more:
        lines.append(f"\n({more} more rows in the CSV file)")
    return "\n".join(lines)


def verdict_class(verdict: str) -> str:
    """CSS class of a verdict cell: ``ok``, ``no``, ``differs`` or ``failed``."""
    verdict = str(verdict)
    if verdict == "reproduced":
        return "ok"
    if verdict == "not reproduced":
        return "no"
    if verdict.startswith("differs"):
        return "differs"
    return "failed"


def html_table(table: pd.DataFrame, *, digits: int = 3, max_rows: int | None = MAX_ROWS,
               verdict_column: str | None = "verdict") -> str:
    """A DataFrame as an HTML table; cells of ``verdict_column`` are coloured by verdict."""
    header, rows, more = _cells(table, digits, max_rows)
    index = header.index(verdict_column) if verdict_column in header else None
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>",
           "<tbody>"]
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            css = f' class="{verdict_class(value)}"' if i == index else ""
            cells.append(f"<td{css}>{html.escape(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if more:
        out.append(f"<p class='more'>({more} more rows in the CSV file)</p>")
    return "\n".join(out)


def verdict_summary(records: dict) -> pd.DataFrame:
    """The report's top table: one headline row per experiment (its first verdict row).

    Parameters
    ----------
    records : dict of name -> saved record (``result.json`` content)

    Returns
    -------
    DataFrame with columns ``experiment``, ``paper claim``, ``paper number``, ``ours``, ``verdict``.
    """
    rows = []
    for name, record in records.items():
        if name == "base":
            continue
        verdicts = record.get("verdicts") or []
        head = verdicts[0] if verdicts else {"claim": "-", "paper": "-", "ours": "-", "verdict": "no verdict"}
        rows.append({"experiment": name, "paper claim": head["claim"], "paper number": head["paper"],
                     "ours": head["ours"], "verdict": head["verdict"]})
    return pd.DataFrame(rows, columns=["experiment", "paper claim", "paper number", "ours", "verdict"])


def timing_table(records: dict, reused=()) -> pd.DataFrame:
    """Wall time per step: seconds of the run that produced it, and whether this call reused it."""
    rows = []
    for name, record in records.items():
        seconds = record.get("seconds")
        status = record.get("status", "done")
        rows.append({"step": name, "wall time (s)": "-" if seconds is None else f"{seconds:.0f}",
                     "status": status if status != "done" else ("reused" if name in reused else "run now")})
    total = sum(r.get("seconds") or 0.0 for r in records.values())
    rows.append({"step": "total", "wall time (s)": f"{total:.0f}", "status": ""})
    return pd.DataFrame(rows)


def _read_table(out: Path, relative: str) -> pd.DataFrame | None:
    path = out / relative
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, dtype={"subject": str, "dataset": str})
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _verdict_frame(record: dict) -> pd.DataFrame:
    rows = record.get("verdicts") or []
    return pd.DataFrame(rows, columns=["claim", "paper", "ours", "verdict"])


def _section_title(index: int, name: str, record: dict) -> str:
    return "Base run (shared by the experiments)" if name == "base" else f"{index}. {record.get('title', name)}"


def _png_data(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def render_markdown(out: Path, records: dict, *, reused=(), header: list[str]) -> str:
    """The markdown report (figures referenced by path relative to ``out``)."""
    lines = ["# Reproducing \"The Wisdom of a Crowd of Brains\" (Beliy, Wasserman et al.)", ""] + header + [""]
    lines += ["## Verdicts", "", markdown_table(verdict_summary(records), max_rows=None), ""]
    lines += ["## Wall time", "", markdown_table(timing_table(records, reused), max_rows=None), ""]
    for index, (name, record) in enumerate(records.items()):
        lines += [f"## {_section_title(index, name, record)}", "", f"`{name}` — folder `{name}/`", ""]
        if record.get("paper"):
            lines += [f"**Paper.** {record['paper']}", ""]
        if record.get("verdicts"):
            lines += [markdown_table(_verdict_frame(record), max_rows=None), ""]
        for note in record.get("notes") or []:
            lines.append(f"- {note}")
        if record.get("notes"):
            lines.append("")
        for table_name, relative in (record.get("tables") or {}).items():
            table = _read_table(out, relative)
            if table is None:
                continue
            lines += [f"**{table_name}** (`{relative}`)", "", markdown_table(table) if len(table.columns) else
                      "(empty)", ""]
        for figure_name, relative in (record.get("figures") or {}).items():
            if (out / relative).is_file():
                lines += [f"![{figure_name}]({relative})", ""]
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.ok { background: #d8f5d0; } td.no { background: #f8d0d0; } td.differs { background: #fbeec2; }
td.failed { background: #e0e0e0; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.3em 0 1em 0; }
.paper { background: #f7f7fb; border-left: 4px solid #99c; padding: 0.4em 0.8em; }
.more, .file { color: #777; font-size: 0.85em; }
"""


def render_html(out: Path, records: dict, *, reused=(), header: list[str]) -> str:
    """The self-contained HTML report (figures embedded as base64 PNG)."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             "<title>Reproducing The Wisdom of a Crowd of Brains</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>Reproducing &ldquo;The Wisdom of a Crowd of Brains&rdquo; (Beliy, Wasserman et al.)</h1>"]
    parts += [f"<p>{esc(line)}</p>" for line in header if line]
    parts += ["<h2>Verdicts</h2>", html_table(verdict_summary(records), max_rows=None)]
    parts += ["<h2>Wall time</h2>", html_table(timing_table(records, reused), max_rows=None, verdict_column=None)]
    for index, (name, record) in enumerate(records.items()):
        parts.append(f"<h2 id='{esc(name)}'>{esc(_section_title(index, name, record))}</h2>")
        parts.append(f"<p class='file'>{esc(name)}/</p>")
        if record.get("paper"):
            parts.append(f"<p class='paper'><b>Paper.</b> {esc(record['paper'])}</p>")
        if record.get("verdicts"):
            parts.append(html_table(_verdict_frame(record), max_rows=None))
        if record.get("notes"):
            parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in record["notes"]) + "</ul>")
        for table_name, relative in (record.get("tables") or {}).items():
            table = _read_table(out, relative)
            if table is None:
                continue
            parts.append(f"<h4>{esc(table_name)} <span class='file'>({esc(relative)})</span></h4>")
            parts.append(html_table(table, verdict_column=None) if len(table.columns) else "<p>(empty)</p>")
        for figure_name, relative in (record.get("figures") or {}).items():
            path = out / relative
            if path.is_file() and path.suffix.lower() == ".png":
                parts.append(f"<h4>{esc(figure_name)} <span class='file'>({esc(relative)})</span></h4>")
                parts.append(f"<img alt='{esc(figure_name)}' src='data:image/png;base64,{_png_data(path)}'>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out, records: dict, *, reused=(), preset: str = "", seed: int = 0, base_run=None) -> dict:
    """Write ``out/report.md`` and ``out/report.html``.

    Parameters
    ----------
    out : path
        Report folder; table and figure paths in the records are relative to it.
    records : dict of name -> saved record
        ``base`` first, then the experiments in order.
    reused : sequence of str
        Steps this call did not rerun.
    preset : str
    seed : int
    base_run : path, optional
        The run attached with ``--base-run``.

    Returns
    -------
    dict with ``markdown`` and ``html`` paths.
    """
    out = Path(out)
    if "base" not in records:
        base = "none (no experiment of this report needs it)"
    else:
        base = f"attached from {base_run} (copied into base/run)" if base_run else "trained here (base/run)"
    header = [f"Preset `{preset}`, seed {seed}; base run: {base}.",
              f"Written {time.strftime('%Y-%m-%d %H:%M:%S')} by `python -m analyses`; every verdict is computed from "
              "the numbers in the tables below (reproduced / not reproduced / differs because ...)."]
    markdown = out / "report.md"
    markdown.write_text(render_markdown(out, records, reused=reused, header=header))
    page = out / "report.html"
    page.write_text(render_html(out, records, reused=reused, header=[h.replace("`", "") for h in header]))
    return {"markdown": markdown, "html": page}
