"""Fixtures for data tests: CSV files built from scikit-learn's breast_cancer with planted problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

COLUMNS = ["mean radius", "mean texture", "mean smoothness", "worst area"]


def breast_cancer_frame() -> pd.DataFrame:
    """Four real numeric columns and the 'diagnosis' label (569 rows)."""
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame[COLUMNS].copy()
    frame["diagnosis"] = np.where(bunch.target == 1, "benign", "malignant")
    return frame


@pytest.fixture(scope="session")
def planted_frame() -> pd.DataFrame:
    """breast_cancer with one planted problem of each kind.

    - 12 exact duplicate rows (copies of rows 0..11, appended);
    - 'site': constant;
    - 'record_id': unique string per row (identifier);
    - 'leak': the label as 0/1 plus small noise (suspected leakage);
    - 'email': an address per row (personal data);
    - 'city': a categorical column with Latin-1 characters;
    - 'mean texture' holds 'oops' in rows 100 and 140 (mixed types).
    """
    frame = breast_cancer_frame()
    rng = np.random.default_rng(0)
    frame["leak"] = (frame["diagnosis"] == "malignant").astype(float) + rng.normal(0, 0.01, len(frame))
    frame["city"] = rng.choice(["Genève", "Köln", "Málaga"], len(frame))
    # Written as text, so it carries its decimal comma itself.
    frame["mean texture"] = frame["mean texture"].map(lambda v: repr(float(v)).replace(".", ","))
    frame.loc[[100, 140], "mean texture"] = "oops"
    frame = pd.concat([frame, frame.iloc[:12]], ignore_index=True)
    n = len(frame)
    frame.insert(0, "record_id", [f"R{i:05d}" for i in range(n)])
    frame["site"] = "Zürich"
    frame["email"] = [f"patient{i}@example.org" for i in range(n)]
    return frame


def write_european(frame: pd.DataFrame, path: Path) -> Path:
    """Write with ';' delimiters, decimal commas and Latin-1 bytes (as Excel does in much of Europe)."""
    frame.to_csv(path, sep=";", decimal=",", index=False, encoding="latin-1")
    return path


@pytest.fixture(scope="session")
def planted_csv(planted_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted frame as a semicolon, decimal-comma, Latin-1 CSV."""
    return write_european(planted_frame, tmp_path_factory.mktemp("planted") / "planted.csv")
