"""DP-SGD against standard training: membership-inference AUC, test accuracy and the epsilon spent, side by side.

Usage: ``.venv/bin/python benchmarks/dp.py [--seeds 3]``.

For breast_cancer and scikit-learn's digits, as they are and with 20% of
the labels replaced by another class (seeded, before the split: a
memorisation regime, where a network can only fit those rows by remembering
them), one network that can memorise (two hidden layers of 256, no dropout,
no weight decay, no early stopping, every epoch run) is trained without
privacy and with ``train.privacy`` at epsilon 1, 3 and 8 (delta =
min(1e-5, 1/(10 n)), per-row clip 1.0, Opacus's PRV accountant), all other
settings equal, in one process. Each network is attacked by the attack
stage's two membership-inference attacks (loss threshold, Yeom et al. 2018;
ART's black box, cross-fitted) on all its training rows against as many test
rows; on clean data the example recipe's regularised network (early
stopping, dropout) is the first row for reference. Test accuracy is against
the data's own (for the noisy variants: noisy) labels. Rows are means over
seeds; the ratios compare with the non-private memorising network of the same
seed (``AUC-0.5 ratio``: the attack's margin over a coin flip). Torch uses 1
thread (``train.num_threads``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import numpy as np
from rich.console import Console
from rich.table import Table

DATA = {
    "breast_cancer": ({"source": "sklearn:breast_cancer", "target": "target", "positive_class": "malignant"}, 100),
    "digits": ({"source": "sklearn:digits", "target": "target"}, 40),
}
NOISE = 0.2
"""Share of labels replaced by another class in the memorisation-regime variants."""


def noisy_copy(name: str, folder: str) -> dict:
    """The data set with NOISE of its labels replaced by another class (seeded), written as a CSV: its ``data`` section."""
    import pandas as pd
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    rng = np.random.default_rng(0)
    k = int(frame["target"].nunique())
    flip = rng.random(len(frame)) < NOISE
    frame.loc[flip, "target"] = (frame.loc[flip, "target"] + rng.integers(1, k, int(flip.sum()))) % k
    path = f"{folder}/{name}_noisy.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    return {"source": path, "target": "target"}
MEMORISING = {"hidden_sizes": [256, 256], "dropout": 0.0}
REGULARISED = {"hidden_sizes": [16], "dropout": 0.2}
EPSILONS = (1.0, 3.0, 8.0)


def measure(data: dict, model: dict, train: dict, seed: int) -> dict:
    """Train once; test accuracy, both membership attacks' AUC and advantage, spent epsilon, seconds."""
    from shipyard.recipe import recipe_from_dict
    from shipyard.training.device import torch_threads
    from shipyard.robustness.membership import membership_inference
    from shipyard.tasks import get_task
    from shipyard.training.fit import prepare_and_train

    recipe = recipe_from_dict({"name": "dp", "seed": seed, "data": data, "model": model, "train": train})
    prepared, network, result = prepare_and_train(recipe)
    seconds = result.seconds
    task = get_task(recipe.task)
    y_test = prepared.y[prepared.split.test]
    accuracy = task.scores(y_test, task.predict(network, prepared.X["test"]), prepared.positive_index)["accuracy"]
    with torch_threads(1):
        found = membership_inference(
            network, task, prepared.X["train"], prepared.y[prepared.split.train], prepared.X["test"], y_test, task.n_outputs(prepared), 10_000, seed
        )
    dp = result.reports.get("dp_sgd")
    return {
        "accuracy": accuracy,
        "loss_auc": found["loss_threshold"]["auc"],
        "box_auc": found["black_box"]["auc"],
        "advantage": max(found["loss_threshold"]["advantage"], found["black_box"]["advantage"]),
        "epsilon": dp["epsilon"] if dp else float("inf"),
        "seconds": seconds,
        "rows": found["members"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=170)
    table = Table(title=f"membership inference with and without DP-SGD (mean of {args.seeds} seeds; members = every training row vs as many test rows)")
    for col in ("data", "training", "epsilon spent", "test acc", "MIA AUC loss threshold", "MIA AUC black box", "advantage", "acc ratio", "AUC-0.5 ratio", "train s"):
        table.add_column(col, justify="right")
    folder = tempfile.mkdtemp(prefix="shipyard-dp-")
    variants = []
    for name, (data, epochs) in DATA.items():
        variants += [(name, data, epochs, True), (f"{name}, {NOISE:.0%} label noise", noisy_copy(name, folder), 100, False)]
    for name, data, epochs, reference_row in variants:
        memorising_train = {"epochs": epochs, "learning_rate": 0.003, "weight_decay": 0.0, "early_stopping": {"enabled": False}}
        rows = [("regularised (example recipe, early stopping)", REGULARISED, {"epochs": 200, "early_stopping": {"patience": 15}})] if reference_row else []
        rows.append(("memorising, no DP", MEMORISING, memorising_train))
        rows += [(f"memorising, DP-SGD epsilon {eps:g}", MEMORISING, {**memorising_train, "privacy": {"epsilon": eps, "max_grad_norm": 1.0}}) for eps in EPSILONS]
        reference = None
        for label, model, train in rows:
            runs = [measure(data, model, train, seed) for seed in range(args.seeds)]
            if label == "memorising, no DP":
                reference = runs
            mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
            acc_ratio = auc_ratio = "-"
            if reference is not None:
                acc_ratio = f"{np.mean([r['accuracy'] / b['accuracy'] for r, b in zip(runs, reference)]):.2f}"
                gaps = [(max(r["loss_auc"], r["box_auc"]) - 0.5) / max(max(b["loss_auc"], b["box_auc"]) - 0.5, 1e-9) for r, b in zip(runs, reference)]
                auc_ratio = f"{np.mean(gaps):.2f}"
            table.add_row(
                name, label, "inf (no DP)" if mean["epsilon"] == float("inf") else f"{mean['epsilon']:.2f}", f"{mean['accuracy']:.3f}",
                f"{mean['loss_auc']:.3f}", f"{mean['box_auc']:.3f}", f"{mean['advantage']:.3f}", acc_ratio, auc_ratio, f"{mean['seconds']:.1f}",
            )
            console.log(f"{name}: {label} done")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
