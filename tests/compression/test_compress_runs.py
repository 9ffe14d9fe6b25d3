"""The compress stage on real runs: `shipyard compress RUN` on a finished run, regression with a ResNet, and bad input
(a budget metric the task does not report, a budget no variant meets, a network the quantizer cannot handle, too few
calibration rows): each gets a clear message and the rest goes on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shipyard.compression.bench import COMPRESSION
from shipyard.compression.formats import MIN_CALIBRATION_ROWS
from shipyard.recipe import CompressSpec, load_recipe, recipe_from_dict
from shipyard.rundir import RunDir
from shipyard.stages.base import RunContext
from shipyard.stages.compress import compress

from .conftest import EinsumNet

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUICK = {"latency": {"repeats": 50, "warmup": 5, "request_repeats": 0}}
"""Few timed calls: these tests check what is built and chosen, not how fast."""


def _copy(run, tmp_path: Path) -> RunDir:
    target = tmp_path / "run"
    shutil.copytree(run.path, target, symlinks=True)
    return RunDir(target)


def _context(run_dir: RunDir, **compress: object) -> RunContext:
    ctx = RunContext.from_run(run_dir)
    ctx.recipe.compress = CompressSpec.model_validate({**QUICK, **compress})
    return ctx


def _cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipyard.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_shipyard_compress_reruns_the_stage_on_a_finished_run(breast_cancer_run, tmp_path):
    """The breast-cancer run has no compress section: the defaults apply, the checkpoint's network and the saved
    preparation are used (nothing refitted), the default student is refused with the reason, the report gains the section."""
    import chromium_check

    run = _copy(breast_cancer_run, tmp_path)
    before = json.loads((run.path / "metrics.json").read_text())["test"]
    proc = _cli("compress", str(run.path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((run.path / COMPRESSION).read_text())
    assert {v["name"] for v in result["variants"]} >= {"fp32", "int8_dynamic", "int8_static", "fp16", "pruned_fp32", "pruned_int8_dynamic"}
    assert result["skipped"] == [
        {"name": "student_128", "reason": "student_128: 4,226 parameters, not fewer than the teacher's 530 (hint: choose smaller compress.distill.students)"}
    ]
    assert "student_128 not made: student_128: 4,226 parameters" in proc.stdout
    assert f"deployed: {result['selected']} ({result['reason']})" in " ".join(proc.stdout.split())
    fp32 = next(v for v in result["variants"] if v["name"] == "fp32")
    assert fp32["test"]["accuracy"] == pytest.approx(before["accuracy"])  # the same network, the same split
    manifest = json.loads((run.path / "bundle" / "manifest.json").read_text())
    assert manifest["compression"]["variant"] == result["selected"]
    report = run.path / "report.html"
    assert 'id="compression"' in report.read_text(encoding="utf-8")
    probed = chromium_check.probe(report)
    assert chromium_check.problems(probed) == []
    assert any(s["id"] == "compression" for s in probed["sections"])


def test_a_budget_metric_the_task_does_not_report_is_refused_before_the_run(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: bad-budget\ndata: {source: sklearn:breast_cancer, target: target}\ncompress: {budget: {metric: f2, max_drop: 0.01}}\n",
        encoding="utf-8",
    )
    proc = _cli("run", str(recipe), "--runs-dir", str(tmp_path / "runs"), "--no-track", "-q")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: compress.budget.metric: 'f2' is not a test metric of this classification task (hint: choose one of accuracy, precision, "
        "recall, f1, roc_auc, log_loss, balanced_accuracy)"
    ]
    assert not (tmp_path / "runs").exists()


def test_a_dp_sgd_run_is_not_trained_again_by_pruning_or_distillation(breast_cancer_run, tmp_path):
    """Pruning's fine-tuning and a student's training would read the training rows outside the DP-SGD budget, so a
    run with train.privacy gets only the quantized graphs of its own network, and says why for the others."""
    from shipyard.recipe import PrivacySpec

    ctx = _context(_copy(breast_cancer_run, tmp_path), formats=["int8_dynamic"], distill={"students": [[4]], "epochs": 2})
    ctx.recipe.train.privacy = PrivacySpec(epsilon=2.0)
    result = compress(ctx)
    assert {v["name"] for v in result["variants"]} == {"fp32", "int8_dynamic"}
    assert [s["name"] for s in result["skipped"]] == ["pruned", "student_4"]
    assert all(s["reason"].startswith("train.privacy: made by training on the training rows again") for s in result["skipped"])


def test_a_budget_no_variant_meets_keeps_fp32_and_says_why(breast_cancer_run, tmp_path):
    """No loss of log-loss allowed, and only much smaller networks on offer: 95% of the hidden units pruned without
    fine-tuning, a one-unit student trained for two epochs. Each is worse than fp32 on validation."""
    ctx = _context(
        _copy(breast_cancer_run, tmp_path),
        formats=[],
        prune={"amount": 0.95, "fine_tune_epochs": 0},
        distill={"students": [[1]], "epochs": 2},
        budget={"metric": "log_loss", "max_drop": 0.0},
    )
    result = compress(ctx)
    drops = {v["name"]: v["drop"]["validation"] for v in result["variants"] if v["name"] != "fp32"}
    assert set(drops) == {"pruned_fp32", "student_1_fp32"} and all(d > 0 for d in drops.values()), drops
    closest = min(drops, key=drops.get)
    assert result["selected"] == "fp32" and result["eligible"] == ["fp32"]
    assert result["reason"] == (
        f"no variant stays within the budget (log_loss drop <= 0 on validation); the closest, {closest}, "
        f"loses {drops[closest]:.4f} log_loss on validation: fp32 stays"
    )
    manifest = json.loads((ctx.run_dir.bundle / "manifest.json").read_text())
    assert manifest["compression"]["variant"] == "fp32" and manifest["variant"]["name"] == "fp32"


def test_a_network_the_quantizer_cannot_handle_is_reported_and_the_rest_go_on(breast_cancer_run, tmp_path):
    """A network made of einsums (as an attention-style model kind would export): both int8 graphs of it fail with the
    reason, its float16 graph and a student's graphs are built, and a variant is still chosen."""
    ctx = _context(_copy(breast_cancer_run, tmp_path), prune=None, distill={"students": [[4]], "epochs": 20})
    torch.manual_seed(0)
    ctx.network = EinsumNet(ctx.data.n_features, 64, 2).eval()
    result = compress(ctx)
    status = {v["name"]: v["status"] for v in result["variants"]}
    assert status == {
        "fp32": "ok",
        "int8_dynamic": "failed",
        "int8_static": "failed",
        "fp16": "ok",
        "student_4_fp32": "ok",
        "student_4_int8_dynamic": "ok",
        "student_4_int8_static": "ok",
        "student_4_fp16": "ok",
    }
    errors = {v["name"]: v["error"] for v in result["variants"] if v["status"] == "failed"}
    for name, error in errors.items():
        assert error.startswith(f"{name}: onnxruntime's quantizer left every weight in float32 (operators holding weights: Einsum x2)"), error
    assert result["selected"] in status and (ctx.run_dir.path / "compression" / "student_4_int8_dynamic" / "model.onnx").is_file()
    assert not (ctx.run_dir.path / "compression" / "int8_dynamic").exists()


