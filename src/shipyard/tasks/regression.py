"""Regression: a numeric target in, one value out (in the target's units)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.errors import DataError, RecipeError
from shipyard.tasks.base import Target, Task, network_input

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from shipyard.data.prepared import Prepared
    from shipyard.recipe import Recipe

QUANTILE_BINS = 5
"""Splits are stratified on this many quantile bins of the target, so every part covers its range."""


class Regression(Task):
    """Predict a number. The network is trained on the standardised target and exported in target units."""

    name = "regression"
    output = "prediction"
    primary_metric = "rmse"
    has_classes = False
    association_key = "spearman"
    leakage_key = "prepare.leakage_correlation"
    leakage_measure = "|Spearman rho|"

    def check_recipe(self, recipe: "Recipe") -> None:
        loss = recipe.train.loss
        if loss == "cross_entropy":
            raise RecipeError("train.loss 'cross_entropy' does not fit task 'regression'", "use mse or huber")
        imbalance = recipe.imbalance
        # Class imbalance has no meaning for a numeric target: refuse what would silently do nothing or fail later.
        for key, value, default in (
            ("imbalance.sampler", imbalance.sampler, "none"),
            ("imbalance.class_weight", imbalance.class_weight, "none"),
            ("imbalance.loss", imbalance.loss, "cross_entropy"),
            ("imbalance.threshold.objective", imbalance.threshold.objective, "none"),
        ):
            if value != default:
                raise RecipeError(f"{key}: {value!r} needs class labels; task 'regression' has a numeric target", f"remove {key} (or set it to {default!r})")
        if recipe.prepare.reduce.method in ("kbest", "l1"):
            raise RecipeError(
                f"prepare.reduce.method: {recipe.prepare.reduce.method!r} selects features against class labels; task 'regression' has a numeric target",
                "use 'pca' or 'variance'",
            )
        if recipe.evaluate.calibration.temperature_scaling:
            raise RecipeError("evaluate.calibration.temperature_scaling: calibrates class probabilities; task 'regression' has none", "remove it")

    def read_target(self, values: pd.Series, recipe: "Recipe") -> Target:
        spec = recipe.data
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{spec.source}: target column '{spec.target}' must be numeric for task: regression, got {values.iloc[row]!r} in row {row}",
                "use task: classification for labels",
            )
        if numbers.nunique() < 2:
            raise DataError(f"{spec.source}: target column '{spec.target}' is constant; nothing to regress", "check data.target")
        return Target(numbers.to_numpy(dtype=np.float64))

    def strata(self, y: np.ndarray, n_bins: int = QUANTILE_BINS) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        return np.asarray(pd.qcut(y, q=min(n_bins, len(np.unique(y))), labels=False, duplicates="drop"))

    def describe_target(self, target: Target, target_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        y = target.y
        return {"target_stats": {"min": float(y.min()), "mean": float(y.mean()), "std": float(y.std()), "max": float(y.max())}}, []

    def association(self, values: pd.Series, y: np.ndarray, kind: str) -> tuple[float, float] | None:
        from shipyard.data.association import spearman_association

        return spearman_association(values, y, kind)

    def leakage_limit(self, recipe: "Recipe") -> float:
        return recipe.prepare.leakage_correlation

    # --- training ---------------------------------------------------------------------------

    def n_outputs(self, prepared: "Prepared") -> int:
        return 1

    def loss(self, recipe: "Recipe", prepared: "Prepared") -> "nn.Module":
        from shipyard.training.regression import SqueezedLoss

        return SqueezedLoss(recipe.train.loss or "mse")

    def distillation_loss(self, recipe: "Recipe", prepared: "Prepared", temperature: float, alpha: float) -> "nn.Module":
        # Values have no temperature to soften: the soft term is the squared distance to the teacher's (standardised) values.
        from torch import nn

        from shipyard.training.losses import DistillationLoss

        return DistillationLoss(self.loss(recipe, prepared), nn.MSELoss(), alpha)

    def train_metric(self, prepared: "Prepared") -> tuple[str, Any]:
        from shipyard.training.regression import rmse_in_units, target_scale

        _, std = target_scale(prepared.y[prepared.split.train])
        return "rmse", rmse_in_units(std)

    def history_units(self) -> dict[str, str]:
        """The loss is computed on the standardised target; the per-epoch RMSE is in the target's units, as the test RMSE."""
        return {"loss": "on the standardised target", "metric": "in the target's units, like the test RMSE"}

    def fit_targets(self, prepared: "Prepared") -> tuple[np.ndarray, np.ndarray]:
        from shipyard.training.regression import target_scale

        mean, std = target_scale(prepared.y[prepared.split.train])
        scale = lambda y: ((np.asarray(y, dtype=np.float64) - mean) / std).astype(np.float32)  # noqa: E731
        return scale(prepared.y_fit), scale(prepared.y[prepared.split.validation])

    def finish(self, network: "nn.Module", prepared: "Prepared") -> "nn.Module":
        from shipyard.models.wrappers import Rescale
        from shipyard.training.regression import target_scale

        mean, std = target_scale(prepared.y[prepared.split.train])
        return Rescale(network, mean, std).eval()

    def predict(self, network: "nn.Module", X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return network(network_input(X)).numpy().reshape(-1)

    def export_head(self, network: "nn.Module") -> "nn.Module":
        return network

    # --- evaluation -------------------------------------------------------------------------

    def scores(self, y: np.ndarray, output: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> dict[str, float]:
        from shipyard.evaluation.metrics import regression_metrics

        return regression_metrics(y, output)

    def bootstrap_scores(
        self, y: np.ndarray, output: np.ndarray, weights: np.ndarray, positive_index: int | None = None, threshold: float | None = None
    ) -> dict[str, np.ndarray]:
        from shipyard.evaluation.bootstrap import regression_stats

        return regression_stats(y, output, weights)

    def baselines(self, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, seed: int, prepared: "Prepared") -> dict[str, np.ndarray]:
        from sklearn.dummy import DummyRegressor
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import Ridge

        models = {
            "linear_regression": Ridge(alpha=1.0),
            "hist_gradient_boosting": HistGradientBoostingRegressor(random_state=seed),
            "dummy_mean": DummyRegressor(strategy="mean"),
        }
        return {name: m.fit(X_train, y_train).predict(X_test) for name, m in models.items()}

    def evaluate(self, recipe: "Recipe", prepared: "Prepared", model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from shipyard.evaluation.outputs import as_outputs

        y_test = prepared.y[prepared.split.test]
        values = as_outputs(self, model, prepared)("test")
        return {"test": self.scores(y_test, values)}, {"network": values}

    def parity_tolerance(self, recipe: "Recipe", prepared: "Prepared", tolerance: float | None = None) -> float:
        # Values are in target units: the tolerance is relative to the target's scale.
        base = recipe.export.parity_tolerance if tolerance is None else tolerance
        return base * max(1.0, float(np.abs(prepared.y).max()))

    def metric_names(self, prepared: "Prepared") -> list[str]:
        from shipyard.evaluation.metrics import REGRESSION_KEYS

        # mape is defined only when no true value is 0
        return [k for k in REGRESSION_KEYS if k != "mape" or bool(np.all(np.asarray(prepared.y) != 0))]

    def manifest_outputs(self, prepared: "Prepared") -> dict[str, Any]:
        return {self.output: {"dtype": "float32", "shape": ["batch", 1]}}

    # --- explanations -----------------------------------------------------------------------

    def explained_outputs(self, labels: list[str] | None, positive_index: int | None) -> tuple[np.ndarray, list[Any], str]:
        return np.ones((1, 1)), [None], "the predicted value (target units)"

    def explained_values(self, output: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(output, dtype=np.float64).reshape(-1, 1) @ matrix.T

    def describe_prediction(self, output_row: np.ndarray, labels: list[str] | None) -> Any:
        return float(np.ravel(output_row)[0])

    def permutation_scorer(self, labels: list[str] | None) -> tuple[str, Any]:
        def score(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> float:
            return -float(np.sqrt(np.mean((np.ravel(estimator.predict_fn(X)) - y) ** 2)))

        return "RMSE", score

    def surrogate(self, depth: int, seed: int) -> tuple[Any, str]:
        from sklearn.tree import DecisionTreeRegressor

        return DecisionTreeRegressor(max_depth=depth, random_state=seed), "R² against the network's predictions"

    def describe_fidelity(self, depth: int, fidelity: float) -> str:
        """The surrogate's fidelity is an R², not a share of rows."""
        return f"The depth-{depth} surrogate tree explains R² = {fidelity:.3f} of the variance of the network's predictions on the test rows (an R², not a share of rows)"

    def surrogate_target(self, output: np.ndarray) -> np.ndarray:
        return np.ravel(output)

    # --- attacks ----------------------------------------------------------------------------

    attack_measure = (
        "RMSE (and every test metric) on the attacked rows; error increase: RMSE attacked / RMSE clean - 1; "
        "the attacks maximise the squared error of each row (there is no class to flip, so no success rate)"
    )

    def art_estimator(self, module: "nn.Module", n_features: int, n_outputs: int, clip_values: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
        from art.estimators.regression import PyTorchRegressor
        from torch import nn

        device = "gpu" if next(module.parameters()).is_cuda else "cpu"
        return PyTorchRegressor(model=module, loss=nn.MSELoss(), input_shape=(n_features,), clip_values=clip_values, device_type=device)

    def attack_targets(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float32).reshape(-1)  # ART's regressor flattens the outputs: (n,) targets, no broadcasting

    def robustness_scores(
        self, y: np.ndarray, clean: np.ndarray, attacked: np.ndarray, positive_index: int | None = None, threshold: float | None = None
    ) -> dict[str, float]:
        scores = self.scores(y, attacked)
        before = self.scores(y, clean)["rmse"]
        scores["error_increase"] = float(scores["rmse"] / before - 1.0) if before > 0 else float("nan")
        scores["mean_abs_change"] = float(np.mean(np.abs(np.ravel(attacked) - np.ravel(clean))))
        return scores

    def row_losses(self, y: np.ndarray, output: np.ndarray) -> np.ndarray:
        return (np.ravel(output).astype(np.float64) - np.asarray(y, dtype=np.float64)) ** 2

    # --- serving ----------------------------------------------------------------------------

    def shape_output(self, output: np.ndarray) -> np.ndarray:
        return np.asarray(output).reshape(-1)

    def decisions(self, output: np.ndarray, labels: list[Any], positive_index: int | None, threshold: float | None) -> np.ndarray:
        return np.asarray(output).reshape(-1)

    def response(
        self, output: np.ndarray, decided: np.ndarray, labels: list[Any], model: str, warnings: list[str], errors: dict[int, str] | None = None
    ) -> dict[str, Any]:
        errors = errors or {}
        return {
            "predictions": [None if i in errors else float(v) for i, v in enumerate(output)],
            "model": model,
            "warnings": warnings,
            "errors": [{"record": i, "detail": why} for i, why in sorted(errors.items())],
        }

    def response_model(self) -> type:
        from shipyard.serving.responses import RegressionResponse

        return RegressionResponse
