"""Text and image benchmarks (issue 13): transfer learning against baselines, int8 and distillation, transfer on 10% of digits.

Usage::

    .venv/bin/python benchmarks/text_image.py text [--datasets sms sentiment]
    .venv/bin/python benchmarks/text_image.py digits [--seeds 5]

``text``: for each shared text set, runs ``examples/sms_spam.yaml`` (data
swapped for the sentiment set; explanations and perturbation curves off)
through the whole pipeline, so fine-tuned MiniLM, TF-IDF + logistic
regression, the same network from scratch and the class prior are scored on
the same test split with paired bootstrap CIs; then quantizes the exported
graph to int8 (onnxruntime dynamic) and distils the network into a 3-layer
student, and times batch-1 latency of all four graphs side by side in one
process (round-robin, 1 thread each). ``digits``: pretrains the CNN on
Semeion (16x16 resized to 8x8) once, then trains on 10% of the digits
training split from scratch and from the Semeion blocks (first block
frozen), each with and without augmentation, over several seeds.
Results go to ``benchmarks/text_image.json`` and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "text_image.json"
DATASETS = {
    "sms": {"source": "shared:sms_spam_collection.csv", "text": "text", "target": "label", "positive_class": "spam", "train_fraction": 0.3},
    "sentiment": {"source": "shared:sentiment_labelled_sentences.csv", "text": "text", "target": "label", "positive_class": "1", "train_fraction": 0.5},
}


def _save(key: str, value: Any) -> None:
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[key] = value
    OUT.write_text(json.dumps(results, indent=2) + "\n")


def _ci(entry: dict[str, Any]) -> str:
    return f"{entry['value']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}]"


def text(names: list[str], runs_dir: Path) -> None:
    import torch

    from shipyard.modalities.onnx_export import export_graph
    from shipyard.modalities.predictors import TEXT_INPUT, run_token_batches
    from shipyard.modalities.text import compress
    from shipyard.modalities.text.tokenizer import pad_id
    from shipyard.models.transformer import plain_forward
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe
    from shipyard.rundir import RunDir
    from shipyard.stages import RunContext

    for name in names:
        spec = DATASETS[name]
        recipe = load_recipe(ROOT / "examples" / "sms_spam.yaml")
        recipe.name = f"bench-{name}"
        recipe.data.source, recipe.data.text, recipe.data.target = spec["source"], spec["text"], spec["target"]
        recipe.data.positive_class = spec["positive_class"]
        recipe.data.split.train_fraction = spec["train_fraction"]
        recipe.explain.enabled = False
        recipe.attack.enabled = False
        tic = time.perf_counter()
        result = run(recipe, runs_dir=runs_dir, track=False, progress=False)
        whole = time.perf_counter() - tic
        metrics = result.metrics
        board = metrics["baselines"]["models"]
        ctx = RunContext.from_run(RunDir(result.path))
        data, task = ctx.data, ctx.task
        y_test = data.y[data.split.test]
        pad = pad_id(data.preprocessor)
        fp32 = (result.bundle / "model.onnx").read_bytes()
        tic = time.perf_counter()
        int8 = compress.quantize_int8(fp32)
        quantize_seconds = time.perf_counter() - tic

        def score(model: bytes) -> dict[str, float]:
            proba = task.shape_output(run_token_batches(compress.session(model, 2), task.output, data.X["test"], pad))
            return task.scores(y_test, proba, data.positive_index)

        tic = time.perf_counter()
        student, student_training = compress.distil(ctx.network, ctx.recipe, data, layers=3)
        distil_seconds = time.perf_counter() - tic
        with plain_forward(student):
            student_fp32 = export_graph(task.export_head(student), torch.from_numpy(data.X["test"][:2]), TEXT_INPUT, {0: ("batch", None), 1: ("seq", 512)}, 18, task.output).SerializeToString()
        student_int8 = compress.quantize_int8(student_fp32)
        graphs = {"teacher fp32": fp32, "teacher int8": int8, "student fp32": student_fp32, "student int8": student_int8}
        scores = {label: score(model) for label, model in graphs.items()}
        lengths = (data.X["test"] != pad).sum(1)
        median = data.X["test"][np.argsort(np.abs(lengths - np.median(lengths)))[:10]]  # 10 texts of median length
        latency = compress.latency_ms(graphs, median, repeats=100, warmup=10)
        epochs = [e["seconds"] for e in result.history]
        per_text = np.mean(epochs) / len(data.y_fit)
        full_train = int(len(data.split.train) / spec["train_fraction"])
        _save(
            f"text:{name}",
            {
                "rows": {"train_fitted": int(len(data.y_fit)), "validation": int(len(data.split.validation)), "test": int(len(data.split.test)), "full_training_split": full_train},
                "median_test_tokens": float(np.median(lengths)),
                "board": {m: {k: board[m][k] for k in ("accuracy", "f1")} for m in board},
                "training_seconds": {"fine-tuned MiniLM": metrics["training"]["seconds"], "from scratch": metrics["from_scratch"]["seconds"], "whole run": whole},
                "epoch_seconds": epochs,
                "full_run_epoch_estimate_seconds": per_text * full_train,
                "int8": {"quantize_seconds": quantize_seconds, "bytes": {k: len(v) for k, v in graphs.items()}, "scores": {k: {m: v[m] for m in ("accuracy", "f1")} for k, v in scores.items()},
                         "latency_ms_batch1": latency},
                "distillation": {"seconds": distil_seconds, "epochs": len(student_training.history), "layers": 3},
            },
        )
        print(f"{name}: done in {whole:.0f} s", file=sys.stderr)


def digits(seeds: int, runs_dir: Path) -> None:
    from shipyard.modalities import get_modality
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe
    from shipyard.tasks import get_task
    from shipyard.training.fit import train_network

    semeion = load_recipe(ROOT / "examples" / "semeion_cnn.yaml")
    semeion.explain.enabled = False
    tic = time.perf_counter()
    source = run(semeion, runs_dir=runs_dir, track=False, progress=False)
    pretrain_seconds = time.perf_counter() - tic
    modality, task = get_modality("image"), get_task("classification")
    rows = []
    for transfer in (False, True):
        for augment in (False, True):
            accuracies, seconds, fitted = [], [], []
            for seed in range(seeds):
                recipe = load_recipe(ROOT / "examples" / "digits_transfer.yaml")
                recipe.seed = seed
                recipe.evaluate.from_scratch = False
                recipe.model.init_from = str(source.path) if transfer else None
                recipe.model.freeze_blocks = 1 if transfer else 0
                if not augment:
                    recipe.prepare.image_augment = type(recipe.prepare.image_augment)()
                prepared = modality.load_and_split(recipe)
                modality.fit(recipe, prepared)
                network, result = train_network(recipe, prepared)
                proba = task.predict(network, prepared.X["test"])
                accuracies.append(task.scores(prepared.y[prepared.split.test], proba)["accuracy"])
                seconds.append(result.seconds)
                fitted.append(len(prepared.y_fit))
            rows.append({"start": "Semeion blocks, first frozen" if transfer else "from scratch", "augmentation": augment, "accuracy": accuracies,
                         "mean": float(np.mean(accuracies)), "std": float(np.std(accuracies, ddof=1)), "train_seconds": float(np.mean(seconds)), "train_images": fitted})
            print(rows[-1]["start"], augment, f"{rows[-1]['mean']:.4f} ± {rows[-1]['std']:.4f}", file=sys.stderr)
    _save("digits", {"seeds": seeds, "pretrain_seconds": pretrain_seconds, "semeion_test_accuracy": source.metrics["test"]["accuracy"], "rows": rows})


def markdown() -> str:
    results = json.loads(OUT.read_text())
    lines = []
    for name in DATASETS:
        r = results.get(f"text:{name}")
        if not r:
            continue
        b, t = r["board"], r["training_seconds"]
        lines += [
            f"**{name}** ({r['rows']['train_fitted']} training texts fitted, {r['rows']['test']} test texts; median {r['median_test_tokens']:.0f} tokens)",
            "",
            "| model | accuracy [95% CI] | F1 [95% CI] | training (s) |",
            "|---|---|---|---:|",
            f"| fine-tuned MiniLM | {_ci(b['network']['accuracy'])} | {_ci(b['network']['f1'])} | {t['fine-tuned MiniLM']:.0f} |",
            f"| TF-IDF + logistic regression | {_ci(b['tfidf_logistic_regression']['accuracy'])} | {_ci(b['tfidf_logistic_regression']['f1'])} | |",
            f"| same network from scratch | {_ci(b['from_scratch']['accuracy'])} | {_ci(b['from_scratch']['f1'])} | {t['from scratch']:.0f} |",
            f"| class prior | {_ci(b['dummy']['accuracy'])} | {_ci(b['dummy']['f1'])} | |",
            "",
            "| graph | size (MB) | accuracy | F1 | batch-1 p50 (ms) | vs teacher fp32 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        base = r["int8"]["latency_ms_batch1"]["teacher fp32"]["p50"]
        for graph, size in r["int8"]["bytes"].items():
            s, lat = r["int8"]["scores"][graph], r["int8"]["latency_ms_batch1"][graph]["p50"]
            lines.append(f"| {graph} | {size / 1e6:.1f} | {s['accuracy']:.4f} | {s['f1']:.4f} | {lat:.2f} | {base / lat:.2f}x |")
        lines.append("")
    d = results.get("digits")
    if d:
        base = np.asarray(d["rows"][0]["accuracy"])
        lines += [f"**digits**, 10% of the training split; mean ± std over {d['seeds']} seeds (each seed draws another 10% and another initialisation); "
                  f"the difference is paired by seed against from scratch without augmentation", "",
                  "| start | augmentation | test accuracy | difference (points) | training (s) |", "|---|---|---:|---:|---:|"]
        for row in d["rows"]:
            diff = (np.asarray(row["accuracy"]) - base) * 100
            lines.append(f"| {row['start']} | {'yes' if row['augmentation'] else 'no'} | {row['mean']:.4f} ± {row['std']:.4f} | "
                         f"{diff.mean():+.1f} ± {diff.std(ddof=1):.1f} | {row['train_seconds']:.1f} |")
        lines.append(f"\nPretraining on Semeion (8x8): test accuracy {d['semeion_test_accuracy']:.4f}, whole run {d['pretrain_seconds']:.0f} s.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["text", "digits", "table"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        if args.part == "text":
            text(args.datasets, Path(tmp))
        elif args.part == "digits":
            digits(args.seeds, Path(tmp))
    print(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
