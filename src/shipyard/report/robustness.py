"""Report sections of the attack stage and the robust or private training: adversarial robustness, privacy.

They read only the run directory (``attack.json``, ``metrics.json``), so
``shipyard report RUN`` rebuilds them without the model. A run whose attack
stage did not run shows neither (unless it was trained with DP-SGD or
adversarial training, which the sections then describe).
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402

from shipyard.report.sections import Figure, ReportContext, Section, Table, register_section  # noqa: E402

NORMS = {"inf": "L-inf", "2": "L2"}
METHODS = {"fgsm": "FGSM", "pgd": "PGD", "noise": "random noise"}
ATTACK = "attack.json"


def _fmt(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def _curves_figure(result: dict[str, Any]) -> Figure:
    metric, curves = result["primary_metric"], result["curves"]
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    for ax, (norm, methods) in zip(axes[0], curves.items()):
        for method, points in methods.items():
            style = ":" if method == "noise" else "-"
            ax.plot([p["epsilon"] for p in points], [p["scores"][metric] for p in points], style, marker="o", label=METHODS.get(method, method))
        ax.axhline(result["clean"][metric], color="grey", linestyle="--", linewidth=0.8, label="clean")
        ax.set(xlabel=f"epsilon ({NORMS.get(norm, norm)}, standard deviations)", ylabel=metric, title=f"{NORMS.get(norm, norm)} attacks")
        ax.legend()
    return Figure.from_matplotlib(fig, f"Test {metric} against the perturbation budget; the dotted line is random noise of the same size.")


def _curve_table(result: dict[str, Any], norm: str, methods: dict[str, list[dict[str, Any]]]) -> Table:
    metric = result["primary_metric"]
    strongest = "pgd" if "pgd" in methods else next(m for m in methods if m != "noise")
    change_key = "success_rate" if "success_rate" in methods[strongest][0]["scores"] else "error_increase"
    change = {"success_rate": "success rate", "error_increase": "error increase"}[change_key]
    header = ["epsilon"] + [f"{METHODS.get(m, m)} {metric}" for m in methods] + [f"{METHODS[strongest]} {change}", f"{METHODS[strongest]} mean perturbation (L-inf / L2)"]
    rows = []
    for k, point in enumerate(methods[strongest]):
        cells = [f"{point['epsilon']:g}"] + [_fmt(methods[m][k]["scores"][metric]) for m in methods]
        cells += [_fmt(point["scores"][change_key]), f"{point['mean_linf']:.3f} / {point['mean_l2']:.3f}"]
        rows.append(cells)
    return Table(header, rows, f"{NORMS.get(norm, norm)} budgets, in standard deviations of each training feature")


@register_section("robustness", "Adversarial robustness", order=85)
def robustness_section(ctx: ReportContext) -> Section | None:
    """Accuracy (or the task's main metric) against epsilon for FGSM, PGD and random noise; success rates; adversarial training."""
    adversarial = ctx.metrics.get("adversarial_training")
    if ctx.has(ATTACK) and ctx.json(ATTACK).get("kind") in ("text", "image"):
        return None  # curves over typos or pixel budgets: the input modality's own section (shipyard.modalities.report)
    if not ctx.has(ATTACK) and not adversarial:
        return None
    section = Section()
    if adversarial:
        section.paragraphs.append(
            f"Adversarially trained: {adversarial['ratio']:.0%} of every batch replaced by {adversarial['attack'].upper()} examples "
            f"({NORMS.get(adversarial['norm'], adversarial['norm'])}, epsilon {adversarial['epsilon']:g} standard deviations"
            + (f", {adversarial['steps']} steps" if adversarial["attack"] == "pgd" else "")
            + f"), {adversarial['adversarial_rows']} adversarial rows in all."
        )
    if not ctx.has(ATTACK):
        return section
    result = ctx.json(ATTACK)
    space, pgd = result["space"], result["pgd"]
    section.findings += [f for f in result["findings"] if not (result.get("membership") and f == result["membership"]["reading"])]
    section.paragraphs.append(
        f"{result['rows']} test rows attacked with FGSM (Goodfellow et al. 2015) and PGD (Madry et al. 2018; "
        f"{pgd['steps']} steps of {pgd['step_size']:g} epsilon, "
        + (f"{pgd['restarts']} random start(s)" if pgd.get("random_start", True) else "starting at the clean row: ART's random start is for classifiers")
        + "), from IBM's Adversarial Robustness Toolbox, "
        f"beside random noise of exactly the same size. Space: {space['description']}"
        + ("; perturbed values kept inside the training range." if space["clip"] else "; values not clipped to the training range.")
    )
    if space["fixed_columns"]:
        section.paragraphs.append(f"Left unperturbed: {', '.join(space['fixed_columns'])}.")
    section.paragraphs.append(f"Measured: {result['measures']}. Epsilon 0 is the clean test rows (it reproduces the test metrics).")
    section.figures.append(_curves_figure(result))
    for norm, methods in result["curves"].items():
        section.tables.append(_curve_table(result, norm, methods))
    return section


@register_section("privacy", "Privacy", order=87)
def privacy_section(ctx: ReportContext) -> Section | None:
    """Membership inference (ROC-AUC, advantage, a plain reading, the loss histograms) and DP-SGD's spent budget."""
    dp = ctx.metrics.get("dp_sgd")
    result = ctx.json(ATTACK) if ctx.has(ATTACK) else None
    membership = (result or {}).get("membership")
    if not dp and not membership and not (result and result.get("membership_skipped")):
        return None
    section = Section()
    if membership:
        section.findings.append(membership["reading"])
        rows = []
        for key, name in (("loss_threshold", "loss threshold (Yeom et al. 2018)"), ("black_box", "learned black box (ART, random forest)")):
            quality = membership[key]
            low, high = quality["auc_ci"]
            rows.append([name, f"{quality['auc']:.3f} [{low:.3f}, {high:.3f}]", f"{quality['advantage']:.3f}", quality["rows"]])
        section.tables.append(Table(["attack", "ROC-AUC [95% CI]", "advantage (max TPR - FPR)", "rows scored"], rows, "Membership inference: training rows (members) against test rows"))
        section.paragraphs.append(
            f"{membership['members']} training rows against {membership['non_members']} test rows the model never trained on. "
            "ROC-AUC 0.5 means the attacker does no better than a coin flip; the advantage is the largest gap between the rates "
            "at which members and non-members are called members (chosen in hindsight, so an upper estimate)."
        )
        hist = membership["loss_histogram"]
        fig, ax = plt.subplots(figsize=(6, 3.2))
        edges = hist["edges"]
        ax.stairs(hist["members"], edges, label="training rows (members)")
        ax.stairs(hist["non_members"], edges, label="test rows (non-members)")
        ax.set(xlabel="per-row loss", ylabel="rows", title="model loss: members vs non-members")
        ax.legend()
        section.figures.append(Figure.from_matplotlib(fig, "A model that memorises its training rows has lower loss on them; the loss-threshold attack exploits that gap."))
    elif result and result.get("membership_skipped"):
        section.paragraphs.append(f"Membership inference skipped: {result['membership_skipped']}.")
    if dp:
        section.tables.append(
            Table(
                ["DP-SGD", "value"],
                [
                    ["epsilon spent (target)", f"{dp['epsilon']:.3f} ({dp['target_epsilon']:g})"],
                    ["delta", f"{dp['delta']:.2e}"],
                    ["per-row gradient clip (L2)", f"{dp['max_grad_norm']:g}"],
                    ["noise multiplier", f"{dp['noise_multiplier']:.3f}"],
                    ["sample rate (expected batch)", f"{dp['sample_rate']:.4f} ({dp['expected_batch_size']})"],
                    ["steps (epochs run of calibrated)", f"{dp['steps']} ({dp['epochs_run']} of {dp['epochs_calibrated']})"],
                    ["accountant", f"{dp['accountant']} ({dp['library']})"],
                ],
                "Differentially private training (Abadi et al. 2016)",
            )
        )
        section.paragraphs.append(f"The (epsilon, delta) guarantee covers {dp['covers']}.")
    else:
        section.paragraphs.append("Trained without differential privacy (set train.privacy for DP-SGD).")
    return section
