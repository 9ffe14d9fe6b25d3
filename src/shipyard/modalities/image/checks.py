"""Data checks of an image set: shape and value range, exact duplicates and their labels, constant images, classes.

:func:`image_profile` returns ``data_profile.json`` for image input in the
tabular profile's shape (``dataset``, ``columns``, ``findings``) plus an
``images`` entry.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.profile import Finding


def image_hashes(pixels: np.ndarray) -> np.ndarray:
    """sha256 (first 16 hex digits) of each image's bytes: identical images, identical hash."""
    return np.array([hashlib.sha256(np.ascontiguousarray(p).tobytes()).hexdigest()[:16] for p in pixels], dtype=object)


def image_profile(
    pixels: np.ndarray, raw_range: tuple[float, float], max_value: float, y: np.ndarray, parts: dict[str, np.ndarray], target: str, task: Any,
    labels: list[Any], positive_index: int | None, source_shape: tuple[int, ...], resized: bool,
) -> dict[str, Any]:
    """Profile images and list findings.

    Parameters
    ----------
    pixels : ndarray of shape (n, channels, height, width)
        In [0, 1] after scaling (and resizing).
    raw_range : (float, float)
        Smallest and largest value before scaling.
    max_value : float
        The full-intensity value pixels were divided by.
    y : ndarray of shape (n,)
    parts : dict of str to ndarray
        Row positions of train, validation and test.
    target : str
    task : Task
    labels : list
    positive_index : int or None
    source_shape : tuple
        (height, width, channels) as read.
    resized : bool

    Returns
    -------
    dict
    """
    from shipyard.tasks import Target

    n = len(pixels)
    findings: list[Finding] = []
    hashes = image_hashes(pixels)
    frame = pd.DataFrame({"h": hashes, "y": np.asarray(y)})
    surplus = int(frame["h"].duplicated().sum())
    conflicts = int(frame.groupby("h")["y"].nunique().gt(1).sum())
    side = np.empty(n, dtype=object)
    for part, rows in parts.items():
        side[rows] = part
    straddling = int(pd.DataFrame({"h": hashes, "s": side}).groupby("h")["s"].nunique().gt(1).sum())
    flat = pixels.reshape(n, -1)
    constant = flat.max(axis=1) == flat.min(axis=1)
    if surplus:
        findings.append(Finding("warning", "duplicate_images", f"{surplus} surplus identical image(s); identical images are kept on one side of the split", "set prepare.drop_duplicates: true unless they are legitimate repeats"))
    if conflicts:
        findings.append(Finding("warning", "conflicting_labels", f"{conflicts} set(s) of identical images carry different labels in '{target}'", "check the labels of those images"))
    if straddling:
        findings.append(Finding("error", "duplicates_straddle_split", f"{straddling} group(s) of identical images straddle the split"))
    if constant.any():
        findings.append(Finding("warning", "constant_images", f"{int(constant.sum())} image(s) hold a single value (rows {np.flatnonzero(constant)[:5].tolist()})", "check how they were exported"))
    low, high = raw_range
    if high > max_value or low < 0:
        findings.append(
            Finding("error", "pixel_range", f"pixel values span [{low:g}, {high:g}], outside [0, {max_value:g}] (data.images.max_value)", "set data.images.max_value to the full-intensity value")
        )
    described, target_findings = task.describe_target(Target(np.asarray(y), labels, positive_index), target)
    findings += [Finding(**f) for f in target_findings]
    channels = pixels.shape[1]
    train = pixels[parts["train"]]
    images = {
        "shape": list(pixels.shape[1:]),
        "source_shape": list(source_shape),
        "resized": resized,
        "max_value": max_value,
        "raw_range": [float(low), float(high)],
        "train_mean": train.mean(axis=(0, 2, 3)).tolist() if len(train) else [0.0] * channels,
        "train_std": train.std(axis=(0, 2, 3)).tolist() if len(train) else [1.0] * channels,
        "duplicates": {"surplus_images": surplus, "conflicting_label_groups": conflicts},
        "constant_images": int(constant.sum()),
    }
    dataset = {
        "rows": n,
        "features": 1,
        "input": "image",
        "task": task.name,
        "leakage_measure": task.leakage_measure,
        "duplicate_rows": surplus,
        "inputs_with_conflicting_labels": conflicts,
        "duplicate_groups_straddling_split": straddling,
        **described,
    }
    columns = {"image": {"dtype": "float32", "kind": "image", "missing_fraction": 0.0, "cardinality": n - surplus, "constant": bool(constant.all())}}
    return {"dataset": dataset, "columns": columns, "images": images, "findings": [f.to_dict() for f in findings]}
