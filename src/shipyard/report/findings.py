"""The report's first section: what a reviewer must know before reading any number.

It reads ``data_profile.json``, ``data_summary.json`` and ``metrics.json``
and shows every finding of the data profile (worst first) and of the
evaluation (holdout against cross-validation, temperature scaling at a
bound), how the rows were split and why, what the validation and test splits
share with training (rows identical to a training row, entities with rows in
training), the dropped columns with the reason, the resampling and
augmentation applied to the training rows, and the rule for missing values.
"""

from __future__ import annotations

from typing import Any

from shipyard.report.sections import ReportContext, Section, Table, register_section

SEVERITY_ORDER = ("error", "warning", "info")


def _profile(ctx: ReportContext) -> dict[str, Any]:
    return ctx.json("data_profile.json") if ctx.has("data_profile.json") else {}


def split_sentence(ctx: ReportContext) -> str:
    """How the rows were split, in one sentence (empty when the run has no profile)."""
    split = _profile(ctx).get("dataset", {}).get("split") or {}
    if not split:
        return ""
    parts = []
    given = split.get("given") or {}
    for role, path in given.items():
        parts.append(f"the {role} rows are the file {path} (data.{role})")
    by = split.get("stratified_by")
    carved = [p for p in ("train", "validation", "test") if p not in given]
    parts.append(f"{'/'.join(carved)} rows are drawn from data.source{f', stratified by {by}' if by else ''}")
    if split.get("group"):
        parts.append(f"rows of one '{split['group']}' stay in one part (data.split.group)")
    duplicates = split.get("duplicates") or {}
    if duplicates.get("repeated_rows"):
        how = "kept together" if duplicates["policy"] == "group" else "split like any row"
        who = "chosen from the data" if duplicates.get("chosen_by") == "data" else "set in the recipe"
        parts.append(f"rows with identical inputs are {how} (data.split.duplicates: {duplicates['policy']}, {who}: {duplicates['reason']})")
    return "Split: " + "; ".join(parts) + "."


def test_rows_sentence(ctx: ReportContext) -> str:
    """What the test rows are, stated from the profile's overlap counts rather than assumed."""
    metrics = ctx.metrics
    n = metrics.get("split", {}).get("test")
    overlap = _profile(ctx).get("dataset", {}).get("overlap") or {}
    given = ((_profile(ctx).get("dataset", {}).get("split") or {}).get("given") or {}).get("test")
    source = f" from {given} (data.test)" if given else ""
    if not overlap:
        return f"{n} test rows{source}, never used for training or model selection."
    text = f"{n} test rows{source}, never used for training or model selection"
    same = overlap.get("test_rows_identical_to_training", 0)
    if same:
        text += f"; {same} of them have exactly the inputs of a training row (repeated observations split like any row)"
    else:
        text += "; none has exactly the inputs of a training row"
    if overlap.get("group"):
        shared = overlap.get("test_groups_in_training", 0)
        text += (
            f"; {shared} of their {overlap['test_groups']} '{overlap['group']}' entities also have rows in training"
            if shared
            else f"; none of their {overlap['test_groups']} '{overlap['group']}' entities has rows in training"
        )
    return text + "."


@register_section("findings", "Findings", order=5)
def findings_section(ctx: ReportContext) -> Section | None:
    """Data and evaluation findings, the split, the overlap between splits, dropped columns, resampling, missing values."""
    profile = _profile(ctx)
    metrics = ctx.metrics
    summary = ctx.json("data_summary.json") if ctx.has("data_summary.json") else {}
    if not profile and not metrics:
        return None
    section = Section()
    for f in sorted(profile.get("findings", []), key=lambda f: SEVERITY_ORDER.index(f["severity"])):
        section.findings.append(f"{f['severity']} ({f['code']}): {f['message']}" + (f" — {f['hint']}" if f.get("hint") and f["severity"] != "info" else ""))
    section.findings += [f"evaluation: {line}" for line in (metrics.get("cv") or {}).get("holdout", {}).get("findings", [])]
    temp = (metrics.get("calibration") or {}).get("temperature_scaling") or {}
    if temp.get("warning"):
        section.findings.append(f"calibration: {temp['warning']}")
    sentence = split_sentence(ctx)
    if sentence:
        section.paragraphs.append(sentence)
    if metrics.get("split"):
        section.paragraphs.append(test_rows_sentence(ctx))
    overlap = profile.get("dataset", {}).get("overlap") or {}
    if overlap:
        sizes = metrics.get("split") or summary.get("split") or {}
        rows = [
            ["test rows with exactly the inputs of a training row", f"{overlap.get('test_rows_identical_to_training', 0)} of {overlap.get('test_rows', sizes.get('test', ''))}"],
            ["validation rows with exactly the inputs of a training row", f"{overlap.get('validation_rows_identical_to_training', 0)} of {sizes.get('validation', '')}"],
        ]
        if overlap.get("group"):
            rows.append([f"test '{overlap['group']}' entities with rows in training", f"{overlap.get('test_groups_in_training', 0)} of {overlap.get('test_groups', 0)}"])
        for name, entity in ((n, s.get("entity")) for n, s in profile.get("columns", {}).items()):
            if entity and "test_groups" in entity and name != overlap.get("group"):
                rows.append([f"test values of '{name}' (looks like an entity id) with rows in training", f"{entity['test_groups_in_training']} of {entity['test_groups']}"])
        if "test_rows_with_unseen_inputs" in overlap:
            rows.append(["test rows whose input combination never occurs in training", str(overlap["test_rows_with_unseen_inputs"])])
        for column, values in (overlap.get("test_categories_unseen_in_training") or {}).items():
            rows.append([f"test categories of '{column}' absent from training", ", ".join(map(repr, values))])
        section.tables.append(Table(["between the splits", "count"], rows, "What the validation and test rows share with the training rows"))
    dropped = profile.get("dropped_columns") or {}
    if dropped:
        section.tables.append(Table(["column", "why it is not an input"], [[c, why] for c, why in dropped.items()], "Dropped columns"))
    steps = summary.get("preprocessing") or {}
    resampling = []
    sampler = steps.get("sampler")
    if sampler:
        before, after = sampler["class_counts_before"], sampler["class_counts_after"]
        resampling.append(["sampler", sampler["method"], ", ".join(f"{k}: {before[k]} → {after[k]}" for k in before)])
    augment = steps.get("augment")
    if augment and "method" in augment:
        resampling.append(["augmentation", augment["method"], f"{augment['rows_before']} training rows + {augment['rows_added']} synthetic"])
    elif augment:  # images (prepare.image_augment): kornia transforms drawn anew every epoch, no rows added
        used = ", ".join(f"{k} {v}" for k, v in augment.items() if k != "p" and v not in (0, 0.0, None, [1.0, 1.0]))
        resampling.append(["augmentation", f"images: {used or 'none'}", f"each training image transformed with probability {augment.get('p')} every epoch; no rows added"])
    if resampling:
        section.tables.append(Table(["step", "method", "training rows"], resampling, "Applied to the training rows only (validation and test rows are never resampled)"))
    elif summary:
        section.paragraphs.append("No resampling or augmentation: the network is fitted on the training rows as they are.")
    rules = profile.get("dataset", {}).get("missing_values")
    if rules:
        section.paragraphs.append(f"Missing values: {rules['numeric']}; {rules['categorical']}.")
    return section
