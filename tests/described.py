"""Datasets rebuilt from the descriptions in issue 8 (the original files stay outside the project).

Each builder returns a DataFrame (or writes a file) with the structure the
issue describes; the values are synthetic but follow what the described data
holds (counts, codes, spellings), seeded so every test sees the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

# Passengers of the Titanic by class, age and sex: rows and survivors (the passenger counts of
# the well-known 2,201-person table without the crew; 1,316 passengers, 12 distinct combinations).
PASSENGER_CELLS = [
    ("1st", "adults", "man", 175, 57),
    ("1st", "adults", "women", 144, 140),
    ("1st", "child", "man", 5, 5),
    ("1st", "child", "women", 1, 1),
    ("2nd", "adults", "man", 168, 14),
    ("2nd", "adults", "women", 93, 80),
    ("2nd", "child", "man", 11, 11),
    ("2nd", "child", "women", 13, 13),
    ("3rd", "adults", "man", 462, 75),
    ("3rd", "adults", "women", 165, 76),
    ("3rd", "child", "man", 48, 13),
    ("3rd", "child", "women", 31, 14),
]


def passengers(seed: int = 0) -> pd.DataFrame:
    """1,316 passengers over three categorical columns (12 distinct combinations), target survived yes/no, rows shuffled."""
    rows = []
    for klass, age, sex, n, survived in PASSENGER_CELLS:
        rows += [(klass, age, sex, "yes" if i < survived else "no") for i in range(n)]
    frame = pd.DataFrame(rows, columns=["class", "age", "sex", "survived"])
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def panel(seed: int = 0) -> pd.DataFrame:
    """545 persons (``nr``) observed each year 1980-87 (4,360 rows); targets ``wage`` (log wage) and ``union`` (yes/no).

    Like the NLS panel of young men: a large person effect (ability, taste
    for a union job) that the time-invariant columns only partly reveal, so a
    split by row lets a model recognise persons it has seen.
    """
    rng = np.random.default_rng(seed)
    n_persons, years = 545, np.arange(1980, 1988)
    nr = np.sort(rng.choice(np.arange(13, 12549), n_persons, replace=False))
    educ = rng.integers(8, 17, n_persons)
    black = (rng.random(n_persons) < 0.12).astype(int)
    hisp = (rng.random(n_persons) < 0.16).astype(int)
    ability = rng.normal(0, 0.35, n_persons)
    union_taste = rng.normal(0, 1.5, n_persons)
    start = rng.integers(0, 6, n_persons)
    occupation = rng.integers(1, 10, n_persons)
    records = []
    for i in range(n_persons):
        for t, year in enumerate(years):
            exper = start[i] + t + 1
            married = int(rng.random() < min(0.9, 0.1 + 0.08 * t + 0.05 * (educ[i] > 12)))
            hours = int(np.clip(rng.normal(2200, 450), 200, 4000))
            union = int(union_taste[i] + 0.3 * married - 0.5 + rng.normal(0, 0.8) > 0)
            wage = 0.8 + 0.08 * educ[i] + 0.06 * exper - 0.002 * exper**2 + 0.15 * union + 0.1 * married - 0.12 * black[i] + ability[i] + rng.normal(0, 0.3)
            records.append((nr[i], year, educ[i], black[i], hisp[i], exper, married, hours, occupation[i], union, round(float(wage), 4)))
    frame = pd.DataFrame(records, columns=["nr", "year", "educ", "black", "hisp", "exper", "married", "hours", "occupation", "union", "wage"])
    frame["union"] = np.where(frame["union"] == 1, "yes", "no")
    return frame


PIMA_COLUMNS = ["npreg", "glu", "bp", "skin", "bmi", "ped", "age", "type"]


def pima(n: int, seed: int) -> pd.DataFrame:
    """A diabetes study like Pima.tr / Pima.te: seven measurements and ``type`` Yes/No (about a third Yes)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 70, n)
    npreg = np.clip(rng.poisson(np.maximum(0.5, (age - 18) / 8)), 0, 15)
    glu = np.clip(rng.normal(122, 31, n), 56, 199).round()
    bp = np.clip(rng.normal(71, 12, n), 38, 110).round()
    bmi = np.clip(rng.normal(32.5, 6.5, n), 18, 67).round(1)
    skin = np.clip(0.9 * bmi + rng.normal(0, 8, n), 7, 99).round()
    ped = np.clip(rng.gamma(2.0, 0.25, n), 0.08, 2.4).round(3)
    logit = -9.5 + 0.035 * glu + 0.09 * bmi + 1.2 * ped + 0.03 * age + 0.1 * npreg
    typ = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
    return pd.DataFrame({"npreg": npreg, "glu": glu, "bp": bp, "skin": skin, "bmi": bmi, "ped": ped, "age": age, "type": typ})[PIMA_COLUMNS]


