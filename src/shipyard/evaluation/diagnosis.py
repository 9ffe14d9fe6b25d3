"""Overfitting diagnosis from the per-epoch training history.

Reads the entries the trainer writes to ``history.json`` (``train_loss``,
``val_loss``, ``train_<metric>``, ``val_<metric>``) and states in plain words
whether the generalization gap at the kept epoch is large and whether the
validation loss kept rising after it.
"""

from __future__ import annotations

from typing import Any

LOSS_GAP_RATIO = 1.5
"""Validation loss above this multiple of the training loss (and above it by > 0.05) counts as a large gap."""
METRIC_GAP = 0.05
"""A training metric better than the validation metric by more than this counts as a large gap."""
RISING_EPOCHS = 10
"""Validation loss above its best for at least this many epochs ..."""
RISE_FRACTION = 0.10
"""... and ending more than this fraction above its best counts as overfitting with more training."""


def diagnose(history: list[dict[str, float]], best_epoch: int | None = None, units: dict[str, str] | None = None) -> dict[str, Any]:
    """Summarise the generalization gap and the validation-loss trend.

    Parameters
    ----------
    history : list of dict
        One entry per epoch, as in ``history.json``.
    best_epoch : int, optional
        The 1-based epoch whose weights were kept; default the epoch of the
        lowest validation loss.
    units : dict, optional
        ``loss`` and ``metric``: what the loss and the per-epoch metric are
        measured in (:meth:`shipyard.tasks.base.Task.history_units`), named
        in the findings so that a loss on a standardised target is not read
        beside a test metric in the target's units.

    Returns
    -------
    dict
        ``best_epoch``, ``epochs_run``, ``metric`` (name of the per-epoch
        metric), ``train_loss``/``val_loss``/``loss_gap`` and
        ``train_metric``/``val_metric``/``metric_gap`` at the best epoch,
        ``epochs_after_best_with_higher_val_loss``, ``overfitting`` (bool) and
        ``findings`` (plain sentences, never empty).
    """
    if not history:
        return {"epochs_run": 0, "overfitting": False, "findings": ["No training history was recorded."]}
    if best_epoch is None or not 1 <= best_epoch <= len(history):
        best_epoch = min(history, key=lambda e: e["val_loss"])["epoch"]
    best = history[int(best_epoch) - 1]
    metric = next((k[len("val_"):] for k in best if k.startswith("val_") and k != "val_loss"), None)
    units = units or {}
    loss_unit = f" ({units['loss']})" if units.get("loss") else ""
    metric_unit = f" ({units['metric']})" if units.get("metric") else ""
    lower_better = metric in ("rmse", "mae", "mse")
    out: dict[str, Any] = {
        "best_epoch": int(best_epoch),
        "epochs_run": len(history),
        "metric": metric,
        "train_loss": best["train_loss"],
        "val_loss": best["val_loss"],
        "loss_gap": best["val_loss"] - best["train_loss"],
    }
    findings = []
    large = False
    if metric is not None:
        train_m, val_m = best[f"train_{metric}"], best[f"val_{metric}"]
        gap = (val_m - train_m) if lower_better else (train_m - val_m)
        out.update(train_metric=train_m, val_metric=val_m, metric_gap=gap)
        if not lower_better and gap > METRIC_GAP:
            large = True
            findings.append(
                f"Large generalization gap at epoch {best_epoch}: training {metric} {train_m:.3f} vs validation {val_m:.3f}{metric_unit} "
                f"({gap:.3f} apart). The network fits the training rows better than it generalizes; "
                "consider more dropout or weight decay, a smaller network, or more data."
            )
    if best["val_loss"] > LOSS_GAP_RATIO * best["train_loss"] and best["val_loss"] - best["train_loss"] > 0.05 and not large:
        large = True
        findings.append(
            f"Large generalization gap at epoch {best_epoch}: validation loss {best['val_loss']:.3f} is "
            f"{best['val_loss'] / max(best['train_loss'], 1e-12):.1f}x the training loss {best['train_loss']:.3f}{loss_unit}."
        )
    after = [e for e in history if e["epoch"] > best_epoch]
    rising = sum(1 for e in after if e["val_loss"] > best["val_loss"])
    out["epochs_after_best_with_higher_val_loss"] = rising
    last = history[-1]
    rose = rising >= RISING_EPOCHS and last["val_loss"] > (1 + RISE_FRACTION) * best["val_loss"]
    out["val_loss_rise"] = last["val_loss"] / best["val_loss"] - 1 if best["val_loss"] > 0 else 0.0
    if rose:
        findings.append(
            f"Validation loss rose for {rising} epochs after epoch {best_epoch} "
            f"({best['val_loss']:.3f} → {last['val_loss']:.3f} at epoch {last['epoch']}) while training continued: "
            f"more epochs overfit. The weights of epoch {best_epoch} were kept."
        )
    out["overfitting"] = large or rose
    if not findings:
        findings.append(
            f"No sign of overfitting: at epoch {best_epoch} the validation loss ({best['val_loss']:.3f}) is "
            + ("close to the " if best["val_loss"] >= best["train_loss"] else "below the ")
            + f"training loss ({best['train_loss']:.3f}){loss_unit}"
            + ("" if best["val_loss"] >= best["train_loss"] else " (the training loss is measured with dropout and any augmentation on)")
            + (f" and validation {metric} is {out['val_metric']:.3f} vs training {out['train_metric']:.3f}{metric_unit}" if metric else "")
            + (f"; after it, validation loss stayed within {RISE_FRACTION:.0%} of its best ({last['val_loss']:.3f} at epoch {last['epoch']})." if after else ".")
        )
    out["findings"] = findings
    return out
