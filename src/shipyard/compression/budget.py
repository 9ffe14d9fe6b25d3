"""Choosing the deployed variant: the best one within the accuracy budget on the validation split, confirmed on test.

A variant is eligible when it was built, passed its own parity check, and
its budget metric on the **validation** split is at most ``max_drop`` worse
than ONNX fp32's (the reference). Among the eligible variants (the reference
included) the objective picks: the lowest batch-1 latency (thread CPU time,
:mod:`shipyard.compression.measure`), latencies within :data:`LATENCY_TIE` of the
fastest counting as equal and the smallest file breaking the tie; or the
smallest file, the lowest latency breaking a tie. The test split never takes
part in the choice: the chosen variant is then checked on test, and if its
test metric drops by more than the budget there, ONNX fp32 stays deployed and
the reason says so. This module is pure: it reads variant records and returns
a decision.
"""

from __future__ import annotations

from typing import Any

from shipyard.evaluation.bootstrap import LOWER_IS_BETTER

REFERENCE = "fp32"
"""The variant every other is measured against: the trained network's ONNX fp32 pipeline, as exported."""
LATENCY_TIE = 0.05
"""Relative latency difference below which two variants count as equally fast (timing noise on a shared machine)."""


def drop(metric: str, reference: float, value: float) -> float:
    """How much worse ``value`` is than ``reference`` on ``metric`` (positive: worse; an increase for lower-is-better metrics)."""
    return (value - reference) if metric in LOWER_IS_BETTER else (reference - value)


def select(variants: list[dict[str, Any]], metric: str, max_drop: float, objective: str) -> dict[str, Any]:
    """Choose the deployed variant.

    Parameters
    ----------
    variants : list of dict
        One record per variant: ``name``, ``status`` ("ok" when built), ``parity``
        (with ``within``), ``validation`` and ``test`` (metric name to value), ``bytes``,
        and ``latency`` (``{"session": {"p50": µs}}``). The reference (:data:`REFERENCE`) must be
        among them and ok.
    metric : str
        The budget metric.
    max_drop : float
        Largest allowed drop (:func:`drop`) against the reference on validation, and on test to confirm.
    objective : {"latency", "size"}

    Returns
    -------
    dict
        ``selected`` (the deployed variant's name), ``chosen_on_validation`` (before the
        test check), ``confirmed_on_test`` (bool), ``eligible`` (names within budget on validation,
        best first), ``drops`` (name to ``{"validation", "test"}`` drops), and ``reason`` (a sentence).

    Raises
    ------
    ValueError
        If the reference is missing or not ok.
    """
    by_name = {v["name"]: v for v in variants}
    ref = by_name.get(REFERENCE)
    if ref is None or ref.get("status") != "ok":
        raise ValueError(f"the reference variant {REFERENCE!r} is missing or failed")
    built = [v for v in variants if v.get("status") == "ok"]
    drops = {
        v["name"]: {part: drop(metric, ref[part][metric], v[part][metric]) for part in ("validation", "test")}
        for v in built
    }
    eligible = [v for v in built if (v["parity"]["within"] or v["name"] == REFERENCE) and drops[v["name"]]["validation"] <= max_drop + 1e-12]
    ranked = _rank(eligible, objective)
    chosen = ranked[0]["name"]
    out: dict[str, Any] = {
        "metric": metric,
        "max_drop": max_drop,
        "objective": objective,
        "split": "validation",
        "eligible": [v["name"] for v in ranked],
        "drops": drops,
        "chosen_on_validation": chosen,
    }
    over = [v for v in built if v["name"] not in out["eligible"]]
    if chosen == REFERENCE:
        out.update(selected=REFERENCE, confirmed_on_test=True)
        if len(eligible) == 1:
            closest = min(over, key=lambda v: drops[v["name"]]["validation"], default=None)
            detail = (
                f"; the closest, {closest['name']}, loses {drops[closest['name']]['validation']:.4f} {metric} on validation"
                + ("" if closest["parity"]["within"] else " and fails its parity check")
                if closest
                else ""
            )
            out["reason"] = f"no variant stays within the budget ({metric} drop <= {max_drop:g} on validation){detail}: fp32 stays"
        else:
            what = f"faster by more than {LATENCY_TIE:.0%}" if objective == "latency" else "smaller"
            out["reason"] = f"{len(eligible) - 1} variant(s) within the budget, none {what} than fp32: fp32 stays"
        return out
    test_drop = drops[chosen]["test"]
    if test_drop > max_drop + 1e-12:
        out.update(selected=REFERENCE, confirmed_on_test=False)
        out["reason"] = (
            f"{chosen} was chosen on validation ({metric} drop {drops[chosen]['validation']:.4f}) but drops {test_drop:.4f} on test, "
            f"beyond the budget {max_drop:g}: fp32 stays"
        )
        return out
    out.update(selected=chosen, confirmed_on_test=True)
    best = ranked[0]
    gain = (
        f"{ref['latency']['session']['p50'] / best['latency']['session']['p50']:.2f}x lower batch-1 latency"
        if objective == "latency"
        else f"a {ref['bytes'] / best['bytes']:.2f}x smaller file"
    )
    out["reason"] = (
        f"{chosen}: {gain} than fp32; {metric} {-drops[chosen]['validation'] + 0.0:+.4f} on validation and "
        f"{-test_drop + 0.0:+.4f} on test against fp32 (budget: a drop of at most {max_drop:g})"
    )
    return out


def _rank(eligible: list[dict[str, Any]], objective: str) -> list[dict[str, Any]]:
    """Eligible variants, best first, by the objective (ties as the module describes)."""
    if objective == "size":
        return sorted(eligible, key=lambda v: (v["bytes"], v["latency"]["session"]["p50"], v["name"] != REFERENCE))
    fastest = min(v["latency"]["session"]["p50"] for v in eligible)
    tied = [v for v in eligible if v["latency"]["session"]["p50"] <= fastest * (1 + LATENCY_TIE)]
    rest = [v for v in eligible if v not in tied]
    # The reference wins a tie only when nothing tied with it is smaller.
    tied.sort(key=lambda v: (v["bytes"], v["name"] != REFERENCE))
    rest.sort(key=lambda v: v["latency"]["session"]["p50"])
    return tied + rest
