"""Build the example CSV files from scikit-learn's bundled breast_cancer data (deterministic).

    python examples/data/make_data.py

- ``breast_cancer_imbalanced.csv``: every malignant row, and only the first 5%
  (rounded up: 18 of 357) of the benign rows in the original order, so the
  minority class is ``benign`` (imbalance ratio 212 / 18 = 11.8).
- ``clinic.csv``: six columns of breast_cancer as a European spreadsheet would
  save them (``;`` delimiter, decimal commas, Latin-1), with two categorical
  columns (``size`` binned from mean radius, ``texture`` from mean texture),
  about 5% of cells missing (written as ``NA``, ``?`` or empty) and the label
  ``diagnosis``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

HERE = Path(__file__).resolve().parent


def breast_cancer_imbalanced(keep: float = 0.05, minority: str = "benign") -> pd.DataFrame:
    """All rows of the other class and the first ``ceil(keep * n)`` rows of ``minority``, in original order."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.copy()
    frame["target"] = np.asarray(bunch.target_names)[bunch.target]
    is_minority = (frame["target"] == minority).to_numpy()
    n_keep = math.ceil(keep * is_minority.sum())
    kept = np.flatnonzero(is_minority)[:n_keep]
    mask = ~is_minority
    mask[kept] = True
    return frame.loc[mask].reset_index(drop=True)


def clinic() -> pd.DataFrame:
    """Numeric and categorical columns with missing values (see the module docstring)."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame[["mean radius", "mean texture", "mean smoothness", "mean concavity", "worst area", "worst symmetry"]].copy()
    frame["size"] = pd.cut(frame.pop("mean radius"), [0, 12, 16, 100], labels=["small", "medium", "large"]).astype(str)
    frame["texture"] = np.where(frame.pop("mean texture") > 19, "rough", "smooth")
    frame.columns = ["smoothness", "concavity", "worst_area", "worst_symmetry", "size", "texture"]
    frame["diagnosis"] = np.where(bunch.target == 1, "benign", "malignant")
    rng = np.random.default_rng(0)
    frame = frame.astype(object)
    for col in ["size", "texture", "smoothness", "worst_area"]:
        rows = rng.random(len(frame)) < 0.05
        frame.loc[rows, col] = rng.choice(["NA", "?", ""], rows.sum())
    return frame


def main() -> None:
    breast_cancer_imbalanced().to_csv(HERE / "breast_cancer_imbalanced.csv", index=False)
    table = clinic()
    for col in ["smoothness", "concavity", "worst_area", "worst_symmetry"]:
        table[col] = [v if isinstance(v, str) else repr(float(v)).replace(".", ",") for v in table[col]]
    table.to_csv(HERE / "clinic.csv", sep=";", index=False, encoding="latin-1")


if __name__ == "__main__":
    main()
