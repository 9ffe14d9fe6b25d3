"""The attack stage in the whole pipeline: breast_cancer's robustness and privacy sections, the ordering of the attacks, `shipyard attack RUN`, a DP-SGD run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import chromium_check
import pytest

import shipyard
from shipyard.recipe import load_recipe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def attack_json(run) -> dict:
    return json.loads((run.path / "attack.json").read_text())


def test_breast_cancer_report_has_robustness_and_privacy_sections(breast_cancer_run):
    report = breast_cancer_run.path / "report.html"
    html = report.read_text(encoding="utf-8")
    assert 'id="robustness"' in html and 'id="privacy"' in html
    assert "PGD" in html and "membership" in html.lower() and "Trained without differential privacy" in html
    result = chromium_check.probe(report)
    assert chromium_check.problems(result) == []
    sections = {s["id"]: s for s in result["sections"]}
    assert sections["robustness"]["items"] >= 4 and sections["privacy"]["items"] >= 3
    images = [i for i in result["images"] if i["section"] in ("robustness", "privacy")]
    assert len(images) == 2 and all(i["ok"] and i["width"] > 100 for i in images)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_attack_ordering_on_the_trained_breast_cancer_network(breast_cancer_run, norm):
    """At every epsilon, accuracy under PGD <= FGSM <= random noise of the same norm; PGD at the largest budget far below clean."""
    result = attack_json(breast_cancer_run)
    curves = result["curves"][norm]
    clean = breast_cancer_run.metrics["test"]["accuracy"]
    for k in range(len(curves["pgd"])):
        pgd, fgsm, noise = (curves[m][k]["scores"]["accuracy"] for m in ("pgd", "fgsm", "noise"))
        assert pgd <= fgsm <= noise, (norm, curves["pgd"][k]["epsilon"], pgd, fgsm, noise)
    assert curves["pgd"][-1]["scores"]["accuracy"] <= clean - 0.5
    assert curves["noise"][-1]["scores"]["accuracy"] >= clean - 0.15


def test_epsilon_zero_reproduces_the_test_metrics_exactly(breast_cancer_run):
    result = attack_json(breast_cancer_run)
    test = breast_cancer_run.metrics["test"]
    assert result["clean"] == test
    for methods in result["curves"].values():
        for points in methods.values():
            assert points[0]["epsilon"] == 0 and {k: points[0]["scores"][k] for k in test} == test
    assert result["rows"] == breast_cancer_run.metrics["split"]["test"]
    assert result["space"]["perturbed_features"] == 30 and result["space"]["clip"] is True
    membership = result["membership"]
    assert membership["members"] == membership["non_members"] == result["rows"]
    assert 0.3 < membership["loss_threshold"]["auc"] < 0.75  # a regularised network on 455 rows: little to find
    assert breast_cancer_run.metrics["attack"]["findings"] == result["findings"]


def test_attack_metrics_are_tracked_in_mlflow(breast_cancer_run):
    from mlflow import MlflowClient

    run_id = json.loads((breast_cancer_run.path / "run.json").read_text())["mlflow_run_id"]
    logged = MlflowClient().get_run(run_id).data.metrics
    result = attack_json(breast_cancer_run)
    assert logged["attack_pgd_inf_eps0.25_accuracy"] == pytest.approx(result["curves"]["inf"]["pgd"][3]["scores"]["accuracy"])
    assert logged["attack_membership_loss_threshold_auc"] == pytest.approx(result["membership"]["loss_threshold"]["auc"])


def test_shipyard_attack_reruns_on_a_finished_run(breast_cancer_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(breast_cancer_run.path, run)
    original = json.loads((run / "attack.json").read_text())
    (run / "attack.json").unlink()
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "shipyard.cli", "attack", str(run)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    again = json.loads((run / "attack.json").read_text())
    assert again["curves"] == original["curves"] and again["membership"] == original["membership"]  # nothing refitted, same seed
    assert "test accuracy under L-inf attacks" in proc.stdout and "membership inference" in proc.stdout
    assert 'id="robustness"' in (run / "report.html").read_text()
    proc = subprocess.run([sys.executable, "-m", "shipyard.cli", "attack", str(run), "--rows", "40"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((run / "attack.json").read_text())["rows"] == 40


def test_a_dp_sgd_run_reports_its_spent_epsilon(tmp_path, monkeypatch):
    import shipyard.stages.train as train_stage

    saved: list = []
    real_save = train_stage.save_checkpoint
    monkeypatch.setattr(train_stage, "save_checkpoint", lambda *a, **k: saved.append(a[2]["complete"]) or real_save(*a, **k))
    recipe = load_recipe(EXAMPLES / "breast_cancer.yaml")
    recipe.train.epochs = 30
    recipe.train.checkpoint_every = 5
    recipe.train.learning_rate = 0.01
    recipe.train.privacy = {"epsilon": 4.0}
    recipe.explain.enabled = False
    recipe.evaluate.bootstrap.samples = 100
    recipe.attack.norms = ["inf"]
    result = shipyard.run(recipe, runs_dir=tmp_path, track=False, progress=False)
    dp = result.metrics["dp_sgd"]
    assert 0 < dp["epsilon"] <= 4.0 and dp["target_epsilon"] == 4.0 and dp["epochs_calibrated"] == 30
    assert json.loads((result.path / "metrics.json").read_text())["dp_sgd"] == dp
    assert result.metrics["test"]["accuracy"] > 0.8
    html = (result.path / "report.html").read_text()
    assert "Differentially private training" in html and f"{dp['epsilon']:.3f} (4)" in html
    assert not (result.path / "checkpoint" / "training_state.pt").exists()
    assert saved == [True]  # no intermediate checkpoint: the accountant is not saved, so a DP run is not resumed mid-way
