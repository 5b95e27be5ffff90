"""Report stage: `build_report(run_dir)` renders `report.md` and a self-contained `report.html` from the run
directory's tables, run.json and figures (so `interf report RUN` can re-render any run without recomputing).

The HTML page has no external resources: figures are base64 `data:` URIs, styles and the table-sorting script are
inline.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from interf_dsl.errors import ReportError
from interf_dsl.execute.atomic import atomic_write_text
from interf_dsl.report.io import read_run
from interf_dsl.report.migrate import migrate
from interf_dsl.report.sections import Section, TableView, build_sections

FORMATS = ("md", "html")

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:75em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}th,td{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0;cursor:pointer;user-select:none}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600;padding:.3em 0}
.note{color:#666;font-size:.85em}img{max-width:100%;border:1px solid #eee;margin:.5em 0}"""

# Click a header to sort by that column (numbers numerically, text alphabetically); click again to reverse.
_JS = """document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){
var table=th.closest('table'),body=table.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th);
var asc=!th.classList.contains('asc');table.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc');});
th.classList.add(asc?'asc':'desc');var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent,nx=parseFloat(x),ny=parseFloat(y);
var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});
rows.forEach(function(r){body.appendChild(r);});});});"""


def _md_table(t: TableView) -> list[str]:
    esc = [c.replace("|", "\\|") for c in t.columns]
    lines = [f"**{t.title}** ({t.total_rows} rows{'; showing ' + str(len(t.rows)) if len(t.rows) < t.total_rows else ''})"]
    if t.note:
        lines.append(f"_{t.note}_")
    lines += ["", "| " + " | ".join(esc) + " |", "|" + "---|" * len(esc)]
    lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in t.rows]
    return lines + [""]


def render_md(sections: list[Section], title: str) -> str:
    """Markdown text of the report."""
    out = [f"# {title}", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        out += [f"- {line}" for line in s.text] + ([""] if s.text else [])
        for t in s.tables:
            out += _md_table(t)
        out += [f"![{f.stem}](figures/{f.name})" for f in s.figures] + ([""] if s.figures else [])
    return "\n".join(out) + "\n"


def _is_num(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _html_table(t: TableView) -> str:
    e = html.escape
    more = f"; showing {len(t.rows)}" if len(t.rows) < t.total_rows else ""
    head = "".join(f"<th>{e(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{e(v)}</td>' if _is_num(v) else f"<td>{e(v)}</td>" for v in row)
        + "</tr>" for row in t.rows)
    note = f'<p class="note">{e(t.note)}</p>' if t.note else ""
    return (f'<table class="sortable"><caption>{e(t.title)} ({t.total_rows} rows{more})</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}")


def _html_figure(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(path.stem)}" src="data:{mime};base64,{data}"></figure>'


def render_html(sections: list[Section], title: str) -> str:
    """A self-contained HTML page of the report."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"]
    for s in sections:
        parts.append(f'<section id="{e(s.title.lower())}"><h2>{e(s.title)}</h2>')
        if s.text:
            parts.append("<ul>" + "".join(f"<li>{e(line).replace('**', '')}</li>" for line in s.text) + "</ul>")
        parts += [_html_table(t) for t in s.tables]
        parts += [_html_figure(f) for f in s.figures]
        parts.append("</section>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts)


def build_report(run_dir: Path | str, *, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Render the report files of a run directory.

    Returns:
        The written files.

    Raises:
        ReportError: not a run directory, or an unknown format.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ReportError(f"unknown report format {bad[0]!r}", name=bad[0], choices=FORMATS)
    data = read_run(run_dir)
    migrate(data)  # an older run is shown in the current layout (in memory; its files are not rewritten)
    sections = build_sections(data)
    title = f"interf report: {data.run.get('experiment')} / {data.run.get('run_id')}"
    written = []
    if "md" in formats:
        atomic_write_text(data.path / "report.md", render_md(sections, title))
        written.append(data.path / "report.md")
    if "html" in formats:
        atomic_write_text(data.path / "report.html", render_html(sections, title))
        written.append(data.path / "report.html")
    return written
