"""The HTML report in a real headless browser (Debian's chromium): it renders, every image loads,
no script raises, every figure has a caption, nothing is wider than a 1400 px window, and a
screenshot is taken. Skips, saying why, where chromium is missing."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pinglab_bio.cli.app import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (CI installs Debian's `chromium`; "
                             "`apt-get install chromium` here) so the report cannot be rendered")

# Flags for a closed network: without the networking ones chromium waits on services it cannot reach.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]

# Injected at the top of <head> of a copy of the report: records every error event (script
# errors, and resources that fail to load, which fire 'error' on their element) and, on load,
# counts images that did not decode. The result is written into the DOM for --dump-dom.
PROBE = """<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target && e.target.tagName ? e.target.tagName + ' ' + (e.target.src || '').slice(-60) : '';
  window.__errs.push((e.message || 'resource error') + (t ? ' [' + t + ']' : ''));
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length;
  var captions = Array.prototype.slice.call(document.querySelectorAll('figure')).filter(function (f) {
    var c = f.querySelector('figcaption');
    return c && c.textContent.trim().length > 40;
  }).length;
  var tables = Array.prototype.slice.call(document.querySelectorAll('table'));
  var wideTables = tables.filter(function (t) {
    // a table wider than the window counts unless it scrolls inside its own box
    var box = t.parentElement, style = box ? getComputedStyle(box).overflowX : '';
    var scrolls = box && box !== document.body && (style === 'auto' || style === 'scroll') &&
      box.getBoundingClientRect().right <= document.documentElement.clientWidth + 1;
    return t.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !scrolls;
  }).length;
  var p = document.createElement('pre');
  p.id = 'render-check';
  p.textContent = 'RENDER-CHECK ' +
    JSON.stringify({images: imgs.length, broken: broken, errors: window.__errs, captioned: captions,
                    page_width: document.documentElement.scrollWidth, window_width: window.innerWidth,
                    tables: tables.length, wide_tables: wideTables});
  document.body.appendChild(p);
});
</script>"""


def _chromium(tmp_path, *args, timeout=90):
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=timeout)


def render_check(page: Path, tmp_path: Path) -> dict:
    """Load a copy of ``page`` with the probe; return ``{images, broken, errors}``."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    proc = _chromium(tmp_path, "--virtual-time-budget=10000", "--window-size=1400,2000", "--dump-dom",
                     probed.as_uri())
    found = re.search(r"RENDER-CHECK (\{.*?\})</pre>", proc.stdout)
    assert found, f"the page did not finish loading in chromium: {proc.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    run = root / "gamma"
    assert main(["run", "ping_gamma", "--duration", "0.3s", "--out", str(run), "--quiet"]) == 0
    page = root / "report.html"
    assert main(["analyze", str(run), "--report", str(page)]) == 0
    return page


def test_report_renders_in_browser_behavior(report, tmp_path):
    result = render_check(report, tmp_path)
    assert {k: result[k] for k in ("images", "broken", "errors")} == {"images": 5, "broken": 0, "errors": []}
    assert result["captioned"] == 5  # every figure says what it shows (more than a word or two)
    assert result["page_width"] <= result["window_width"] == 1400  # nothing overflows a 1400 px window
    assert result["tables"] >= 5 and result["wide_tables"] == 0
    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, "--window-size=1100,2400", f"--screenshot={shot}", report.as_uri())
    assert shot.is_file(), proc.stderr[-500:]
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(head[16:20], "big") == 1100  # the width asked for: a real render


def test_render_check_catches_faults_behavior(report, tmp_path):
    # The same check on a page with a missing image and a script error must report both,
    # so a clean result above means something.
    broken = tmp_path / "broken.html"
    broken.write_text(report.read_text().replace(
        "</body>", "<img src='no-such-figure.png' alt='x'><script>notDefinedAnywhere()</script></body>"))
    result = render_check(broken, tmp_path)
    assert result["broken"] == 1
    assert any("notDefinedAnywhere" in e for e in result["errors"])
    assert any("no-such-figure.png" in e for e in result["errors"])


def test_sweep_report_fits_window_behavior(tmp_path):
    # A sweep summary with every metric column: it must fit a 1400 px window (wide tables scroll
    # in their own box, never the page), with its figure captioned.
    from pinglab_bio.workflow.sweep_summary import summarize_sweep

    rows = [{"point": f"p{k}", "tau_gaba_ms": tau, "seed": s, "gamma_peak_hz": 500 / (tau + 2) + s,
             "gamma_power_share": 0.8, "gamma_prominence": 912.345678, "rate_exc_hz": 50 / tau,
             "rate_inh_hz": 500 / (tau + 2), "synchrony_exc": 0.2, "synchrony_inh": 0.99}
            for k, tau in enumerate((4.5, 6.0, 9.0, 12.0, 18.0)) for s in (0, 1)]
    folder = tmp_path / "sweep"
    folder.mkdir()
    summarize_sweep(rows, "tau_gaba_ms", folder, xlabel="tau_GABA (ms)", title="gamma against tau_GABA")
    result = render_check(folder / "report.html", tmp_path)
    assert result["broken"] == 0 and result["errors"] == [] and result["captioned"] == 1
    assert result["page_width"] <= result["window_width"] == 1400
    assert result["wide_tables"] == 0
    # Control: the same page without the scrolling box, and a table of 40 columns, does overflow.
    page = (folder / "report.html").read_text().replace(".tbl{max-width:100%;overflow-x:auto", ".tbl{")
    cells = "".join(f"<td>column number {k}</td>" for k in range(40))
    wide = tmp_path / "wide.html"
    wide.write_text(page.replace("</body>", f"<table><tr>{cells}</tr></table></body>"))
    control = render_check(wide, tmp_path)
    assert control["page_width"] > 1400 and control["wide_tables"] >= 1
