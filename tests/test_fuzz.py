"""Property-based fuzzing (hypothesis) of the two files a user hands Shipyard: the recipe YAML and the data CSV.

Whatever the content, the only failure allowed is a :class:`ShipyardError`
with a one-line message; anything else (a KeyError, a ValueError from pandas
or scikit-learn, a crash in training) is a bug. The examples are derandomised,
so CI runs the same bounded set every time (60 examples each, about 30 s); set
``SHIPYARD_FUZZ_EXAMPLES=500 SHIPYARD_FUZZ_RANDOM=1`` to explore further.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.errors import ShipyardError

EXAMPLES = int(os.environ.get("SHIPYARD_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SHIPYARD_FUZZ_RANDOM") is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,
)


def assert_one_line_error(error: BaseException) -> None:
    """The only acceptable failure: a ShipyardError whose message is one non-empty line."""
    assert isinstance(error, ShipyardError), f"{type(error).__name__}: {error}"
    line = error.one_line()
    assert line.strip() and "\n" not in line and "\r" not in line, repr(line)


# --- recipes -----------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.sampled_from(["auto", "inf", "2", "pgd", "fgsm", "none", "standard", "mlp", "resnet", "classification", "regression", "y", "data.csv"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)

KEYS = {
    "name": None,
    "task": None,
    "seed": None,
    "data": ["source", "target", "features", "positive_class", "split"],
    "prepare": ["scaler", "encoder", "numeric_imputer", "missing_indicator", "clip_quantile", "min_frequency", "augment", "reduce", "fail_on"],
    "imbalance": ["sampler", "class_weight", "loss", "threshold", "k_neighbors", "sampling_strategy"],
    "model": ["type", "hidden_sizes", "dropout", "activation", "n_blocks", "d_block"],
    "train": ["epochs", "batch_size", "learning_rate", "schedule", "early_stopping", "device", "adversarial", "privacy", "gradient_clip", "loss"],
    "evaluate": ["baseline", "bootstrap", "calibration", "cv", "cv_group", "learning_curve"],
    "explain": ["enabled", "samples", "row"],
    "attack": ["enabled", "methods", "norms", "epsilons", "l2_epsilons", "pgd_steps", "clip", "rows", "membership"],
    "export": ["opset", "parity_tolerance"],
}


@st.composite
def recipes(draw) -> str:
    """A recipe YAML: a valid small recipe with random keys replaced or added, or any YAML value, or any text."""
    mode = draw(st.sampled_from(["mutated", "mutated", "mutated", "value", "text"]))
    if mode == "text":
        return draw(st.text(max_size=200))
    if mode == "value":
        return yaml.safe_dump(draw(VALUES), allow_unicode=True)
    recipe = {
        "name": "fuzz",
        "data": {"source": "data.csv", "target": "y"},
        "model": {"hidden_sizes": [4]},
        "train": {"epochs": 1},
        "evaluate": {"bootstrap": {"samples": 0}},
    }
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(KEYS)))
        keys = KEYS[section]
        if keys is None or draw(st.booleans()) and draw(st.booleans()):
            recipe[section] = draw(VALUES)
        else:
            if not isinstance(recipe.get(section), dict):
                recipe[section] = {}
            key = draw(st.sampled_from(keys + ["epsilon", "unknown_key"]))
            recipe[section][key] = draw(VALUES)
    return yaml.safe_dump(recipe, allow_unicode=True)


def small_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.integers(0, 5, 60), "c": rng.choice(["u", "v"], 60)})
    frame["y"] = np.where(frame["a"] + rng.normal(size=60) > 0, "yes", "no")
    return frame


@FUZZ
@given(recipes())
def test_any_recipe_is_accepted_or_refused_in_one_line(text):
    from shipyard.pipeline import check_inputs
    from shipyard.recipe import load_recipe

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        small_table().to_csv(folder / "data.csv", index=False)
        path = folder / "recipe.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            recipe = load_recipe(path)
            check_inputs(recipe)  # every check a run makes before its run directory exists
        except Exception as error:  # noqa: BLE001  the property under test
            assert_one_line_error(error)


# --- data files ----------------------------------------------------------------------------------

CELLS = st.one_of(
    st.none(),
    st.just(""),
    st.just(" "),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 3.5e38, 1e-320, "1e999", "-inf", "NaN", "NA", "null", "?", "1,5", "0x1F", "١٢٣", "½"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
    st.booleans(),
)


@st.composite
def tables(draw) -> tuple[str, bytes]:
    """A CSV file's bytes and the recipe's task: random column kinds, missing values, unicode, huge numbers, empty strings."""
    task = draw(st.sampled_from(["classification", "regression"]))
    # (hypothesis favours the smallest and largest draws, so the rare branches are keyed on a middle value)
    n_rows = draw(st.integers(0, 6)) if draw(st.integers(0, 5)) == 3 else draw(st.integers(30, 60))
    n_cols = draw(st.integers(1, 4))
    columns: dict[str, list] = {}
    for j in range(n_cols):
        kind = draw(st.sampled_from(["float", "int", "category", "mixed", "text"]))
        name = draw(st.one_of(st.just(f"x{j}"), TEXT.filter(lambda s: s.strip() and s != "y")))
        if kind == "float":
            cells = st.floats(-1e6, 1e6) if draw(st.booleans()) else st.one_of(st.floats(-1e6, 1e6), st.none(), st.sampled_from([1e30, float("nan"), ""]))
        elif kind == "int":
            cells = st.one_of(st.integers(-100, 100), st.none())
        elif kind == "category":
            cells = st.sampled_from(["a", "b", "c", "é", "日本", "", None])
        elif kind == "text":
            cells = TEXT
        else:
            cells = CELLS
        columns[name] = draw(st.lists(cells, min_size=n_rows, max_size=n_rows))
    if draw(st.integers(0, 7)) == 3:  # a broken target now and then; mostly a usable one, so the features are what is fuzzed
        target = st.one_of(st.sampled_from(["yes", "no"]), st.none(), st.integers(0, 1), st.floats(-1e3, 1e3), st.just("n/a"))
        columns["y"] = draw(st.lists(target, min_size=n_rows, max_size=n_rows))
    elif task == "classification":
        labels = draw(st.sampled_from([["yes", "no"], ["a", "b", "c"], [0, 1], ["ja", "nein", "Ω"]]))
        order = np.random.default_rng(draw(st.integers(0, 1000))).permutation(n_rows)
        columns["y"] = [labels[i % len(labels)] for i in order]
    else:
        columns["y"] = draw(st.lists(st.floats(-1e3, 1e3), min_size=n_rows, max_size=n_rows))
    if draw(st.integers(0, 19)) == 7:  # now and then, bytes that are not a clean CSV at all
        return task, draw(st.binary(max_size=300))
    text = pd.DataFrame(columns).to_csv(index=False, sep=draw(st.sampled_from([",", ";", "\t"])))
    return task, text.encode(draw(st.sampled_from(["utf-8", "utf-8", "latin-1"])), errors="replace")


@FUZZ
@given(tables())
def test_any_csv_is_trained_on_or_refused_in_one_line(table):
    """Load, check, split, profile, fit the preprocessing and train one epoch, attack space included."""
    from shipyard.data.preparation import fit_preprocessing
    from shipyard.pipeline import check_inputs
    from shipyard.recipe import recipe_from_dict
    from shipyard.robustness.space import attack_space
    from shipyard.tasks import get_task
    from shipyard.training.fit import train_network

    task, content = table
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "data.csv").write_bytes(content)
        raw = {
            "name": "fuzz",
            "task": task,
            "data": {"source": "data.csv", "target": "y"},
            "model": {"hidden_sizes": [4]},
            "train": {"epochs": 1, "batch_size": 8},
            "prepare": {"fail_on": []},
        }
        try:
            recipe = recipe_from_dict(raw, base_dir=folder)
            prepared = check_inputs(recipe)
            fit_preprocessing(recipe, prepared)
            network, _ = train_network(recipe, prepared)
            output = get_task(recipe.task).predict(network, prepared.X["test"])
            assert np.isfinite(output).all()
            attack_space(prepared)
        except Exception as error:  # noqa: BLE001  the property under test
            assert_one_line_error(error)
