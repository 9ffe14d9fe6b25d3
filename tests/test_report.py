"""report.html renders in real headless Chromium with every image loaded and every section filled."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import chromium_check
import pytest

from shipyard.report import Section, build_report, register_section
from shipyard.report.sections import _REGISTRY

EXPECTED = {"data", "training", "metrics", "leaderboard", "confusion", "curves", "calibration", "explanations", "robustness", "privacy"}



pytestmark = pytest.mark.slow

def test_report_renders_in_chromium_with_all_sections(breast_cancer_run, tmp_path):
    report = breast_cancer_run.path / "report.html"
    assert report.is_file()
    html = report.read_text(encoding="utf-8")
    # Self-contained: no external scripts, styles, fonts or images.
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    result = chromium_check.probe(report)
    assert chromium_check.problems(result) == []
    assert {s["id"] for s in result["sections"]} >= EXPECTED
    assert len(result["images"]) >= 10 and all(i["width"] > 100 for i in result["images"])
    shot = chromium_check.screenshot(report, tmp_path / "report.png")
    assert shot.stat().st_size > 50_000
    keep = Path(__file__).resolve().parents[1] / "runs" / "test-screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "breast_cancer_report.png")


def test_probe_catches_a_broken_image_and_an_empty_section(breast_cancer_run, tmp_path):
    html = (breast_cancer_run.path / "report.html").read_text(encoding="utf-8")
    broken = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]{100}", "data:image/png;base64,AAAA", html, count=1)
    broken = broken.replace("</body>", '<section class="report-section" id="hollow"><h2>Hollow</h2></section></body>')
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    found = chromium_check.problems(chromium_check.probe(page))
    assert len(found) == 2
    assert found[0].startswith("image 0 in section 'data' did not load")
    assert found[1] == "section 'hollow' is empty"


def test_report_rebuilds_and_later_stages_add_sections(breast_cancer_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(breast_cancer_run.path, run)
    (run / "report.html").unlink()
    (run / "demo.json").write_text('{"fgsm_accuracy": 0.5}')

    @register_section("attack-demo", "A later stage's section", order=70)
    def _attack(ctx):
        if not ctx.has("demo.json"):
            return None
        return Section(paragraphs=[f"FGSM accuracy {ctx.json('demo.json')['fgsm_accuracy']:.2f}"])

    try:
        from typer.testing import CliRunner

        from shipyard.cli import app

        outcome = CliRunner().invoke(app, ["report", str(run)])
        assert outcome.exit_code == 0, outcome.output
        html = (run / "report.html").read_text(encoding="utf-8")
        assert "FGSM accuracy 0.50" in html
        assert html.index('id="calibration"') < html.index('id="attack-demo"') < html.index('id="explanations"')
    finally:
        _REGISTRY.pop("attack-demo", None)
    outcome = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert outcome.exit_code == 2 and "not a run directory" in outcome.output


@pytest.mark.parametrize("missing", ["metrics.json", "history.json"])
def test_report_leaves_out_sections_without_data(breast_cancer_run, tmp_path, missing):
    run = tmp_path / "run"
    shutil.copytree(breast_cancer_run.path, run)
    (run / missing).unlink()
    html = build_report(run).read_text(encoding="utf-8")
    assert ('id="training"' in html) == (missing != "history.json")
    assert ('id="leaderboard"' in html) == (missing != "metrics.json")


def test_a_section_whose_builder_raises_is_marked_failed_and_fails_the_chromium_check(breast_cancer_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(breast_cancer_run.path, run)

    @register_section("crashing-demo", "A section that crashes", order=65)
    def _crash(ctx):
        raise KeyError("missing_key")

    try:
        html = build_report(run).read_text(encoding="utf-8")
    finally:
        _REGISTRY.pop("crashing-demo", None)
    assert 'id="crashing-demo" data-failed="true"' in html
    assert "This section could not be built: KeyError" in html
    found = chromium_check.problems(chromium_check.probe(run / "report.html"))
    assert found == ["section 'crashing-demo' failed to build"]


def test_the_report_a_run_writes_does_not_call_the_finished_run_running(breast_cancer_run):
    """The report is the run's last stage, written while run.json still says running: a finished run's report has no banner."""
    import json

    assert json.loads((breast_cancer_run.path / "run.json").read_text())["status"] == "complete"
    text = (breast_cancer_run.path / "report.html").read_text()
    assert "still running" not in text and "This run is incomplete" not in text
