"""Render an HTML file in real headless Chromium and report broken images and empty sections.

A copy of the page gets a script that, after the ``load`` event, records for
every ``<img>`` whether it decoded (``complete`` and ``naturalWidth > 0``) and
for every ``section.report-section`` how much it shows; ``chromium
--dump-dom`` prints the DOM after the page settled, and the record is read
back from it. No DevTools protocol is needed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images).map(function (img, i) {
    return {index: i, ok: img.complete && img.naturalWidth > 0, width: img.naturalWidth, section: (img.closest('section') || {}).id || null};
  });
  var sections = Array.from(document.querySelectorAll('section.report-section')).map(function (s) {
    var heading = s.querySelector('h2');
    var body = s.innerText.length - (heading ? heading.innerText.length : 0);
    return {id: s.id, title: heading ? heading.innerText : '', text: body, items: s.querySelectorAll('img,table,p,pre').length,
            failed: s.dataset.failed === 'true' || s.classList.contains('section-failed')};
  });
  var out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify({images: images, sections: sections});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """Path of the chromium binary (installed by ``make test`` when missing)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium is not installed: apt-get install -y chromium (the Makefile's test target does this)")


def _run(args: list[str], timeout: float = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def probe(html_file: Path) -> dict:
    """Load ``html_file`` in headless Chromium; return ``{"images": [...], "sections": [...]}``."""
    html = Path(html_file).read_text(encoding="utf-8")
    probed = html.replace("</body>", PROBE + "\n</body>")
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(probed, encoding="utf-8")
        dom = _run(["--virtual-time-budget=10000", "--dump-dom", page.as_uri()])
    match = re.search(r'<pre id="__probe">(.*?)</pre>', dom, re.S)
    if match is None:
        raise RuntimeError("the probe did not run in chromium (no #__probe in the dumped DOM)")
    import html as html_lib

    return json.loads(html_lib.unescape(match.group(1)))


def problems(result: dict) -> list[str]:
    """Broken images, failed sections and empty sections found by :func:`probe`, one message each."""
    out = [f"image {i['index']} in section {i['section']!r} did not load" for i in result["images"] if not i["ok"]]
    out += [f"section {s['id']!r} failed to build" for s in result["sections"] if s.get("failed")]
    out += [f"section {s['id']!r} is empty" for s in result["sections"] if s["text"] < 20 or s["items"] == 0]
    if not result["sections"]:
        out.append("the page has no sections")
    return out


def screenshot(html_file: Path, png: Path, width: int = 1200, height: int = 11000) -> Path:
    """Save a full-page-height screenshot of ``html_file`` as PNG."""
    _run([f"--window-size={width},{height}", f"--screenshot={png}", "--virtual-time-budget=10000", Path(html_file).resolve().as_uri()])
    return png
