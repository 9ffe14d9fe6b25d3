"""The built-in report sections: data, training, metrics, leaderboard, curves, calibration, explanations.

Each reads only the run directory (``metrics.json``, ``history.json``,
``data_summary.json``, ``predictions.csv``, ``explain.json``), so
``shipyard report RUN`` can rebuild the page without the model.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shipyard.evaluation.bootstrap import format_ci  # noqa: E402
from shipyard.evaluation.curves import (  # noqa: E402
    normalized_confusion,
    roc_pr_curves,
    threshold_curve,
)
from shipyard.evaluation.leaderboard import NETWORK, TITLES  # noqa: E402
from shipyard.report.findings import test_rows_sentence  # noqa: E402
from shipyard.report.sections import (  # noqa: E402
    Figure,
    ReportContext,
    Section,
    Table,
    register_section,
)


def _class_proba(ctx: ReportContext, model: str = NETWORK) -> tuple[np.ndarray, np.ndarray, list[str]]:
    labels = ctx.metrics["labels"]
    frame = ctx.predictions
    proba = frame[[f"{model}:{label}" for label in labels]].to_numpy(dtype=np.float64)
    return frame["y_true"].to_numpy(), proba, labels


def _positive_index(ctx: ReportContext) -> int | None:
    pos = ctx.metrics.get("positive_label")
    return None if pos is None else ctx.metrics["labels"].index(pos)


def _inputs_sentence(summary: dict[str, Any]) -> str:
    """What the network's input is: preprocessed features, token ids or pixels."""
    width = summary.get("n_features_after_preprocessing")
    kind = summary.get("input", "tabular")
    if kind == "text":
        return f"Texts are tokenized with the encoder's own tokenizer; the longest training text takes {width} tokens (model.max_length caps it)."
    if kind == "image":
        return f"Images are scaled to [0, 1]; the network takes {width} pixel values per image and standardises them itself."
    return f"Preprocessing is fitted on the training rows only and yields {width} features."


def _unused_sentence(summary: dict) -> str:
    """With ``data.split.train_fraction`` below 1: how many training rows the network was not fitted on."""
    fraction = (summary.get("preprocessing") or {}).get("train_fraction")
    split = summary.get("split", {})
    unused = int(summary.get("rows") or 0) - sum(int(split.get(part) or 0) for part in ("train", "validation", "test"))
    if not fraction or fraction >= 1 or unused <= 0:
        return ""
    return (
        f"data.split.train_fraction {fraction:g}: the network is fitted on {split.get('train')} of the {split.get('train') + unused} "
        f"rows of the training split; the other {unused} are not used (validation and test stay whole). "
    )


@register_section("data", "Data", order=10)
def data_section(ctx: ReportContext) -> Section | None:
    """Rows, split sizes, columns (kind, missing values) and the target's distribution."""
    if not ctx.has("data_summary.json"):
        return None
    summary = ctx.json("data_summary.json")
    split = summary.get("split", {})
    section = Section(
        paragraphs=[
            f"Source {summary.get('source')}: {summary.get('rows')} rows, {len(summary.get('columns', []))} input columns, "
            f"target '{summary.get('target')}'. Split: {split.get('train')} train, {split.get('validation')} validation, "
            f"{split.get('test')} test rows. " + _unused_sentence(summary) + _inputs_sentence(summary)
        ]
    )
    section.tables.append(
        Table(
            ["column", "kind", "missing", "categories"],
            [[c["name"], c["kind"], c.get("missing", 0), len(c.get("categories", [])) or ""] for c in summary.get("columns", [])],
            "Input columns",
        )
    )
    counts = summary.get("class_counts")
    fig, ax = plt.subplots(figsize=(6, 3))
    if counts:
        ax.bar(list(counts), list(counts.values()), color="#4c72b0")
        ax.set_ylabel("rows")
        ax.set_title("class counts (all rows)")
        caption = "Rows per class: " + ", ".join(f"{k}: {v}" for k, v in counts.items())
    else:
        stats = summary.get("target_stats", {})
        ax.bar(["min", "mean", "max"], [stats.get("min", 0), stats.get("mean", 0), stats.get("max", 0)], color="#4c72b0")
        ax.set_title("target")
        caption = "Target: " + ", ".join(f"{k} {v:.3g}" for k, v in stats.items())
    section.figures.append(Figure.from_matplotlib(fig, caption))
    return section


