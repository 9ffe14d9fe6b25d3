"""Issue 9, the parts that need no trained run: input range, decision rule, undefined metrics, verdicts, explanations' wording."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.evaluation.bootstrap import classification_stats, resample_weights
from shipyard.evaluation.leaderboard import NETWORK, leaderboard
from shipyard.evaluation.metrics import classification_metrics
from shipyard.schema import Column
from shipyard.tasks import get_task

# --- item 1: the manifest records the training range; the accepted range is relative to it ---------------------


def test_column_min_max_round_trip_and_old_manifests_still_read():
    col = Column("age", "numeric", "age", min=18.0, max=90.0)
    data = col.to_dict()
    assert data == {"name": "age", "kind": "numeric", "onnx_name": "age", "dtype": "float32", "min": 18.0, "max": 90.0}
    assert Column.from_dict(data) == col
    old = {"name": "age", "kind": "numeric", "onnx_name": "age", "dtype": "float32"}  # a manifest written before ranges
    assert Column.from_dict(old).min is None and "min" not in Column.from_dict(old).to_dict()
    assert "min" not in Column("city", "categorical", "city", ["a"]).to_dict()


def test_accepted_range_is_the_training_range_widened_and_3e38_is_outside():
    from shipyard.schema import accepted_range, out_of_range

    col = Column("x", "numeric", "x", min=0.0, max=2.0)
    assert accepted_range(col, 10.0) == (-20.0, 22.0)
    assert accepted_range(col, None)[1] == pytest.approx(3.4028234663852886e38)
    constant = Column("c", "numeric", "c", min=5.0, max=5.0)
    assert accepted_range(constant, 10.0) == (-45.0, 55.0)
    frame = pd.DataFrame({"x": np.array([1.0, 3e38, -3e38, np.nan, 22.0], dtype=np.float32)})
    errors = out_of_range(frame, [col], 10.0)
    assert sorted(errors) == [1, 2] and "column 'x' = 3e+38 is outside the accepted range [-20, 22]" in errors[1]


# --- item 11: one decision rule in the point metrics, the bootstrap and the leaderboard ------------------------


def _binary(n=300, seed=0, positive_share=0.1):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_share).astype(int)
    score = np.clip(0.25 * y + rng.normal(0.2, 0.12, n), 0.001, 0.999)
    return y, np.column_stack([1 - score, score])


def test_bootstrap_and_leaderboard_use_the_threshold_of_the_point_metrics():
    y, proba = _binary()
    threshold = 0.3
    W = resample_weights(len(y), 6, seed=1)
    stats = classification_stats(y, proba, W, 1, threshold)
    for b in range(len(W)):
        rows = np.repeat(np.arange(len(y)), W[b].astype(int))
        for key, value in classification_metrics(y[rows], proba[rows], 1, threshold).items():
            assert stats[key][b] == pytest.approx(value, abs=1e-9, nan_ok=True), key
    task = get_task("classification")
    board = leaderboard(task, y, {NETWORK: proba, "dummy": np.tile(proba.mean(axis=0), (len(y), 1))}, W, 0.95, 1, {NETWORK: threshold})
    at_threshold = classification_metrics(y, proba, 1, threshold)
    assert board["models"][NETWORK]["f1"]["value"] == pytest.approx(at_threshold["f1"])
    assert at_threshold["f1"] != pytest.approx(classification_metrics(y, proba, 1)["f1"])  # arg-max would differ


# --- item 12: metrics undefined on rows without a class are NaN, not 0 or 1 ------------------------------------


def test_rows_without_a_positive_give_undefined_recall_f1_and_balanced_accuracy():
    y = np.zeros(20, dtype=int)
    proba = np.column_stack([np.linspace(0.9, 0.6, 20), np.linspace(0.1, 0.4, 20)])
    m = classification_metrics(y, proba, 1)
    assert m["accuracy"] == 1.0
    for key in ("recall", "f1", "balanced_accuracy", "roc_auc", "pr_auc", "f1_macro", "precision"):
        assert np.isnan(m[key]), key
    stats = classification_stats(y, proba, resample_weights(20, 3, 0), 1)
    assert np.isnan(stats["recall"]).all() and np.isnan(stats["balanced_accuracy"]).all()


def test_cv_summary_leaves_undefined_folds_out_and_says_so():
    from shipyard.evaluation.cv import summarize_folds
    from shipyard.recipe import recipe_from_dict

    recipe = recipe_from_dict({"name": "cv", "data": {"source": "sklearn:iris", "target": "target"}, "evaluate": {"cv": 3, "cv_group": "g"}})
    folds = [
        {"fold": 1, "metrics": {"recall": 0.8, "accuracy": 0.9}, "absent_classes": []},
        {"fold": 2, "metrics": {"recall": float("nan"), "accuracy": 1.0}, "absent_classes": ["malignant"]},
        {"fold": 3, "metrics": {"recall": 0.6, "accuracy": 0.8}, "absent_classes": []},
    ]
    cv = summarize_folds(recipe, folds)
    assert cv["mean"]["recall"] == pytest.approx(0.7) and cv["std"]["recall"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert cv["defined"] == {"recall": 2, "accuracy": 3}
    assert cv["findings"] == [
        "In 1 of 3 folds the test rows hold no row of class 'malignant' (folds 2): recall are undefined there (null) and left out "
        "of the mean and std, grouped by 'g' (whole groups move between folds)."
    ]


# --- item 15: on imbalanced data verdicts use balanced accuracy, macro F1 and PR-AUC ---------------------------


def test_imbalanced_verdicts_do_not_call_the_majority_dummy_as_good():
    y, proba = _binary(n=400, seed=3, positive_share=0.06)
    task = get_task("classification")
    dummy = np.tile([0.94, 0.06], (len(y), 1))
    W = resample_weights(len(y), 300, seed=0)
    on_accuracy = leaderboard(task, y, {NETWORK: proba, "dummy": dummy}, W)
    assert on_accuracy["comparisons"]["dummy"]["verdict"] == "as good"  # the misleading verdict of accuracy
    metrics = task.verdict_metrics(y)
    assert metrics == ["balanced_accuracy", "f1_macro", "pr_auc"]
    board = leaderboard(task, y, {NETWORK: proba, "dummy": dummy}, W, verdict_metrics=metrics)
    assert board["primary"] == "balanced_accuracy" and board["verdict_metrics"] == metrics
    assert {m: c["verdict"] for m, c in board["comparisons"]["dummy"]["by_metric"].items()} == dict.fromkeys(metrics, "worse")
    assert board["findings"][0].startswith("The network beats the majority-class dummy baseline on balanced_accuracy, f1_macro, pr_auc")
    assert task.verdict_metrics(np.array([0, 1] * 50)) == ["accuracy"]


# --- item 13: the SHAP fallback states its reason and the measured additivity error -----------------------------


def test_shap_fallback_gives_the_reason_and_the_additivity_error():
    import torch
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler
    from torch import nn

    from shipyard.explain import Model, explain

    class Functional(nn.Module):  # an activation DeepLIFT cannot see: torch.nn.functional, not a module
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.a, self.b = nn.Linear(3, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.b(torch.nn.functional.softplus(self.a(x)) ** 2)

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(80, 3)).astype(np.float32), columns=["a", "b", "c"])
    schema = [Column(c, "numeric", c) for c in frame.columns]
    pre = ColumnTransformer([("numeric", StandardScaler(), list(frame.columns))]).fit(frame)
    net, task = Functional().eval(), get_task("classification")

    def predict(f):
        return task.predict(net, pre.transform(f).astype(np.float32))

    model = Model(schema, predict, task, ["no", "yes"], 1, net, pre)
    result = explain(model, frame.iloc[:20], None, frame.iloc[20:], samples=10, background=20, depth=2)
    fallback = result["shap"]["fallback"]
    assert result["shap"]["explainer"].startswith("PermutationExplainer")
    assert fallback["deep_additivity_error"] > fallback["tolerance"] > 0
    assert "did not add up" in fallback["reason"] and "functional activation" in fallback["reason"]
    assert any("SHAP values come from the model-agnostic PermutationExplainer, not DeepExplainer (DeepLIFT)" in f for f in result["findings"])


# --- item 14: wording --------------------------------------------------------------------------------------------


def test_surrogate_fidelity_of_a_regression_is_an_r2_not_a_share_of_rows():
    from shipyard.explain.explainer import _findings

    result = {"shap": {"ranking": ["a", "b", "c"]}, "surrogate": {"depth": 4, "fidelity": 0.281}}
    text = " ".join(_findings(result, get_task("regression")))
    assert "R² = 0.281" in text and "of the time" not in text and "28.1%" not in text
    text = " ".join(_findings(result, get_task("classification")))
    assert "agrees with the network's predicted class on 28.1% of the test rows" in text


def test_permutation_importance_is_named_an_increase():
    from shipyard.explain.explainer import _findings

    result = {"shap": {"ranking": ["a", "b"]}, "permutation": {"metric": "log-loss", "ranking": ["a", "b"]}, "surrogate": {"depth": 2, "fidelity": 1.0}}
    assert "increase in test log-loss when the column is shuffled" in " ".join(_findings(result, get_task("classification")))


def test_ordinal_encoder_honours_min_frequency():
    from shipyard.data.preprocess import build_preprocessor
    from shipyard.recipe import PrepareSpec

    schema = [Column("city", "categorical", "city")]
    train = pd.DataFrame({"city": ["a"] * 6 + ["b"] * 6 + ["rare"]})
    pre = build_preprocessor(schema, PrepareSpec(encoder="ordinal", min_frequency=5), train).fit(train)
    codes = pre.transform(pd.DataFrame({"city": ["a", "b", "rare", "never"]})).ravel()
    assert codes.tolist() == [0.0, 1.0, -1.0, -1.0]  # the rare category is encoded like an unseen one


def test_regression_diagnosis_names_the_units_of_loss_and_rmse():
    from shipyard.evaluation.diagnosis import diagnose

    history = [{"epoch": 1, "train_loss": 0.50, "val_loss": 0.52, "train_rmse": 53.0, "val_rmse": 55.1}]
    text = diagnose(history, 1, get_task("regression").history_units())["findings"][0]
    assert "(on the standardised target)" in text and "55.100 vs training 53.000 (in the target's units, like the test RMSE)" in text


def test_waterfall_labels_a_category_as_value_equals_column():
    from shipyard.report.builtin import waterfall_figure

    fig = waterfall_figure({"values": [0.5, -0.2, 0.1], "expected_value": 0.3, "data": [39.1, "Torgersen", None]}, ["bill_length_mm", "island", "sex"])
    labels = {t.get_text() for ax in fig.axes for t in ax.get_yticklabels()}
    assert {"Torgersen = island", "39.1 = bill_length_mm", "missing = sex"} <= labels
    assert not any(label.startswith("nan") for label in labels)
