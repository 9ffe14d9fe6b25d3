"""Robust CSV reading: encodings, delimiters, number formats, missing markers, mixed types."""

from __future__ import annotations

import numpy as np
import json

import pandas as pd
import pytest

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


# --- Issue 8: codes, booleans, "NA" that is a category, numbers among text, other formats ---------------------------


def test_zero_padded_codes_stay_text_and_say_why(tmp_path):
    """Item 5: zip 02134, 02139, 00501, 07030, 10001, 94105 is a column of codes; site 001, 002, 1 holds three codes."""
    path = tmp_path / "codes.csv"
    path.write_text("zip,site,amount\n02134,001,1.5\n02139,002,2\n00501,1,3\n07030,001,4\n10001,002,5\n94105,1,6\n", encoding="utf-8")
    frame = read_csv(path)
    assert frame["zip"].tolist() == ["02134", "02139", "00501", "07030", "10001", "94105"]
    assert frame["site"].nunique() == 3 and frame["amount"].dtype == "float64"
    report = frame.attrs["reading"]
    assert [c["column"] for c in report["codes"]] == ["zip", "site"]
    assert report["codes"][0]["examples"][0] == "02134" and report["codes"][0]["rows"][0] == 1
    # '001' and '1' are the same number written two ways: three categories, and a warning that says so.
    assert report["number_spellings"][0] == {"column": "site", "number": 1.0, "values": ["001", "1"], "rows": [1, 3]}
    # The recipe can say otherwise.
    assert read_csv(path, kinds={"zip": "numeric"})["zip"].tolist() == [2134, 2139, 501, 7030, 10001, 94105]


def test_a_single_zero_padded_value_does_not_turn_a_numeric_column_into_codes(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("x\n" + "\n".join(["007"] + [str(i) for i in range(10, 300)]) + "\n", encoding="utf-8")
    frame = read_csv(path)
    assert frame["x"].dtype == "int64" and frame["x"].iloc[0] == 7


def test_na_beside_two_letter_codes_is_namibia_but_missing_beside_words(tmp_path):
    """Item 8: 'NA' among NC, NE is a category (kept and reported); 'NA' in a yes/no column stays missing."""
    countries = ["NA", "NC", "NE"] * 20
    answers = ["yes", "no", "NA"] * 20
    path = tmp_path / "c.csv"
    pd.DataFrame({"country": countries, "answer": answers}).to_csv(path, index=False)
    frame = read_csv(path)
    assert (frame["country"] == "NA").sum() == 20 and frame["country"].isna().sum() == 0
    assert frame["answer"].isna().sum() == 20
    kept = frame.attrs["reading"]["kept_markers"]
    assert len(kept) == 1 and kept[0]["column"] == "country" and kept[0]["value"] == "NA" and kept[0]["count"] == 20
    assert kept[0]["rows"] == [1, 4, 7] and set(kept[0]["examples"]) == {"NC", "NE"}
    # Batch prediction reads a file with the training schema's kept markers, even a file too small to tell.
    small = tmp_path / "small.csv"
    small.write_text("country\nNA\nNC\n", encoding="utf-8")
    assert read_csv(small)["country"].isna().sum() == 1
    assert read_csv(small, kinds={"country": "categorical"}, keep={"country": {"NA"}})["country"].tolist() == ["NA", "NC"]


def test_numbers_among_text_are_reported_with_values_and_rows(tmp_path):
    """Item 6 (CSV): a text column holding some numbers is named, with examples and 1-based rows."""
    path = tmp_path / "m.csv"
    path.write_text("code,y\n1001,a\n1002,b\nguitar,a\n,b\ndrum,a\n1001.0,b\n", encoding="utf-8")
    report = read_csv(path).attrs["reading"]
    mixed = report["mixed_types"][0]
    assert mixed["column"] == "code" and mixed["read_as"] == "text" and mixed["count"] == 3
    assert mixed["examples"] == ["1001", "1002", "guitar", "drum"] and mixed["rows"] == [1, 2, 3, 5]
    assert report["number_spellings"] == [{"column": "code", "number": 1001.0, "values": ["1001", "1001.0"], "rows": [1, 6]}]


def test_json_lines_read_codes_booleans_and_mixed_columns_like_csv(tmp_path):
    """Items 5, 6, 7 for JSON Lines: "02134" stays a code, true/false/null are booleans, code 1001 / "guitar" is reported."""
    from shipyard.data.loading import load_table

    lines = [
        {"zip": "02134", "flag": True, "code": 1001, "country": "NA"},
        {"zip": "00501", "flag": None, "code": "guitar", "country": "NC"},
        {"zip": "10001", "flag": False, "code": None, "country": "NA"},
        {"zip": "94105", "flag": True, "code": "1001.0", "country": "NE"},
        {"zip": "07030", "flag": False, "code": "drum", "country": None},
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    frame = load_table(str(path))
    assert frame["zip"].tolist() == ["02134", "00501", "10001", "94105", "07030"]
    assert str(frame["flag"].dtype) == "boolean" and frame["flag"].isna().sum() == 1
    assert frame["country"].tolist()[:3] == ["NA", "NC", "NA"] and frame["country"].isna().sum() == 1
    report = frame.attrs["reading"]
    assert report["mixed_types"][0]["column"] == "code" and report["mixed_types"][0]["rows"] == [1, 4, 2, 5]
    assert report["number_spellings"][0]["values"] == [1001, "1001.0"]


def test_tsv_files_are_read(tmp_path):
    """Item 12: .tsv is a CSV with tabs."""
    from shipyard.data.loading import load_table

    path = tmp_path / "d.tsv"
    path.write_text("a\tb\n1\tx\n2\ty\n", encoding="utf-8")
    frame = load_table(str(path))
    assert frame["a"].tolist() == [1, 2] and frame.attrs["reading"]["delimiter"] == "\t"


def test_a_header_naming_a_column_twice_is_refused_naming_it(tmp_path):
    """Trial: header a,a,y was read as 'a' and 'a.1' without a word, and the server then wanted a field "a.1"."""
    from shipyard.data.reading import read_csv
    from shipyard.errors import DataError

    path = tmp_path / "dup.csv"
    path.write_text("a,a ,y\n1,2,x\n3,4,z\n")
    with pytest.raises(DataError, match=r"dup.csv: column name\(s\) 'a' appear more than once in the header"):
        read_csv(path)
