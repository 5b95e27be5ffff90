"""Report stage: `build_report(run_dir)` renders `report.md` and a self-contained `report.html` from the run
directory's tables, run.json and figures (so `interf report RUN` can re-render any run without recomputing).

Layout: the Answers section first (`answers.py`: the paper's three questions, each a figure and a small table),
then a table of contents, the run's provenance and a section per stage; the atlas dumps and the steps table come last
(folded in HTML). The HTML page has no external resources: figures are base64 `data:` URIs, styles and the
table-sorting script are inline.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from interf_dsl.errors import ReportError
from interf_dsl.execute.atomic import atomic_write_text
from interf_dsl.report.answers import answer_sections
from interf_dsl.report.io import read_run
from interf_dsl.report.migrate import migrate
from interf_dsl.report.sections import Section, TableView, build_sections

FORMATS = ("md", "html")

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:75em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}th,td{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0;cursor:pointer;user-select:none}th.asc:after{content:" \\25B2"}th.desc:after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600;padding:.3em 0}
.note{color:#666;font-size:.85em}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
h1{font-size:1.1em;color:#555;margin:0 0 .3em}h2{margin:1.2em 0 .4em}h3{margin:1em 0 .3em}
#answers h2{margin-top:0}details>summary{cursor:pointer;font-size:1.3em;font-weight:700;margin:1em 0 .4em}
nav.toc{font-size:.9em;margin:1em 0}nav.toc a{margin-right:1em}"""

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


def anchor(title: str) -> str:
    """The id of a section heading (GitHub's rule: lower case, punctuation dropped, spaces as '-')."""
    return re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")


def _toc(sections: list[Section]) -> list[Section]:
    return [s for s in sections if s.level == 2 and s.title != "Answers"]


def render_md(sections: list[Section], title: str) -> str:
    """Markdown text of the report: `## Answers` first, then the contents and the other sections."""
    out: list[str] = []
    for i, s in enumerate(sections):
        if _toc(sections) and s is _toc(sections)[0]:
            out += ["## Contents", ""] + [f"- [{c.title}](#{anchor(c.title)})" for c in _toc(sections)] + [""]
        out += [f"{'#' * s.level} {s.title}", ""]
        if i == 0:
            out += [f"_{title}_", ""]
        out += [f"- {line}" for line in s.text] + ([""] if s.text else [])
        figures = [f"![{f.stem}](figures/{f.name})" for f in s.figures] + ([""] if s.figures else [])
        out += figures if s.level == 3 else []  # an answer shows its figure first
        for t in s.tables:
            out += _md_table(t)
        out += figures if s.level == 2 else []
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
    """A self-contained HTML page of the report: the Answers first, then the contents and the other sections."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"]
    toc, is_open = _toc(sections), False
    for s in sections:
        if s.level == 2:
            parts.append("</section>" if is_open else "")
            if toc and s is toc[0]:
                parts.append('<nav class="toc"><b>Contents</b> ' + "".join(
                    f'<a href="#{anchor(c.title)}">{e(c.title)}</a>' for c in toc) + "</nav>")
            parts.append(f'<section id="{anchor(s.title)}">')
            is_open = True
        head = f"<h{s.level}>{e(s.title)}</h{s.level}>"
        parts.append(f"<details><summary>{e(s.title)}</summary>" if s.collapsed
                     else head if s.level == 2 else f'<div id="{anchor(s.title)}">{head}')
        if s.text:
            parts.append("<ul>" + "".join(f"<li>{e(line).replace('**', '')}</li>" for line in s.text) + "</ul>")
        figures = [_html_figure(f) for f in s.figures]
        parts += figures if s.level == 3 else []  # an answer shows its figure first
        parts += [_html_table(t) for t in s.tables]
        parts += figures if s.level == 2 else []
        parts.append("</details>" if s.collapsed else "</div>" if s.level == 3 else "")
    parts.append("</section>" if is_open else "")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(p for p in parts if p)


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
    sections = [*answer_sections(data), *build_sections(data)]
    title = f"interf report: {data.run.get('experiment')} / {data.run.get('run_id')}"
    written = []
    if "md" in formats:
        atomic_write_text(data.path / "report.md", render_md(sections, title))
        written.append(data.path / "report.md")
    if "html" in formats:
        atomic_write_text(data.path / "report.html", render_html(sections, title))
        written.append(data.path / "report.html")
    return written
