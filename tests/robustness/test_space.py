"""The attack space: numeric features move, one-hot blocks and indicators do not, in training standard deviations, inside the training range."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shipyard.data.preparation import fit_preprocessing, load_and_split
from shipyard.recipe import recipe_from_dict
from shipyard.robustness.space import Standardised, attack_space


def mixed(mixed_csv, **prepare):
    recipe = recipe_from_dict(
        {"name": "m", "data": {"source": str(mixed_csv), "target": "diagnosis"}, "prepare": {"missing_indicator": True, **prepare}}
    )
    prepared = load_and_split(recipe)
    fit_preprocessing(recipe, prepared)
    return prepared


def test_only_numeric_features_are_perturbed(mixed_csv):
    prepared = mixed(mixed_csv)
    space = attack_space(prepared)
    columns = prepared.preprocessor
    numeric = np.zeros(prepared.n_features, dtype=bool)
    numeric[columns.output_indices_["numeric"]] = True
    assert space.mask.tolist() == numeric.tolist()
    # The one-hot block of 'size' and 'texture' and the missing-value indicators are left alone.
    assert columns.output_indices_["categorical"].stop - columns.output_indices_["categorical"].start >= 5
    assert not space.mask[columns.output_indices_["missing"]].any()
    assert set(space.fixed_columns) == {"size", "texture"}
    assert set(space.perturbed_columns) == {"mean smoothness", "mean concavity", "worst area", "worst symmetry"}


@pytest.mark.parametrize("scaler", ["standard", "minmax", "none"])
def test_epsilon_unit_is_the_training_standard_deviation_whatever_the_scaler(mixed_csv, scaler):
    prepared = mixed(mixed_csv, scaler=scaler)
    space = attack_space(prepared)
    std = prepared.X["train"].astype(np.float64).std(axis=0)
    np.testing.assert_allclose(space.scale[space.mask], std[space.mask], rtol=1e-6)
    assert (space.scale[~space.mask] == 1).all()
    if scaler == "standard":
        np.testing.assert_allclose(space.scale[space.mask], 1.0, rtol=1e-5)
    else:  # not standardised: the unit is computed, not assumed
        assert not np.allclose(space.scale[space.mask], 1.0, rtol=0.05)
    np.testing.assert_array_equal(space.lower, prepared.X["train"].min(axis=0))
    np.testing.assert_array_equal(space.upper, prepared.X["train"].max(axis=0))


def test_projection_keeps_rows_in_range_and_fixed_features_unchanged(mixed_csv):
    prepared = mixed(mixed_csv)
    space = attack_space(prepared)
    X = prepared.X["test"][:20].copy()
    j = int(np.flatnonzero(space.mask)[0])
    X[0, j] = space.upper[j] + 3.0  # a clean value already above the training range
    pushed = X + 5.0 * space.scale  # every feature pushed far up, fixed ones included
    out = space.project(X, pushed, clip=True)
    assert (out[:, ~space.mask] == X[:, ~space.mask]).all()
    assert (out[1:, space.mask] <= space.upper[space.mask]).all()
    assert out[0, j] == X[0, j]  # may not move further out
    pulled = space.project(X, X - 100.0 * space.scale, clip=True)
    assert pulled[0, j] == space.lower[j] and (pulled[:, space.mask] >= np.minimum(space.lower, X)[:, space.mask]).all()
    assert (space.project(X, pushed, clip=False)[:, space.mask] == pushed[:, space.mask]).all()
    assert np.array_equal(space.project(X, X.copy(), clip=True), X)  # epsilon 0: the rows themselves


def test_the_standardised_network_is_the_same_function(mixed_csv):
    prepared = mixed(mixed_csv, scaler="minmax")
    space = attack_space(prepared)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(prepared.n_features, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).eval()
    X = prepared.X["test"][:10]
    with torch.no_grad():
        direct = net(torch.from_numpy(X))
        seen = Standardised(net, space.scale)(torch.from_numpy(space.standardise(X)))
    torch.testing.assert_close(seen, direct, rtol=1e-5, atol=1e-6)
    linf, l2 = space.perturbation_norms(X, X + 0.5 * space.scale * space.mask)
    np.testing.assert_allclose(linf, 0.5, rtol=1e-5)
    np.testing.assert_allclose(l2, 0.5 * np.sqrt(space.mask.sum()), rtol=1e-5)


def test_art_bounds_are_a_proper_box_when_a_feature_is_constant(mixed_csv):
    """ART refuses clip values with min >= max: a feature constant in training and in the attacked rows (an
    indicator that is always 0) gets a box one unit wide; project() keeps it fixed anyway."""
    prepared = mixed(mixed_csv)
    space = attack_space(prepared)
    X = prepared.X["test"][:20].copy()
    X[:, ~space.mask] = space.lower[~space.mask]  # every fixed feature constant, equal to its training minimum
    space.upper[~space.mask] = space.lower[~space.mask]  # ... and constant over the training rows too
    lower, upper = space.art_bounds(X)
    assert (lower < upper).all()
    np.testing.assert_allclose(upper[~space.mask], lower[~space.mask] + 1.0)
    np.testing.assert_array_equal(lower[space.mask], (np.minimum(space.lower, X.min(axis=0)) / space.scale)[space.mask])