def pima_pair(folder: Path) -> tuple[Path, Path]:
    """``pima_train.csv`` (200 rows) and ``pima_test.csv`` (332 rows), as the study ships them."""
    train, test = folder / "pima_train.csv", folder / "pima_test.csv"
    pima(200, 1).to_csv(train, index=False)
    pima(332, 2).to_csv(test, index=False)
    return train, test


ZIPS = ["02134", "02139", "00501", "07030", "10001", "94105"]
COUNTRIES = ["NA", "NC", "NE"]  # Namibia, New Caledonia, Niger


def values_frame(seed: int = 0, n: int = 600) -> pd.DataFrame:
    """Columns whose values changed meaning between the CSV, the bundle and the server (items 4, 5, 7, 8, 9).

    - ``member_no``: a permutation of 100000..100000+n-1, one per row (an identifier);
    - ``zip``: zero-padded codes; ``site``: ``001``, ``002`` and ``1`` (three codes);
    - ``flag``: ``true``/``false`` with blanks;
    - ``country``: ``NA`` (Namibia), ``NC``, ``NE``, a third each;
    - ``color``: a category that is never missing;
    - ``x``, ``z``: numbers; target ``outcome`` yes/no driven by country, flag, zip and x.
    """
    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, n)
    flag = rng.choice(["true", "false", ""], n, p=[0.45, 0.45, 0.10])
    zips = rng.choice(ZIPS, n)
    site = rng.choice(["001", "002", "1"], n)
    color = rng.choice(["red", "green", "blue"], n)
    x = rng.normal(0, 1, n)
    z = rng.normal(0, 1, n)
    logit = 2.2 * (country == "NA") - 1.6 * (country == "NE") + 1.8 * (flag == "true") - 1.0 * (flag == "false") + 1.2 * np.isin(zips, ZIPS[:3]) + 0.8 * x - 0.7
    outcome = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {
            "member_no": rng.permutation(np.arange(100000, 100000 + n)),
            "zip": zips,
            "site": site,
            "flag": flag,
            "country": country,
            "color": color,
            "x": x.round(4),
            "z": z.round(4),
            "outcome": outcome,
        }
    )


def write_values_csv(path: Path, frame: pd.DataFrame) -> Path:
    """Write as a user's export does: codes as written, booleans as true/false, blanks for missing."""
    frame.to_csv(path, index=False)
    return path


def record_json(row: pd.Series) -> dict:
    """A record as a client sends it: JSON booleans for the flag (null when blank), codes as strings, numbers as numbers."""
    flag = {"true": True, "false": False}.get(str(row["flag"]).strip().lower()) if isinstance(row["flag"], str) else None
    out = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k != "outcome"}
    out["flag"] = flag
    return out


def code_jsonl(path: Path, seed: int = 0, n: int = 120) -> Path:
    """JSON Lines with a ``code`` column mixing numbers and text (1001, 1002, "guitar", null, "drum", and "1001.0" once)."""
    rng = np.random.default_rng(seed)
    choices = [1001, 1002, "guitar", None, "drum"]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            code = choices[i % len(choices)] if i != 7 else "1001.0"
            x = float(rng.normal())
            fh.write(json.dumps({"code": code, "x": round(x, 4), "label": "a" if x + (code == "guitar") > 0.3 else "b"}) + "\n")
    return path
