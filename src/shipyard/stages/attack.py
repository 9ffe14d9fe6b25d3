"""Attack stage: can the network be fooled, does it leak its training data? Writes ``attack.json``.

A text or image network is attacked by its input modality instead
(:meth:`shipyard.modalities.base.Modality.attack`): accuracy under character
typos and word deletion, or under FGSM and PGD in pixel space.

Evasion: FGSM and PGD (IBM's ART) under L-inf and L2 at each budget of
``attack.epsilons`` / ``attack.l2_epsilons``, beside random noise of the same
size, on the test rows (:mod:`shipyard.robustness.evasion`). Privacy: the
loss-threshold and learned black-box membership-inference attacks
(:mod:`shipyard.robustness.membership`). Runs inside the pipeline on the
in-memory network, or alone on a finished run (``shipyard attack RUN``: the
network from its checkpoint, the data rebuilt from its saved preparation,
nothing refitted). Regression runs are attacked too: the attacks maximise the
squared error and the curves show RMSE and its increase.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

import numpy as np

from shipyard.recipe import Recipe
from shipyard.stages.base import RunContext, Stage, register_stage

ATTACK = "attack.json"
MATERIAL = 0.10
"""A change of the main metric by this fraction of its clean value is the one the findings name the budget for."""


def attack_run(ctx: RunContext, rows: int | None = None) -> dict[str, Any]:
    """Attack the run's network on its test rows, test membership inference, and write ``attack.json``.

    Parameters
    ----------
    ctx : RunContext
        With ``network`` (the finished network) and ``data`` (preprocessing fitted).
    rows : int, optional
        Attack at most this many test rows (default ``attack.rows``).

    Returns
    -------
    dict
        What ``attack.json`` holds: ``space``, ``measures``, ``clean``, ``curves``,
        ``membership``, ``findings``, ``seconds``, ``library``.
    """
    from shipyard.modalities import modality_of
    from shipyard.robustness.evasion import evasion_curves
    from shipyard.robustness.membership import membership_inference
    from shipyard.robustness.space import attack_space
    from shipyard.training.device import torch_threads

    recipe, data, task = ctx.recipe, ctx.data, ctx.task
    spec = recipe.attack
    modality = modality_of(recipe)
    if modality is not None:  # text: typos and word deletion; images: FGSM and PGD in pixel space
        if rows is not None:
            spec.rows = rows
        result = modality.attack(ctx)
        ctx.run_dir.write_json(ATTACK, result)
        return result
    n_outputs = task.n_outputs(data)
    space = attack_space(data)
    X_test, y_test = data.X["test"], data.y[data.split.test]
    limit = spec.rows if rows is None else rows
    chosen = np.arange(len(X_test))
    if len(chosen) > limit:
        chosen = np.sort(np.random.default_rng(recipe.seed).choice(len(X_test), limit, replace=False))
    threshold = (ctx.metrics.get("decision") or {}).get("threshold")
    network = ctx.network.eval()
    tic = time.perf_counter()
    with torch_threads(recipe.train.num_threads):
        evasion = evasion_curves(network, task, space, X_test[chosen], y_test[chosen], spec, n_outputs, recipe.seed, data.positive_index, threshold)
        seconds = {"evasion": time.perf_counter() - tic, **evasion["seconds"]}
        membership: dict[str, Any] | None = None
        n_train = len(data.split.train)
        if spec.membership.enabled and min(n_train, len(X_test)) >= 4:
            tic = time.perf_counter()
            membership = membership_inference(
                network, task, data.X["train"], data.y[data.split.train], X_test, y_test, n_outputs, spec.membership.rows, recipe.seed
            )
            seconds["membership"] = time.perf_counter() - tic
    result: dict[str, Any] = {
        "space": {
            "description": space.description,
            "features": int(len(space.scale)),
            "perturbed_features": int(space.mask.sum()),
            "perturbed_columns": space.perturbed_columns,
            "fixed_columns": space.fixed_columns,
            "units": "standard deviations of each feature over the training rows",
            "clip": spec.clip,
        },
        "task": task.name,
        "measures": task.attack_measure,
        "primary_metric": task.primary_metric,
        "rows": int(len(chosen)),
        "methods": list(spec.methods),
        "pgd": {"steps": spec.pgd_steps, "step_size": spec.pgd_step_size, "restarts": spec.pgd_restarts, "random_start": evasion["random_start"]},
        "clean": evasion["clean"],
        "curves": evasion["curves"],
        "membership": membership,
        "seconds": seconds,
        "library": {"adversarial-robustness-toolbox": metadata.version("adversarial-robustness-toolbox")},
    }
    if membership is None and spec.membership.enabled:
        result["membership_skipped"] = f"too few rows ({n_train} training, {len(X_test)} test; 4 of each needed)"
    result["findings"] = findings(result)
    ctx.run_dir.write_json(ATTACK, result)
    ctx.metrics["attack"] = summary(result)
    ctx.write_metrics()
    ctx.tracker.log_metrics(tracked_metrics(result), "attack")
    return result


def _strongest(curves: dict[str, Any], norm: str) -> str:
    return "pgd" if "pgd" in curves[norm] else next(m for m in curves[norm] if m != "noise")


def _anchor(points: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The smallest budget at which the metric moved by at least MATERIAL of its clean value."""
    clean = points[0]["scores"][metric] if points[0]["epsilon"] == 0 else None
    for point in points:
        value = point["scores"][metric]
        if clean is not None and point["epsilon"] > 0 and abs(value - clean) >= MATERIAL * max(abs(clean), 1e-12):
            return point
    return None


