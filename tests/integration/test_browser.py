"""Browser check: report.html renders in headless Debian chromium without console errors and shows its figures.

Needs the `chromium` binary (`scripts/setup.sh --test` installs it where apt can run). Without it these tests skip
with the install command; with INTERF_REQUIRE_BROWSER=1 (set by `.ci/run`, which installs chromium) they fail
instead, so CI cannot pass without the browser checks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "execute"))

pytestmark = pytest.mark.browser

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0"]


MISSING = "chromium is not installed (apt-get install -y chromium)"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("INTERF_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{MISSING}; INTERF_REQUIRE_BROWSER=1 requires it")
        pytest.skip(MISSING)
    return exe


def test_missing_chromium_skips_unless_required(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("INTERF_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y chromium"):
        _chromium()
    monkeypatch.setenv("INTERF_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="INTERF_REQUIRE_BROWSER=1 requires it"):
        _chromium()


def render(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """(DOM after load, console lines) of `page` in headless chromium."""
    proc = subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


@pytest.fixture
def report_html(tmp_path: Path) -> Path:
    from engine_kinds import make_plan

    from interf_dsl.pipeline import run_plan as execute_plan

    rec = execute_plan(make_plan(), spec_path=tmp_path / "s.yaml", spec_text="x", resolved_json="{}",
                       reports_root=tmp_path / "reports", cache_dir=tmp_path / "cache", run_id="r", quiet=True)
    return Path(rec.run_dir) / "report.html"


def test_console_scan_catches_errors(tmp_path):
    """Negative control: the scan below must be able to fail."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>undefinedFn();</script></body></html>")
    _, console = render(bad, tmp_path)
    assert any("Uncaught ReferenceError" in line for line in console)


def test_report_html_loads_without_console_errors_and_shows_figures(report_html, tmp_path):
    dom, console = render(report_html, tmp_path)
    assert console == []
    imgs = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,', dom)
    assert imgs == ["intervene_feature_m__effects"]
    assert "<h2>Interventions</h2>" in dom and "estimate [paper]" in dom


def test_report_tables_sort_in_the_browser(report_html, tmp_path):
    # click the `seconds` header of the steps table twice (descending) from a script appended to a copy
    page = tmp_path / "sorted.html"
    probe = ("<script>var t=document.querySelector('section#steps table'),th=t.tHead.rows[0].cells[3];"
             "var before=[].map.call(t.tBodies[0].rows,function(r){return r.cells[0].textContent;}).join(',');"
             "th.click();th.click();"
             "var v=[].map.call(t.tBodies[0].rows,function(r){return parseFloat(r.cells[3].textContent);});"
             "var after=[].map.call(t.tBodies[0].rows,function(r){return r.cells[0].textContent;}).join(',');"
             "var desc=v.every(function(x,i){return i===0||v[i-1]>=x;});"
             "document.body.setAttribute('data-probe',th.textContent+'|'+th.className+'|'+desc+'|'+(before!==after));"
             "</script></body>")
    page.write_text(report_html.read_text().replace("</body>", probe))
    dom, console = render(page, tmp_path)
    assert console == []
    assert 'data-probe="seconds|desc|true|true"' in dom


def test_first_screen_shows_the_answers_heading_and_its_figure(tmp_path):
    """At 1400×900 the first screen holds the Answers heading and the first answer's figure, drawn (a screenshot's
    pixels inside the figure's box are not blank)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "report"))
    from answer_run import answer_run

    from interf_dsl.report import build_report

    run = answer_run(tmp_path)
    build_report(run)
    page = run / "report.html"
    probe = ("<script>var h=document.querySelector('#answers h2'),i=document.querySelector('#answers img');"
             "var a=h.getBoundingClientRect(),b=i.getBoundingClientRect();"
             "document.body.setAttribute('data-probe',[h.textContent,Math.round(a.bottom),Math.round(b.left),"
             "Math.round(b.top),Math.round(b.right),Math.round(Math.min(b.bottom,900)),i.naturalWidth].join('|'));"
             "</script></body>")
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", probe))
    size = ["--window-size=1400,900", "--hide-scrollbars"]
    exe = _chromium()
    proc = subprocess.run([exe, *FLAGS, *size, f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", probed.as_uri()],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    title, h_bottom, left, top, right, bottom, natural = found.group(1).split("|")
    assert title == "Answers" and int(h_bottom) < 200
    assert int(natural) > 0 and int(top) < 900 - 150  # at least 150 px of the figure on the first screen

    shot = tmp_path / "first.png"
    proc = subprocess.run([exe, *FLAGS, *size, f"--user-data-dir={tmp_path / 'p2'}", f"--screenshot={shot}",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (900, 1400)
    box = pixels[int(top):int(bottom), int(left):int(right), :3]
    assert box.size and (box < 0.9).mean() > 0.01  # ink: axes, labels, points — not an empty box
