"""Robust CSV reading: encodings, delimiters, number formats, missing markers, mixed types."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.data.loading import load_table
from shipyard.data.reading import read_csv

from .conftest import COLUMNS, breast_cancer_frame


def test_european_latin1_csv_reads_back_the_numbers(planted_csv, planted_frame):
    frame = read_csv(planted_csv)
    report = frame.attrs["reading"]
    assert report["delimiter"] == ";"
    assert report["decimal"] == ","
    assert report["encoding"] in ("cp1252", "latin-1")
    original = breast_cancer_frame()
    n = len(original)
    for col in ["mean radius", "mean smoothness", "worst area"]:
        np.testing.assert_allclose(frame[col].to_numpy()[:n], original[col].to_numpy(), rtol=1e-12)
    texture = frame["mean texture"].to_numpy()[:n]
    ok = ~np.isnan(texture)
    np.testing.assert_allclose(texture[ok], original["mean texture"].to_numpy()[ok], rtol=1e-12)
    assert set(frame["city"]) == {"Genève", "Köln", "Málaga"}
    assert set(frame["site"]) == {"Zürich"}
    assert frame["leak"].dtype == np.float64


def test_mixed_types_are_reported_with_values_and_rows(planted_csv):
    frame = read_csv(planted_csv)
    (mixed,) = frame.attrs["reading"]["mixed_types"]
    assert mixed["column"] == "mean texture"
    assert mixed["count"] == 2
    assert mixed["examples"] == ["oops", "oops"]
    assert mixed["rows"] == [101, 141]  # 1-based data rows
    assert frame["mean texture"].isna().sum() == 2
    assert frame["mean texture"].dtype == np.float64


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffsize,colour\n1,rot\n2,grün\n".encode("utf-8"))
    frame = load_table(str(path))
    assert list(frame.columns) == ["size", "colour"]
    assert frame.attrs["reading"]["encoding"] == "utf-8-sig"
    assert frame["colour"].tolist() == ["rot", "grün"]
    assert frame["size"].dtype == np.int64


def test_missing_markers_and_thousands_separators(tmp_path):
    path = tmp_path / "markers.csv"
    markers = ["NA", "N/A", "null", "?", "", "NaN", "None"]
    rows = [f'"{1000 * (i + 1):,}.5",{m},x{i}' for i, m in enumerate(markers)]
    path.write_text("amount,value,tag\n" + "\n".join(rows) + "\n", encoding="utf-8")
    frame = read_csv(path)
    assert frame["amount"].tolist() == [1000.5 * 1 + 1000 * i for i in range(len(markers))]
    assert frame["value"].isna().all()
    assert frame["tag"].tolist() == [f"x{i}" for i in range(len(markers))]


def test_quoted_fields_with_embedded_newlines_and_delimiters(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('note\tscore\n"line one\nline two"\t1,5\n"a\tb"\t2,25\nplain\t3,0\n', encoding="utf-8")
    frame = read_csv(path)
    assert frame.attrs["reading"]["delimiter"] == "\t"
    assert frame["note"].tolist() == ["line one\nline two", "a\tb", "plain"]
    assert frame["score"].tolist() == [1.5, 2.25, 3.0]


def test_plain_csv_reads_like_pandas(tmp_path):
    original = breast_cancer_frame()
    path = tmp_path / "plain.csv"
    original.to_csv(path, index=False)
    frame = read_csv(path)
    pd.testing.assert_frame_equal(frame, pd.read_csv(path), check_dtype=False)
    assert list(frame.columns) == COLUMNS + ["diagnosis"]