@register_section("training", "Training curves and overfitting", order=20)
def training_section(ctx: ReportContext) -> Section | None:
    """Per-epoch train vs validation loss and metric, the kept epoch, and the overfitting finding."""
    if not ctx.has("history.json"):
        return None
    history = ctx.json("history.json")
    diagnosis = ctx.metrics.get("diagnosis", {})
    best = diagnosis.get("best_epoch")
    epochs = [e["epoch"] for e in history]
    metric = diagnosis.get("metric") or next((k[4:] for k in history[0] if k.startswith("val_") and k != "val_loss"), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10, 3.5), squeeze=False)
    panels = [("loss", "train_loss", "val_loss")] + ([(metric, f"train_{metric}", f"val_{metric}")] if metric else [])
    for ax, (name, train_key, val_key) in zip(axes[0], panels):
        ax.plot(epochs, [e[train_key] for e in history], label="train")
        ax.plot(epochs, [e[val_key] for e in history], label="validation")
        if best:
            ax.axvline(best, color="grey", linestyle="--", label=f"kept epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend()
    section = Section(findings=list(diagnosis.get("findings", [])))
    if "loss_gap" in diagnosis:
        rows = [["loss", f"{diagnosis['train_loss']:.4f}", f"{diagnosis['val_loss']:.4f}", f"{diagnosis['loss_gap']:+.4f}"]]
        if "metric_gap" in diagnosis:
            rows.append([metric, f"{diagnosis['train_metric']:.4f}", f"{diagnosis['val_metric']:.4f}", f"{diagnosis['metric_gap']:+.4f}"])
        section.tables.append(Table(["at the kept epoch", "train", "validation", "gap"], rows, f"Generalization gap at epoch {best} of {diagnosis.get('epochs_run')}"))
    section.figures.append(Figure.from_matplotlib(fig, "Training and validation curves; the dashed line marks the epoch whose weights were kept."))
    curve = ctx.metrics.get("learning_curve")
    if curve:
        pts = curve["points"]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([p["train_rows"] for p in pts], [p["train"] for p in pts], "o-", label="train")
        ax.plot([p["train_rows"] for p in pts], [p["validation"] for p in pts], "o-", label="validation")
        ax.set(xlabel="training rows", ylabel=curve["metric"], title="learning curve")
        ax.legend()
        section.figures.append(Figure.from_matplotlib(fig, "The network retrained from scratch on growing subsets of the training rows."))
        section.tables.append(Table(["training rows", f"train {curve['metric']}", f"validation {curve['metric']}"], [[p["train_rows"], f"{p['train']:.4f}", f"{p['validation']:.4f}"] for p in pts], "Learning curve"))
    return section


@register_section("metrics", "Test metrics with confidence intervals", order=30)
def metrics_section(ctx: ReportContext) -> Section | None:
    """The network's test metrics as ``value [low, high]``."""
    metrics = ctx.metrics
    if "test" not in metrics:
        return None
    ci = metrics.get("test_ci", {})
    boot = metrics.get("bootstrap", {})
    rows = [[name, format_ci(ci.get(name) or {"value": value}, 4)] for name, value in metrics["test"].items()]
    text = test_rows_sentence(ctx)
    if boot.get("samples"):
        text += f" Intervals: {boot['confidence']:.0%} percentile bootstrap over {boot['samples']} resamples of the test rows (seed {boot['seed']})."
    return Section(paragraphs=[text], tables=[Table(["metric", "network"], rows)])


@register_section("leaderboard", "Baselines leaderboard", order=40)
def leaderboard_section(ctx: ReportContext) -> Section | None:
    """Every model on the same split and metrics, with CIs, and whether a baseline matches the network."""
    board = ctx.metrics.get("baselines")
    if not board:
        return None
    primary = board["primary"]
    names = board["ranking"]
    metric_names = list(board["models"][NETWORK])
    rows = [[TITLES.get(n, n)] + [format_ci(board["models"][n].get(m)) for m in metric_names] for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(names) + 1))
    values = [board["models"][n][primary]["value"] for n in names]
    low = [board["models"][n][primary]["value"] - (board["models"][n][primary]["low"] or board["models"][n][primary]["value"]) for n in names]
    high = [(board["models"][n][primary]["high"] or board["models"][n][primary]["value"]) - board["models"][n][primary]["value"] for n in names]
    colors = ["#dd8452" if n == NETWORK else "#4c72b0" for n in names]
    ax.barh([TITLES.get(n, n) for n in names], values, xerr=[low, high], color=colors, capsize=4)
    ax.invert_yaxis()
    ax.set_xlabel(f"{primary} (test, with CI)")
    return Section(
        findings=list(board.get("findings", [])),
        tables=[Table(["model"] + metric_names, rows, f"Ranked by {primary}; all models fitted on the same training rows.")],
        figures=[Figure.from_matplotlib(fig, f"Test {primary} of each model with its bootstrap interval; the network in orange.")],
    )


