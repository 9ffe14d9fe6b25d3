"""Adversarial training: clean and robust test accuracy of standard vs adversarial training, side by side.

Usage: ``.venv/bin/python benchmarks/adversarial_training.py [--seeds 3]``.

For breast_cancer and scikit-learn's digits (8x8 images, 10 classes, as 64
numeric columns), at two L-inf budgets (0.1 and 0.25 standard deviations per
feature), it trains the same recipe three ways in one process: standard
training, and ``train.adversarial`` with PGD (7 steps, random start) at that
budget replacing half of every batch (``ratio: 0.5``, Goodfellow et al.'s
mix) and the whole batch (``ratio: 1``, Madry et al.'s min-max training).
Each network is evaluated on its test split, clean and under the attack
stage's PGD (20 steps, random start, clipped to the training range) at the
same budget. Rows are means over seeds (split, initialisation and sampling
all follow the seed); the ratios compare each adversarial training with the
standard one of the same seed. Torch uses 1 thread (as ``train.num_threads``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from rich.console import Console
from rich.table import Table

DATASETS = {
    "breast_cancer": {
        "data": {"source": "sklearn:breast_cancer", "target": "target", "positive_class": "malignant"},
        "model": {"hidden_sizes": [16], "dropout": 0.2},
        "train": {"epochs": 200, "early_stopping": {"patience": 15}},
    },
    "digits": {
        "data": {"source": "sklearn:digits", "target": "target"},
        "model": {"hidden_sizes": [64], "dropout": 0.1},
        "train": {"epochs": 100, "early_stopping": {"patience": 10}},
    },
}
EPSILONS = (0.1, 0.25)
RATIOS = (0.5, 1.0)


def measure(name: str, spec: dict, seed: int, adversarial: dict | None, epsilons: tuple[float, ...]) -> dict:
    """Train once; clean accuracy and PGD accuracy at each budget, and training seconds."""
    from shipyard.recipe import AttackSpec, recipe_from_dict
    from shipyard.robustness.evasion import evasion_curves
    from shipyard.robustness.space import attack_space
    from shipyard.tasks import get_task
    from shipyard.training.device import torch_threads
    from shipyard.training.fit import prepare_and_train

    train = dict(spec["train"], **({"adversarial": adversarial} if adversarial else {}))
    recipe = recipe_from_dict({"name": name, "seed": seed, "data": spec["data"], "model": spec["model"], "train": train})
    prepared, network, result = prepare_and_train(recipe)
    seconds = result.seconds
    task = get_task(recipe.task)
    attack = AttackSpec(methods=["pgd"], norms=["inf"], epsilons=[0.0, *epsilons])
    with torch_threads(1):
        curves = evasion_curves(network, task, attack_space(prepared), prepared.X["test"], prepared.y[prepared.split.test], attack, task.n_outputs(prepared), seed)
    points = curves["curves"]["inf"]["pgd"]
    return {"clean": points[0]["scores"]["accuracy"], **{eps: p["scores"]["accuracy"] for eps, p in zip(epsilons, points[1:])}, "seconds": seconds, "epochs": len(result.history)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=160)
    table = Table(title=f"standard vs adversarial training (L-inf PGD, epsilon in training standard deviations; mean of {args.seeds} seeds)")
    for col in ("data", "epsilon", "training", "clean acc", "PGD acc", "clean ratio", "PGD ratio", "train s", "time ratio", "epochs"):
        table.add_column(col, justify="right")
    for name, spec in DATASETS.items():
        standard = [measure(name, spec, seed, None, EPSILONS) for seed in range(args.seeds)]
        for eps in EPSILONS:
            base_clean, base_pgd = np.mean([r["clean"] for r in standard]), np.mean([r[eps] for r in standard])
            base_s = np.mean([r["seconds"] for r in standard])
            table.add_row(name, f"{eps:g}", "standard", f"{base_clean:.3f}", f"{base_pgd:.3f}", "1.00", "1.00", f"{base_s:.1f}", "1.0", f"{np.mean([r['epochs'] for r in standard]):.0f}")
            for ratio in RATIOS:
                adv = {"attack": "pgd", "epsilon": eps, "ratio": ratio, "steps": 7}
                runs = [measure(name, spec, seed, adv, (eps,)) for seed in range(args.seeds)]
                clean, pgd = np.mean([r["clean"] for r in runs]), np.mean([r[eps] for r in runs])
                clean_ratio = np.mean([r["clean"] / s["clean"] for r, s in zip(runs, standard)])
                pgd_ratio = np.mean([r[eps] / max(s[eps], 1e-9) for r, s in zip(runs, standard)])
                secs = np.mean([r["seconds"] for r in runs])
                time_ratio = np.mean([r["seconds"] / s["seconds"] for r, s in zip(runs, standard)])
                table.add_row(
                    name, f"{eps:g}", f"PGD, ratio {ratio:g}", f"{clean:.3f}", f"{pgd:.3f}", f"{clean_ratio:.2f}", f"{pgd_ratio:.2f}", f"{secs:.1f}", f"{time_ratio:.1f}",
                    f"{np.mean([r['epochs'] for r in runs]):.0f}",
                )
            console.log(f"{name}, epsilon {eps:g}: done")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