def findings(result: dict[str, Any]) -> list[str]:
    """Plain-language findings: the budget that moves the main metric, noise against attack, membership leakage."""
    out: list[str] = []
    metric, clean = result["primary_metric"], result["clean"][result["primary_metric"]]
    names = {"inf": "L-inf", "2": "L2"}
    for norm, curves in result["curves"].items():
        method = _strongest(result["curves"], norm)
        points = curves[method]
        anchor = _anchor(points, metric)
        label = f"{method.upper()} ({names[norm]})"
        if anchor is None:
            top = points[-1]
            out.append(
                f"{label}: up to epsilon {top['epsilon']:g} standard deviations, {metric} stays within {MATERIAL:.0%} of its clean value "
                f"({top['scores'][metric]:.3f} against {clean:.3f})."
            )
            continue
        eps = anchor["epsilon"]
        noise = next((p for p in curves.get("noise", []) if p["epsilon"] == eps), None)
        text = f"{label}: a perturbation of epsilon {eps:g} standard deviations moves {metric} from {clean:.3f} to {anchor['scores'][metric]:.3f}"
        rate = anchor["scores"].get("success_rate")
        if rate is not None and rate == rate:
            text += f" (it flips {rate:.0%} of the correctly classified rows)"
        if noise is not None:
            text += f"; random noise of the same size gives {noise['scores'][metric]:.3f}"
        out.append(text + ".")
    membership = result.get("membership")
    if membership:
        out.append(membership["reading"])
    return out


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The attack stage's entry in ``metrics.json``: findings and the headline numbers."""
    out: dict[str, Any] = {"findings": result["findings"]}
    membership = result.get("membership")
    if membership:
        best = membership[membership["strongest"]]
        out["membership_auc"], out["membership_advantage"], out["membership_level"] = best["auc"], best["advantage"], membership["level"]
    return out


def tracked_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Numbers logged to MLflow: the main metric under each attack at each budget, and the membership AUCs."""
    metric = result["primary_metric"]
    out = {}
    for norm, curves in result["curves"].items():
        for method, points in curves.items():
            for point in points:
                out[f"{method}_{norm}_eps{point['epsilon']:g}_{metric}"] = point["scores"][metric]
    membership = result.get("membership")
    if membership:
        for name in ("loss_threshold", "black_box"):
            out[f"membership_{name}_auc"] = membership[name]["auc"]
            out[f"membership_{name}_advantage"] = membership[name]["advantage"]
    return out


@register_stage
class AttackStage(Stage):
    """FGSM and PGD curves, random noise, and membership inference on the finished network (``attack.enabled``)."""

    name = "attack"
    section = "attack"
    order = 75
    writes = (ATTACK,)
    rerunnable = True
    message = "attacking the network (FGSM, PGD, random noise) and testing membership inference"

    def enabled(self, recipe: Recipe) -> bool:
        return recipe.attack.enabled

    def describe(self, recipe: Recipe) -> str:
        from shipyard.modalities import input_of

        kind = input_of(recipe)
        if kind == "text":
            return "measuring accuracy under typos and word deletion"
        if kind == "image":
            return "attacking the network in pixel space (FGSM, PGD)"
        return self.message

    def run(self, ctx: RunContext) -> None:
        attack_run(ctx)
