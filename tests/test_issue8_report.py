"""Issue 8, items 11 and 12: the report's findings section, and temperature scaling that stops at its bound."""

from __future__ import annotations

import json

import numpy as np
import torch
import yaml


def test_temperature_scaling_on_perfectly_separated_validation_rows_keeps_t_1_and_warns():
    """Item 12: the NLL keeps falling as T -> 0 on separated rows; the fit stops at 0.05 and would sharpen every probability."""
    from shipyard.stages.calibrate import temperature_scale

    torch.manual_seed(0)
    network = torch.nn.Linear(2, 2)
    with torch.no_grad():
        network.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0]]))
        network.bias.zero_()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    X = np.where(y[:, None] == np.arange(2), 1.0, 0.2).astype(np.float32) + rng.normal(0, 0.05, (60, 2)).astype(np.float32)
    wrapped, info = temperature_scale(network, X, y, bins=10)
    assert info["temperature"] == 1.0
    assert "stopped at its lower bound (T = 0.05)" in info["warning"] and "60 validation rows (60 classified right)" in info["warning"]
    with torch.no_grad():
        assert torch.allclose(wrapped(torch.from_numpy(X)), network(torch.from_numpy(X)))
    # Rows the network gets partly wrong: an ordinary fit, no warning.
    flipped = y.copy()
    flipped[:12] = 1 - flipped[:12]
    _, info = temperature_scale(network, X, flipped, bins=10)
    assert "warning" not in info and info["temperature"] > 1.0


def _run_dir(tmp_path, profile, summary, metrics):
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump({"name": "t", "task": "classification"}), encoding="utf-8")
    for name, content in (("data_profile.json", profile), ("data_summary.json", summary), ("metrics.json", metrics)):
        (tmp_path / name).write_text(json.dumps(content), encoding="utf-8")
    return tmp_path


def test_findings_section_lists_findings_overlap_dropped_columns_and_resampling(tmp_path):
    """Item 11: every finding worst first, the split and why, overlap counts, dropped columns with why, the resampling applied."""
    from shipyard.report.findings import findings_section
    from shipyard.report.sections import ReportContext

    profile = {
        "findings": [
            {"severity": "info", "code": "missing", "message": "1 column(s) have missing values", "hint": ""},
            {"severity": "warning", "code": "entity_column", "message": "column 'nr' looks like an entity id", "hint": "set data.split.group: nr"},
        ],
        "dataset": {
            "split": {"duplicates": {"policy": "group", "chosen_by": "data", "repeated_rows": 12, "reason": "accidental copies"}, "group": None, "given": {}, "stratified_by": "class"},
            "overlap": {"test_rows": 100, "test_rows_identical_to_training": 0, "validation_rows_identical_to_training": 0},
            "missing_values": {"numeric": "a missing number is imputed with the training split's median", "categorical": "RULE"},
        },
        "columns": {"nr": {"entity": {"groups": 50, "rows_per_group": 8.0, "test_groups": 10, "test_groups_in_training": 10}}},
        "dropped_columns": {"member_no": "identifier", "site": "constant"},
    }
    summary = {"split": {"train": 300, "validation": 60, "test": 100}, "preprocessing": {"sampler": {"method": "smote", "class_counts_before": {"a": 270, "b": 30}, "class_counts_after": {"a": 270, "b": 270}}}}
    metrics = {
        "split": {"train": 300, "validation": 60, "test": 100},
        "cv": {"holdout": {"findings": ["The holdout estimate falls outside the 5-fold CV interval"]}},
        "calibration": {"temperature_scaling": {"temperature": 1.0, "warning": "temperature scaling stopped at its lower bound"}},
    }
    section = findings_section(ReportContext(_run_dir(tmp_path, profile, summary, metrics)))
    assert section.findings[0].startswith("warning (entity_column): column 'nr' looks like an entity id — set data.split.group: nr")
    assert section.findings[1].startswith("info (missing)")
    assert "evaluation: The holdout estimate falls outside the 5-fold CV interval" in section.findings
    assert "calibration: temperature scaling stopped at its lower bound" in section.findings
    text = " ".join(section.paragraphs)
    assert "rows with identical inputs are kept together (data.split.duplicates: group, chosen from the data: accidental copies)" in text
    assert "100 test rows, never used for training or model selection; none has exactly the inputs of a training row." in text
    assert "Missing values: a missing number is imputed with the training split's median; RULE." in text
    tables = {t.caption: t.rows for t in section.tables}
    assert tables["Dropped columns"] == [["member_no", "identifier"], ["site", "constant"]]
    assert ["test values of 'nr' (looks like an entity id) with rows in training", "10 of 10"] in tables["What the validation and test rows share with the training rows"]
    resampling = tables["Applied to the training rows only (validation and test rows are never resampled)"]
    assert resampling == [["sampler", "smote", "a: 270 → 270, b: 30 → 270"]]
