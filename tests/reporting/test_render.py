"""report.html as a person sees it: rendered by headless Chromium, no console error, every chart drawn.

The page has no script of its own; the test renders a copy with a probe appended that measures
every ``svg.chart`` (marks with a non-empty box) and writes the result into the DOM, which
``--dump-dom`` prints. Console messages come from Chromium's log (``--enable-logging=stderr``).
A screenshot is saved beside the test's files. CI installs Debian's ``chromium`` (``.ci/run``):
the test skips only where Chromium is absent and ``.ci/run`` would install it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_helpers import pipeline, write_week

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PROBE = """<script>
const out = [];
for (const svg of document.querySelectorAll('svg.chart')) {
  let marks = 0;
  for (const el of svg.querySelectorAll('rect, line')) {
    const b = el.getBBox();
    if (b.width > 0 && b.height > 0 || (el.tagName === 'line' && (b.width > 0 || b.height > 0))) marks++;
  }
  const r = svg.getBoundingClientRect();
  out.push({chart: svg.dataset.chart, marks: marks, width: r.width, height: r.height});
}
const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if "chromium" in (ROOT / ".ci" / "run").read_text():
            pytest.skip("chromium is not installed here (.ci/run installs it, so CI runs this test)")
        pytest.fail("chromium is not installed and .ci/run does not install it")
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line and ("Uncaught" in line or "rror" in line)]


def _probe(page: Path, tmp_path: Path) -> tuple[list[dict], list[str]]:
    copy = tmp_path / "probe.html"
    copy.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    done = _chromium("--virtual-time-budget=5000", "--dump-dom", copy.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")), _console_errors(done.stderr)


def test_the_report_renders_without_errors_and_every_chart_has_drawn_content(tmp_path: Path, cli) -> None:  # noqa: ANN001
    drop = write_week(tmp_path, 1)
    assert cli("run", pipeline(tmp_path, drop, tmp_path / "out", tmp_path / "work"), "--quiet").exit_code == 0
    page = tmp_path / "out" / "report.html"
    charts, errors = _probe(page, tmp_path)
    assert errors == []
    names = {c["chart"] for c in charts}
    assert {"funnel", "reasons", "hist-gopher_word_count", "sources", "timings"} <= names
    assert page.read_text().count('class="chart"') == len(charts)
    for c in charts:
        assert c["marks"] > 0 and c["width"] > 0 and c["height"] > 0, c
    shot = tmp_path / "report.png"
    _chromium("--window-size=1280,2000", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_the_probe_sees_console_errors_and_empty_charts(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><svg class='chart' data-chart='empty' width='100' height='50'></svg><script>undefinedFunction()</script></body></html>")
    charts, errors = _probe(page, tmp_path)
    assert charts == [{"chart": "empty", "marks": 0, "width": 100, "height": 50}]
    assert errors and "undefinedFunction" in errors[0]
