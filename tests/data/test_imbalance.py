"""Imbalance handling: sampler errors, SMOTENC rows, losses, threshold tuning, augmentation, refused steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shipyard.data.augment import augment
from shipyard.data.imbalance import resample
from shipyard.decision import decide
from shipyard.errors import DataError, RecipeError
from shipyard.evaluation.threshold import tune_threshold
from shipyard.training.losses import FocalLoss, balanced_class_weights, build_loss

from .test_leakage import make_recipe, prepared_for


def test_sampler_on_a_class_smaller_than_k_neighbors_names_class_and_count():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.array([0] * 36 + [1] * 4)
    with pytest.raises(DataError) as info:
        resample(X, y, "smote", ["healthy", "sick"], k_neighbors=5)
    text = info.value.one_line()
    assert "class 'sick' has 4 training row(s)" in text and "k_neighbors=5" in text
    assert "at most 3" in text and "Traceback" not in text
    X_res, y_res, source = resample(X, y, "smote", ["healthy", "sick"], k_neighbors=3)
    assert np.bincount(y_res).tolist() == [36, 36]
    np.testing.assert_array_equal(source[:40], np.arange(40))  # originals first, unchanged
    assert (source[40:] == -1).all()


def test_sampler_error_in_a_run_comes_before_training(mixed_csv):
    recipe = make_recipe(mixed_csv, imbalance={"sampler": "adasyn", "k_neighbors": 500})
    with pytest.raises(DataError, match=r"imbalance.sampler 'adasyn': class '(benign|malignant)' has \d+ training row"):
        prepared_for(mixed_csv, {"imbalance": {"sampler": "adasyn", "k_neighbors": 500}})
    assert recipe.imbalance.k_neighbors == 500


def test_smotenc_synthetic_rows_have_exactly_one_category(mixed_csv):
    prepared = prepared_for(mixed_csv, {"imbalance": {"sampler": "smotenc", "k_neighbors": 5}, "prepare": {"missing_indicator": True}})
    columns = prepared.preprocessor
    indicators = prepared.X_fit[:, columns.output_indices_["missing"]]
    assert set(np.unique(indicators)) <= {0.0, 1.0}
    start = columns.output_indices_["categorical"].start
    encoder = columns.named_transformers_["categorical"]
    synthetic = prepared.X_fit[len(prepared.split.train) :]
    assert len(synthetic) > 0
    at = start
    for cats in encoder.categories_:
        block = synthetic[:, at : at + len(cats)]
        assert set(np.unique(block)) <= {0.0, 1.0}
        assert (block.sum(axis=1) == 1).all()
        at += len(cats)


def test_smotenc_without_categorical_columns_is_refused():
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(DataError, match="no categorical columns"):
        resample(X, np.array([0] * 20 + [1] * 10), "smotenc", ["a", "b"], 3)


@pytest.mark.parametrize("prepare, key", [({"numeric_imputer": "iterative"}, "numeric_imputer 'iterative'"), ({"numeric_imputer": "knn"}, "numeric_imputer 'knn'")])
def test_steps_that_cannot_be_exported_faithfully_are_refused_before_the_run(mixed_csv, prepare, key):
    from shipyard.stages.prepare import load_and_split

    with pytest.raises(RecipeError) as info:
        load_and_split(make_recipe(mixed_csv, prepare=prepare))
    assert f"prepare.{key}" in info.value.one_line() and "ONNX" in info.value.one_line()


def test_l1_selection_that_keeps_nothing_says_which_knob(mixed_csv):
    with pytest.raises(DataError, match=r"prepare.reduce 'l1': no feature was kept.*raise prepare.reduce.C"):
        prepared_for(mixed_csv, {"prepare": {"reduce": {"method": "l1", "C": 1e-6}}})


def test_focal_loss_reduces_to_cross_entropy_and_down_weights_easy_rows():
    torch.manual_seed(0)
    logits = torch.randn(64, 3)
    target = torch.randint(0, 3, (64,))
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, target), ce, atol=1e-6)
    assert FocalLoss(gamma=2.0)(logits, target) < ce
    weight = torch.tensor([1.0, 2.0, 3.0])
    weighted = torch.nn.functional.cross_entropy(logits, target, weight=weight)
    assert torch.allclose(FocalLoss(0.0, weight)(logits, target), weighted, atol=1e-6)


def test_balanced_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 90 + [1] * 10)
    np.testing.assert_allclose(balanced_class_weights(y, 2), compute_class_weight("balanced", classes=np.array([0, 1]), y=y))
    loss = build_loss("cross_entropy", "balanced", y, 2)
    np.testing.assert_allclose(loss.weight.numpy(), [100 / 180, 100 / 20], rtol=1e-6)


def test_threshold_tuning_maximises_f1_or_reaches_the_recall():
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    p_pos = np.array([0.05, 0.1, 0.2, 0.3, 0.35, 0.45, 0.4, 0.6, 0.7, 0.9])
    proba = np.column_stack([1 - p_pos, p_pos])
    best = tune_threshold(y, proba, 1, "f1")
    # Between 0.35 and 0.4 every positive is caught with one false positive: F1 = 8/9, better than 0.5 (F1 6/7).
    assert best["threshold"] == pytest.approx(0.375)
    assert best["validation"]["f1"] == pytest.approx(8 / 9)
    recall = tune_threshold(y, proba, 1, "recall", target_recall=0.75)
    assert recall["threshold"] == pytest.approx(0.525) and recall["validation"]["recall"] == pytest.approx(0.75)
    assert decide(proba, 1, best["threshold"]).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_augmentation_keeps_originals_and_labels():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=50), np.eye(2)[rng.integers(0, 2, 50)]]).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    numeric = np.array([True, False, False])
    for method in ("noise", "mixup"):
        X_aug, y_aug = augment(X, y, method, 2.0, 0, numeric=numeric)
        assert len(X_aug) == 150
        np.testing.assert_array_equal(X_aug[:50], X)
        np.testing.assert_array_equal(y_aug[:50], y)
        assert set(np.unique(X_aug[:, 1:])) <= {0.0, 1.0}  # one-hot columns stay one-hot
    X_mix, y_mix = augment(X, y, "mixup", 2.0, 0, numeric=numeric)
    # Same-class mixup: a synthetic row's value lies within its class's training range.
    for c in (0, 1):
        lo, hi = X[y == c, 0].min(), X[y == c, 0].max()
        assert ((X_mix[50:][y_mix[50:] == c, 0] >= lo - 1e-6) & (X_mix[50:][y_mix[50:] == c, 0] <= hi + 1e-6)).all()


def test_threshold_tuning_on_a_multiclass_target_is_refused():
    from shipyard.recipe import recipe_from_dict
    from shipyard.stages.prepare import load_and_split

    recipe = recipe_from_dict({"name": "w", "data": {"source": "sklearn:wine", "target": "target"}, "imbalance": {"threshold": {"objective": "f1"}}})
    with pytest.raises(DataError, match="imbalance.threshold: tuning a decision threshold needs a binary target; 'target' has 3 classes"):
        load_and_split(recipe)


def test_prior_shift_threshold_is_the_closed_form_for_balanced_weights():
    from shipyard.evaluation.threshold import prior_shift_factor, prior_shift_threshold

    y = np.array([0] * 90 + [1] * 10)
    weights = balanced_class_weights(y, 2)  # 100/180 and 100/20: w1/w0 = 9
    counts = np.bincount(y).astype(float)
    factor = prior_shift_factor(weights * counts, counts, positive_index=1)
    assert factor == pytest.approx(9.0)
    assert prior_shift_threshold(factor) == pytest.approx(0.9)  # odds 9 on p_w <=> odds 1 on p
    assert prior_shift_threshold(factor, target=0.25) == pytest.approx(0.75)  # 9 * (1/3) = 3
    assert prior_shift_factor(counts, counts, positive_index=0) == pytest.approx(1.0)  # no weighting: no shift
    # Balanced resampling without weights shifts the priors by the same factor.
    assert prior_shift_factor(np.array([90.0, 90.0]), counts, positive_index=1) == pytest.approx(9.0)
    # Exact on posteriors related by Elkan's theorem: the corrected threshold reproduces the unweighted arg-max.
    p = np.linspace(0.001, 0.999, 999)
    p = p[np.abs(p - 0.5) > 1e-6]
    odds_w = factor * p / (1 - p)
    p_w = odds_w / (1 + odds_w)
    weighted = np.column_stack([1 - p_w, p_w])
    unweighted = np.column_stack([1 - p, p])
    np.testing.assert_array_equal(decide(weighted, 1, prior_shift_threshold(factor)), unweighted.argmax(axis=1))
    assert (decide(weighted, 1, None) != unweighted.argmax(axis=1)).any()  # arg-max of the weighted model differs


def test_prior_shift_undoes_class_weights_of_a_fitted_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    from shipyard.evaluation.threshold import prior_shift_factor, prior_shift_threshold

    rng = np.random.default_rng(0)
    n = 20000
    y = (rng.random(n) < 0.1).astype(np.int64)
    X = rng.normal(size=(n, 2)) + 1.5 * y[:, None]  # Gaussian classes: the log-odds is linear, so logistic is exact
    weights = balanced_class_weights(y, 2)
    plain = LogisticRegression(C=1e6).fit(X, y)
    weighted = LogisticRegression(C=1e6, class_weight={0: weights[0], 1: weights[1]}).fit(X, y)
    counts = np.bincount(y).astype(float)
    threshold = prior_shift_threshold(prior_shift_factor(weights * counts, counts, 1))
    X_new = rng.normal(size=(5000, 2)) + 1.5 * (rng.random(5000) < 0.1)[:, None]
    corrected = decide(weighted.predict_proba(X_new), 1, threshold)
    reference = plain.predict_proba(X_new).argmax(axis=1)
    assert (decide(weighted.predict_proba(X_new), 1, None) != reference).mean() > 0.05  # weighting moved many decisions
    assert (corrected == reference).mean() > 0.995


def test_matched_prior_factor_recovers_a_known_shift_without_labels():
    from shipyard.evaluation.threshold import deweight, matched_prior_factor

    rng = np.random.default_rng(1)
    p = rng.beta(0.3, 3.0, size=4000)  # calibrated-looking posteriors of a rare class
    prior = float(p.mean())
    odds_w = 6.0 * p / (1 - p)
    p_w = odds_w / (1 + odds_w)
    proba = np.column_stack([1 - p_w, p_w])
    factor = matched_prior_factor(proba, 1, prior)
    assert factor == pytest.approx(6.0, rel=1e-6)
    np.testing.assert_allclose(deweight(proba, factor, 1), p, atol=1e-9)
    assert matched_prior_factor(proba, 1, prior / 2) > factor  # a rarer prior needs a larger correction
