"""A run killed with SIGKILL mid-training and resumed with --resume ends with the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

RECIPE = """\
name: resume-check
data:
  source: sklearn:breast_cancer
  target: target
model:
  hidden_sizes: [64, 64]
  dropout: 0.2
train:
  epochs: 60
  batch_size: 16
  checkpoint_every: 1
  schedule: {type: cosine, warmup: 0.05}
  early_stopping: {patience: 8}
evaluate:
  baseline: false
  bootstrap: {samples: 50}
explain:
  enabled: false
"""


def shipyard(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shipyard.cli", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoint" / "model.safetensors")


def test_sigkill_mid_training_then_resume_matches_an_uninterrupted_run(tmp_path):
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    whole = shipyard("run", "recipe.yaml", "--runs-dir", "whole", "--no-track", "-q", cwd=tmp_path)
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    reference = next((tmp_path / "whole" / "resume-check").glob("2*"))
    reference_history = json.loads((reference / "history.json").read_text())
    assert len(reference_history) >= 12  # the kill below lands mid-training

    killed = shipyard("run", "recipe.yaml", "--runs-dir", "killed", "--no-track", "-q", cwd=tmp_path)
    deadline, epoch = time.monotonic() + 300, 0
    while time.monotonic() < deadline and epoch < 6:
        time.sleep(0.05)
        for info in (tmp_path / "killed").glob("resume-check/2*/checkpoint/checkpoint.json"):
            try:
                epoch = json.loads(info.read_text())["epoch"]
            except (json.JSONDecodeError, FileNotFoundError):
                pass  # mid-swap: read again
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert 6 <= epoch < len(reference_history), "the process was not killed mid-training"
    run = next((tmp_path / "killed" / "resume-check").glob("2*"))
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    assert not (tmp_path / "killed" / "resume-check" / "latest").exists()
    assert not json.loads((run / "checkpoint" / "checkpoint.json").read_text())["complete"]

    resumed = shipyard("run", "--resume", str(run), "-q", cwd=tmp_path)  # started with --no-track: resumes untracked
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["resumed"] is True
    assert record["tracked"] is False and record["mlflow_run_id"] is None and not (tmp_path / "mlflow.db").exists()
    assert record["error"] is None and record["killed"] is False  # the interruption is not reported as the run's error
    assert (tmp_path / "killed" / "resume-check" / "latest").resolve() == run

    a, b = weights(reference), weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = json.loads((run / "history.json").read_text())
    assert [e["val_loss"] for e in history] == [e["val_loss"] for e in reference_history]  # same epochs, same stop
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["resumed_from_epoch"] >= 6
    assert metrics["test"] == json.loads((reference / "metrics.json").read_text())["test"]


def test_resume_refuses_a_complete_run_and_a_changed_data_file(tmp_path):
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    from shipyard.errors import ShipyardError
    from shipyard.pipeline import run

    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    recipe = RECIPE.replace("sklearn:breast_cancer", "cancer.csv").replace("epochs: 60", "epochs: 3")
    (tmp_path / "recipe.yaml").write_text(recipe)
    result = run(tmp_path / "recipe.yaml", runs_dir=tmp_path / "runs", track=False, progress=False)
    with pytest.raises(ShipyardError, match="the run is complete; nothing to resume"):
        run(resume=result.path, track=False, progress=False)
    record = json.loads((result.path / "run.json").read_text())
    (result.path / "run.json").write_text(json.dumps(record | {"status": "running"}))
    frame.iloc[:-1].to_csv(tmp_path / "cancer.csv", index=False)
    with pytest.raises(ShipyardError, match="cancer.csv: the data changed since the run"):
        run(resume=result.path, track=False, progress=False)
    assert json.loads((result.path / "run.json").read_text())["status"] == "running"  # refused before touching the run
    assert pd.read_csv(tmp_path / "cancer.csv").shape[0] == len(frame) - 1