@register_section("confusion", "Confusion matrix", order=50)
def confusion_section(ctx: ReportContext) -> Section | None:
    """The normalized confusion matrix (rows sum to 1) with counts."""
    if not ctx.task.has_classes or ctx.predictions is None:
        return None
    y, proba, labels = _class_proba(ctx)
    cm = np.array(normalized_confusion(y, proba, _positive_index(ctx), (ctx.metrics.get("decision") or {}).get("threshold")))
    counts = np.array(ctx.metrics.get("confusion_matrix", np.zeros_like(cm)))
    size = 1.0 + 0.7 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{cm[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center", color="white" if cm[i, j] > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.046)
    table = Table(["true \\ predicted"] + labels, [[labels[i]] + [f"{cm[i, j]:.3f}" for j in range(len(labels))] for i in range(len(labels))])
    return Section(tables=[table], figures=[Figure.from_matplotlib(fig, "Normalized over true classes (each row sums to 1); counts in brackets.")])


@register_section("curves", "ROC and precision-recall curves", order=55)
def curves_section(ctx: ReportContext) -> Section | None:
    """ROC and PR curves per class (the positive class for binary tasks) and metrics against the threshold."""
    if not ctx.task.has_classes or ctx.predictions is None:
        return None
    y, proba, labels = _class_proba(ctx)
    pos = _positive_index(ctx)
    curves = roc_pr_curves(y, proba, labels, pos)
    if not curves:
        return None
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for c in curves:
        roc_ax.plot(c["fpr"], c["tpr"], label=f"{c['label']} (AUC {c['roc_auc']:.3f})")
        pr_ax.step(c["recall"], c["precision"], where="post", label=f"{c['label']} (AP {c['average_precision']:.3f})")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    roc_ax.legend(fontsize=8)
    pr_ax.legend(fontsize=8)
    section = Section(
        tables=[Table(["class", "ROC-AUC", "average precision", "prevalence"], [[c["label"], f"{c['roc_auc']:.4f}", f"{c['average_precision']:.4f}", f"{c['prevalence']:.3f}"] for c in curves])],
        figures=[Figure.from_matplotlib(fig, "One-vs-rest curves on the test rows." if len(curves) > 1 else f"Curves for the positive class '{curves[0]['label']}'.")],
    )
    if proba.shape[1] == 2:
        th = threshold_curve(y, proba, 1 if pos is None else pos)
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for key in ("precision", "recall", "f1", "accuracy"):
            ax.plot(th["threshold"], th[key], label=key)
        used = (ctx.metrics.get("decision") or {}).get("threshold")
        ax.axvline(0.5 if used is None else used, color="grey", linestyle="--")
        ax.set(xlabel=f"threshold on p({labels[1 if pos is None else pos]})", ylabel="metric", ylim=(0, 1.02))
        ax.legend()
        rule = "arg-max, i.e. 0.5" if used is None else f"the tuned {used:.4f}"
        section.figures.append(Figure.from_matplotlib(fig, f"Test metrics against the decision threshold (dashed: the threshold the bundle and every reported metric use, {rule})."))
    return section


@register_section("calibration", "Calibration", order=60)
def calibration_section(ctx: ReportContext) -> Section | None:
    """Reliability diagram, ECE with its bin count, Brier score, and the temperature when fitted."""
    cal = ctx.metrics.get("calibration")
    if not cal:
        return None
    rel = cal["reliability"]
    edges = np.asarray(rel["edges"])
    centers = (edges[:-1] + edges[1:]) / 2
    acc = np.asarray(rel["accuracy"], dtype=float)
    conf = np.asarray(rel["confidence"], dtype=float)
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5.5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.bar(centers, np.nan_to_num(acc), width=edges[1] - edges[0], edgecolor="black", color="#4c72b0", label="accuracy")
    ax.plot(conf, acc, "o", color="#dd8452", label="mean confidence")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.set(ylabel="fraction correct", title=f"reliability (ECE {cal['ece']:.3f}, {cal['bins']} bins)")
    ax.legend(fontsize=8)
    hist.bar(centers, rel["count"], width=edges[1] - edges[0], color="grey")
    hist.set(xlabel="top-label confidence", ylabel="rows")
    rows = [["ECE", f"{cal['ece']:.4f}", f"{cal['bins']} equal-width bins of top-label confidence (Guo et al. 2017)"], ["Brier score", f"{cal['brier']:.4f}", "mean squared error of the probabilities"]]
    paragraphs = []
    temp = cal.get("temperature_scaling")
    if temp:
        rows.append(["temperature", f"{temp['temperature']:.4f}", "fitted on the validation split; exported in the bundle"])
        paragraphs.append(
            f"Temperature scaling (T = {temp['temperature']:.3f}) changed the validation NLL from {temp['validation_nll_before']:.4f} to "
            f"{temp['validation_nll_after']:.4f} and the validation ECE from {temp['validation_ece_before']:.4f} to {temp['validation_ece_after']:.4f}; "
            "the test numbers here are of the calibrated network the bundle serves."
        )
        if temp.get("warning"):
            paragraphs.append(f"Warning: {temp['warning']}.")
    else:
        paragraphs.append("No temperature scaling (evaluate.calibration.temperature_scaling: false); the bundle serves the network's own probabilities.")
    return Section(paragraphs=paragraphs, tables=[Table(["measure", "value", "meaning"], rows)], figures=[Figure.from_matplotlib(fig, "Reliability diagram of the test rows and how many rows fall in each bin.")])


def _shap_bar(names: list[str], values: list[float], title: str, xlabel: str, err: list[float] | None = None) -> Any:
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, values, xerr=err, color="#4c72b0", capsize=3)
    ax.invert_yaxis()
    ax.set(title=title, xlabel=xlabel)
    return fig


def waterfall_figure(local: dict[str, Any], columns: list[str]) -> Any:
    """SHAP's waterfall plot of one explained row, its bars labelled ``value = column`` as SHAP labels them.

    Numeric values are given as numbers, categories as their text and
    missing values as "missing", so a categorical row reads ``Torgersen =
    island``, never ``nan = island = Torgersen``.

    Parameters
    ----------
    local : dict
        ``explain.json``'s ``local``: ``values`` (n_columns,), ``expected_value``, ``data`` (n_columns,).
    columns : list of str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import shap

    data = np.array([_shown(v) for v in local["data"]], dtype=object)
    one = shap.Explanation(
        values=np.asarray(local["values"], dtype=float), base_values=float(local["expected_value"]), data=data, feature_names=list(columns)
    )
    plt.figure()
    shap.plots.waterfall(one, max_display=12, show=False)
    return plt.gcf()


def _shown(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return "missing"
    return value if isinstance(value, (int, float)) else str(value)


def _which(local: dict[str, Any]) -> str:
    return "the given record" if local["row"] == "record" else f"test row {local['row']}"


@register_section("explanations", "Explanations", order=80)
def explanations_section(ctx: ReportContext) -> Section | None:
    """Global SHAP ranking and beeswarm, a local waterfall, permutation importance and the surrogate tree."""
    if not ctx.has("explain.json"):
        return None
    import shap

    ex = ctx.json("explain.json")
    section = Section(findings=list(ex.get("findings", [])))
    top = 15
    sh = ex.get("shap")
    if sh:
        ranking = sh["ranking"][:top]
        section.paragraphs.append(
            f"SHAP values ({sh['explainer']}) of {sh['n_rows']} test rows, in units of {sh['output']}, summed back to the "
            f"{len(sh['columns'])} input columns (one-hot groups included). Additivity: the largest |sum of SHAP values - "
            f"(output - expected value)| over the explained rows is {sh['additivity_max_error']:.2e}."
        )
        fallback = sh.get("fallback")
        if fallback:
            section.paragraphs.append(f"Why not {fallback['from']}: {fallback['reason']}.")
        section.figures.append(Figure.from_matplotlib(_shap_bar(ranking, [sh["mean_abs"][c] for c in ranking], "global importance", "mean |SHAP value|"), "Mean absolute SHAP value per input column."))
        explanation = shap.Explanation(
            values=np.asarray(sh["values"], dtype=float),
            base_values=np.full(len(sh["values"]), sh["expected_value"]),
            data=np.asarray(sh["data"], dtype=float),
            feature_names=sh["columns"],
        )
        plt.figure()
        shap.plots.beeswarm(explanation, max_display=top, show=False)
        section.figures.append(Figure.from_matplotlib(plt.gcf(), "Beeswarm: each dot is a test row; colour is the column's value (categories as codes)."))
        local = ex.get("local")
        if local:
            section.figures.append(Figure.from_matplotlib(waterfall_figure(local, sh["columns"]), f"Local explanation of {_which(local)} (true: {local.get('true', 'unknown')}, predicted: {local.get('predicted')})."))
            order = np.argsort(-np.abs(local["values"]))[:top]
            section.tables.append(
                Table(["column", "value", "SHAP value"], [[sh["columns"][i], local["data"][i], f"{local['values'][i]:+.4f}"] for i in order], f"{_which(local).capitalize()}: output {local['output']:.4f} = expected {local['expected_value']:.4f} + sum of SHAP values")
            )
    perm = ex.get("permutation")
    if perm:
        ranking = perm["ranking"][:top]
        section.figures.append(
            Figure.from_matplotlib(
                _shap_bar(ranking, [perm["mean"][c] for c in ranking], "permutation importance", f"increase in {perm['metric']}", [perm["std"][c] for c in ranking]),
                f"Increase in test {perm['metric']} when a column is shuffled ({perm['repeats']} repeats; bars: standard deviation).",
            )
        )
    sur = ex.get("surrogate")
    if sur:
        section.paragraphs.append(
            f"Global surrogate: a decision tree of depth {sur['depth']} fitted to the network's predictions on the training rows. "
            f"{ctx.task.describe_fidelity(sur['depth'], sur['fidelity'])} ({sur['fidelity_metric']})."
        )
        section.preformatted.append(sur["rules"])
    return section


@register_section("residuals", "Predictions and residuals", order=50)
def residuals_section(ctx: ReportContext) -> Section | None:
    """Regression: predicted against true values and residuals, on the test rows."""
    if ctx.task.has_classes or ctx.predictions is None:
        return None
    frame = ctx.predictions
    y, pred = frame["y_true"].to_numpy(dtype=float), frame[NETWORK].to_numpy(dtype=float)
    resid = y - pred
    fig, (ax, rax) = plt.subplots(1, 2, figsize=(10, 4))
    ax.scatter(y, pred, s=12, alpha=0.7)
    lo, hi = min(y.min(), pred.min()), max(y.max(), pred.max())
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":")
    ax.set(xlabel="true value", ylabel="predicted value", title="predicted vs true")
    rax.scatter(pred, resid, s=12, alpha=0.7)
    rax.axhline(0, color="grey", linestyle=":")
    rax.set(xlabel="predicted value", ylabel="residual (true - predicted)", title="residuals")
    rows = [["mean residual", f"{resid.mean():+.3f}"], ["residual std", f"{resid.std():.3f}"], ["largest |residual|", f"{np.abs(resid).max():.3f}"]]
    return Section(tables=[Table(["test rows", "value"], rows)], figures=[Figure.from_matplotlib(fig, "Each dot is a test row; the dotted lines mark perfect predictions.")])


@register_section("cv", "Cross-validation", order=35)
def cv_section(ctx: ReportContext) -> Section | None:
    """Mean ± std of each metric over the folds, and every fold's value."""
    cv = ctx.metrics.get("cv")
    if not cv:
        return None
    names = list(cv["mean"])
    rows = [[n, f"{_num(cv['mean'][n])} ± {_num(cv['std'][n])}"] + [_num(f["metrics"][n]) for f in cv["folds"]] for n in names]
    header = ["metric", "mean ± std"] + [f"fold {f['fold']}" for f in cv["folds"]]
    grouped = f", grouped by '{cv['grouped_by']}' (no group straddles folds)" if cv.get("grouped_by") else ""
    text = (
        f"{cv['k']}-fold cross-validation over all rows{grouped}: in each fold the imputers, scalers, encoders and the network "
        "are refitted on that fold's training rows only (validation rows for early stopping are carved from them)."
    )
    return Section(
        findings=list(cv.get("findings", [])),
        paragraphs=[text],
        tables=[Table(header, rows, "std across folds (ddof=1), over the folds where the metric is defined; n/a: undefined in that fold")],
    )


def _num(value: Any, digits: int = 4) -> str:
    """A metric value, or n/a where it is undefined (null in the JSON)."""
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"