def test_too_few_calibration_rows_skip_static_quantization_only(breast_cancer_run, tmp_path):
    ctx = _context(_copy(breast_cancer_run, tmp_path), prune=None, distill=None, calibration_rows=10)
    result = compress(ctx)
    status = {v["name"]: v["status"] for v in result["variants"]}
    assert status == {"fp32": "ok", "int8_dynamic": "ok", "int8_static": "failed", "fp16": "ok"}
    static = next(v for v in result["variants"] if v["name"] == "int8_static")
    assert static["error"] == f"int8_static: compress.calibration_rows is 10; static quantization needs at least {MIN_CALIBRATION_ROWS} calibration rows"
    assert result["calibration_rows"] is None


def test_a_training_split_smaller_than_the_calibration_set_needs(tmp_path):
    """iris with most rows held out: 22 training rows, fewer than static quantization's 32; the run goes on without it."""
    recipe = recipe_from_dict(
        {
            "name": "iris-small",
            "data": {"source": "sklearn:iris", "target": "target", "split": {"validation": 0.4, "test": 0.45}},
            "model": {"hidden_sizes": [32]},
            "train": {"epochs": 30},
            "explain": {"enabled": False},
            "compress": {**QUICK, "prune": None, "distill": None, "formats": ["int8_dynamic", "int8_static"]},
        }
    )
    from rich.console import Console

    from shipyard.pipeline import run

    console = Console(stderr=True, record=True, width=200)
    result = run(recipe, runs_dir=tmp_path / "runs", track=True, progress=True, console=console)
    log = " ".join(console.export_text().split())
    train_rows = result.metrics["split"]["train"]
    assert train_rows < MIN_CALIBRATION_ROWS
    assert f"int8_static: skipped: the training split holds only {train_rows} rows; static quantization needs at least {MIN_CALIBRATION_ROWS} calibration rows" in log
    compression = json.loads((result.path / COMPRESSION).read_text())
    assert {v["name"]: v["status"] for v in compression["variants"]} == {"fp32": "ok", "int8_dynamic": "ok", "int8_static": "failed"}
    assert json.loads((result.path / "run.json").read_text())["status"] == "complete"


def test_regression_with_a_resnet_is_compressed_on_rmse(tmp_path):
    """diabetes with the tabular ResNet: its blocks' hidden width is pruned, a student learns the teacher's values, int8
    parity is held relative to the target's scale, and rmse (lower is better) is the budget."""
    raw = load_recipe(EXAMPLES / "diabetes.yaml").resolved()
    raw["model"] = {"type": "resnet", "n_blocks": 1, "d_block": 32}
    raw["train"]["epochs"] = 40
    raw["explain"]["enabled"] = False
    raw["compress"] = {**QUICK, "formats": ["int8_dynamic", "fp16"], "distill": {"students": [[8]], "epochs": 40}, "budget": {"max_drop": 5.0}}
    recipe = recipe_from_dict(raw, base_dir=EXAMPLES)
    from shipyard.pipeline import run

    result = run(recipe, runs_dir=tmp_path / "runs", track=False, progress=False)
    compression = json.loads((result.path / COMPRESSION).read_text())
    variants = {v["name"]: v for v in compression["variants"]}
    assert all(v["status"] == "ok" for v in variants.values()), {k: v.get("error") for k, v in variants.items()}
    assert compression["budget"]["metric"] == "rmse"
    assert compression["networks"]["pruned"]["spec"]["d_hidden_multiplier"] == 1.0  # 64 hidden units of 32-wide blocks, halved
    assert variants["pruned_fp32"]["parameters"] < variants["fp32"]["parameters"]
    from sklearn.datasets import load_diabetes

    scale = float(abs(load_diabetes().target).max())
    assert variants["int8_dynamic"]["parity"]["tolerance"] == pytest.approx(0.1 * scale)
    assert variants["int8_dynamic"]["parity"]["flips"] is None
    for name, v in variants.items():
        assert v["drop"]["validation"] == pytest.approx(v["validation"]["rmse"] - variants["fp32"]["validation"]["rmse"]), name
    served = __import__("shipyard").load(result.path)
    assert served.manifest["compression"]["variant"] == compression["selected"]
