"""The example CSV files are what examples/data/make_data.py says they are."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from shipyard.data.loading import load_table

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def make_data():
    spec = importlib.util.spec_from_file_location("make_data", DATA / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_imbalanced_csv_keeps_5_percent_of_benign_rows():
    frame = load_table(str(DATA / "breast_cancer_imbalanced.csv"))
    expected = make_data().breast_cancer_imbalanced()
    assert frame["target"].value_counts().to_dict() == {"malignant": 212, "benign": 18}
    np.testing.assert_allclose(frame.drop(columns="target").to_numpy(), expected.drop(columns="target").to_numpy())


def test_clinic_csv_reads_back_with_its_missing_markers():
    frame = load_table(str(DATA / "clinic.csv"))
    report = frame.attrs["reading"]
    assert (report["delimiter"], report["decimal"]) == (";", ",")
    expected = make_data().clinic()
    assert list(frame.columns) == list(expected.columns)
    marked = expected["size"].isin(["NA", "?", ""])
    assert frame["size"].isna().tolist() == marked.tolist()
    numbers = pd.to_numeric(expected["worst_area"].where(~expected["worst_area"].isin(["NA", "?", ""])), errors="coerce")
    np.testing.assert_allclose(frame["worst_area"].to_numpy(), numbers.to_numpy(dtype=float))
