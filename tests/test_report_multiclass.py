"""The report of a multiclass run (wine) renders in headless Chromium with every section filled."""

from __future__ import annotations

from pathlib import Path

import chromium_check

import shipyard

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_wine_report_renders_with_every_section(tmp_path):
    result = shipyard.run(EXAMPLES / "wine.yaml", runs_dir=tmp_path, track=False, progress=False)
    probe = chromium_check.probe(result.path / "report.html")
    assert chromium_check.problems(probe) == []
    ids = {s["id"] for s in probe["sections"]}
    assert {"data", "training", "metrics", "leaderboard", "confusion", "curves", "calibration", "explanations"} <= ids
    assert {"baselines", "test_ci"} <= set(result.metrics)
