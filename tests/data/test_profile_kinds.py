"""Column kinds, personal data and the CLI's profile command."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.data.profile import profile_table


def test_kinds_and_personal_data_are_recognised():
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "when": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "note": [f"patient reported mild pain number {i}" for i in range(n)],
            "phone": [f"+41 44 {rng.integers(100, 999)} {rng.integers(10, 99)} {i % 90 + 10}" for i in range(n)],
            "smoker": rng.choice(["yes", "no"], n),
            "flag": rng.integers(0, 2, n),
            "dose": rng.normal(5, 1, n),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )
    y = rng.integers(0, 2, n)
    features = list(frame.columns)
    frame["y"] = y
    profile = profile_table(frame, features, "y", y, np.arange(140))
    kinds = {name: s["kind"] for name, s in profile["columns"].items()}
    assert kinds == {
        "row_id": "identifier",
        "when": "datetime",
        "note": "text",
        "phone": "identifier",
        "smoker": "boolean",
        "flag": "boolean",
        "dose": "numeric",
        "colour": "categorical",
    }
    assert profile["columns"]["phone"]["pii"] == "phone"
    assert profile["columns"]["when"]["pii"] is None  # ISO dates share a phone number's digits and dashes
    codes = {(f["code"], f["column"]) for f in profile["findings"]}
    assert {("personal_data", "phone"), ("datetime", "when"), ("text", "note"), ("identifier", "row_id")} <= codes
    # Random labels: no column is a leak.
    assert not any(f["code"] == "leakage" for f in profile["findings"])


def test_profile_command_prints_findings_and_writes_json(tmp_path, planted_csv):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: planted\ndata:\n  source: {planted_csv}\n  target: diagnosis\n", encoding="utf-8")
    out = tmp_path / "profile.json"
    result = CliRunner().invoke(app, ["profile", str(recipe), "-o", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "personal_data" in result.output and "leakage" in result.output
    assert '"duplicate_rows": 12' in out.read_text()


def test_run_on_bad_data_stops_with_one_line_and_exit_2(tmp_path, planted_csv):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: planted\ndata:\n  source: {planted_csv}\n  target: diagnosis\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(recipe), "--no-track", "--runs-dir", str(tmp_path / "runs")], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "error (leakage): column 'leak'" in lines[0]
    assert not (tmp_path / "runs").exists()  # bad data leaves nothing behind
