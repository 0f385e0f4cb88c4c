"""The HTML report in a real headless browser (Debian's chromium): it renders, every image loads,
no script raises, and a screenshot is taken. Skips, saying why, where chromium is missing."""

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
  var p = document.createElement('pre');
  p.id = 'render-check';
  p.textContent = 'RENDER-CHECK ' +
    JSON.stringify({images: imgs.length, broken: broken, errors: window.__errs});
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
    proc = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
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
    assert result == {"images": 5, "broken": 0, "errors": []}
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
