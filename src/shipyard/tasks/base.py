"""The :class:`Task` interface: what "classification" or "regression" means to every stage.

A task owns the target (how labels or values are read, checked and
stratified), the output head (logits → probabilities, or a value), the
default loss and per-epoch metric, the test metrics and their bootstrap, the
baselines, the decision rule, the bundle's outputs, and the recipe options it
accepts. Code outside a task asks the task; it never asks "which task is this?".
Text and image classification are :class:`~shipyard.tasks.classification.Classification`
over another input modality (the model kind's ``input``), not new tasks.

This module and the task modules import only numpy, pandas and pydantic at
import time; torch and scikit-learn are imported inside the methods that
train or evaluate, so the server can use a task without them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from shipyard.data.prepared import Prepared
    from shipyard.evaluation.outputs import ModelOutputs
    from shipyard.recipe import Recipe


def network_input(X: np.ndarray) -> Any:
    """A tensor of network inputs: integer arrays (token ids) as int64, everything else as float32.

    Parameters
    ----------
    X : ndarray of shape (n_rows, ...)
        Preprocessed features, token ids or pixels.

    Returns
    -------
    torch.Tensor
    """
    import torch

    if np.issubdtype(np.asarray(X).dtype, np.integer):
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.int64))
    return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))


@dataclass
class Target:
    """The target column read by a task.

    Attributes
    ----------
    y : ndarray of shape (n_rows,)
        Class indices (int64) or values (float64).
    labels : list
        Class labels in index order (empty for regression).
    positive_index : int or None
        Positive class of a binary task.
    """

    y: np.ndarray
    labels: list[Any] = field(default_factory=list)
    positive_index: int | None = None


class Task(ABC):
    """One kind of prediction problem.

    Class attributes
    ----------------
    name : str
        The recipe's ``task``.
    output : str
        Name of the bundle graph's output (``probabilities`` or ``prediction``).
    primary_metric : str
        The metric the leaderboard ranks by and verdicts use.
    has_classes : bool
        Whether outputs are class probabilities (calibration, thresholds,
        confusion matrices apply).
    """

    name: ClassVar[str]
    output: ClassVar[str]
    primary_metric: ClassVar[str]
    has_classes: ClassVar[bool]

    def __eq__(self, other: object) -> bool:
        # A task equals its name, so ``predictor.task == "regression"`` reads as it did when tasks were strings.
        if isinstance(other, str):
            return other == self.name
        return isinstance(other, Task) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # --- the recipe and the data (before the run directory exists) ---------------------

    def check_recipe(self, recipe: "Recipe") -> None:
        """Refuse recipe options this task cannot honour (a RecipeError naming the key). Default: none."""

    @abstractmethod
    def read_target(self, values: pd.Series, recipe: "Recipe") -> Target:
        """Check the target column and encode it.

        Raises
        ------
        DataError
            Naming the column, when it cannot serve this task.
        """

    @abstractmethod
    def strata(self, y: np.ndarray, n_bins: int = 5) -> np.ndarray:
        """Stratum of each row for stratified splits and folds (the class, or a quantile bin)."""

    @abstractmethod
    def describe_target(self, target: Target, target_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Target statistics for the data profile, and findings about the target (e.g. class imbalance)."""

    @abstractmethod
    def association(self, values: pd.Series, y: np.ndarray, kind: str) -> tuple[float, float] | None:
        """How well one column alone predicts the target, and the 95% lower bound of that score.

        Used by the profile's leakage check; ``None`` when it cannot be computed.
        """

    leakage_measure: ClassVar[str] = ""
    """Name of the :meth:`association` score, for messages."""
    association_key: ClassVar[str] = ""
    """The profile stores the score as ``single_column_<association_key>`` (and ``..._low``)."""
    leakage_key: ClassVar[str] = ""
    """The recipe key holding the leakage limit."""

    def leakage_limit(self, recipe: "Recipe") -> float:
        """The recipe's limit above which :meth:`association`'s lower bound is suspected leakage."""
        return recipe.prepare.leakage_auc

    # --- training -------------------------------------------------------------------------

    @abstractmethod
    def n_outputs(self, prepared: "Prepared") -> int:
        """Width of the network's output."""

    @abstractmethod
    def loss(self, recipe: "Recipe", prepared: "Prepared") -> "nn.Module":
        """The training loss: ``loss(output (batch, n_outputs), target (batch,)) -> scalar``."""

    @abstractmethod
    def train_metric(self, prepared: "Prepared") -> tuple[str, Any]:
        """Name and function ``(output, target) -> float`` reported per epoch (in the target's units)."""

    def history_units(self) -> dict[str, str]:
        """What the per-epoch ``loss`` and metric of ``history.json`` are measured in (named in the overfitting diagnosis). Default: nothing to add."""
        return {}

    @abstractmethod
    def fit_targets(self, prepared: "Prepared") -> tuple[np.ndarray, np.ndarray]:
        """Targets of the rows the network is fitted on (``prepared.y_fit``) and of the validation rows, as trained on."""

    @abstractmethod
    def distillation_loss(self, recipe: "Recipe", prepared: "Prepared", temperature: float, alpha: float) -> "nn.Module":
        """The loss that trains a student on the teacher's outputs and the true targets (Hinton et al. 2015).

        Returns
        -------
        nn.Module
            ``loss(output (batch, n_outputs), target (batch,), teacher_output (batch, n_outputs)) -> scalar``;
            outputs are in the space the network is trained in (logits, or standardised values).
        """

    def finish(self, network: "nn.Module", prepared: "Prepared") -> "nn.Module":
        """The trained network as evaluated and exported (e.g. rescaled to the target's units). Default: unchanged."""
        return network

    @abstractmethod
    def predict(self, network: "nn.Module", X: np.ndarray) -> np.ndarray:
        """Outputs of a finished network on preprocessed rows (n_rows, n_features): probabilities or values."""

    @abstractmethod
    def export_head(self, network: "nn.Module") -> "nn.Module":
        """The module exported to ONNX: logits → probabilities (softmax), or the value as it is."""

    # --- evaluation -----------------------------------------------------------------------

    @abstractmethod
    def scores(self, y: np.ndarray, output: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> dict[str, float]:
        """Point metrics of outputs against the truth (scikit-learn's implementations)."""

    @abstractmethod
    def bootstrap_scores(
        self, y: np.ndarray, output: np.ndarray, weights: np.ndarray, positive_index: int | None = None, threshold: float | None = None
    ) -> dict[str, np.ndarray]:
        """The same metrics over every bootstrap resample (rows of ``weights``), with the same decision rule as :meth:`scores`."""

    def decision(self, recipe: "Recipe", prepared: "Prepared", model: Any) -> dict[str, Any] | None:
        """The decision rule chosen on the validation rows (e.g. a tuned threshold), or None for the task's default.

        ``model`` is a network or a :class:`~shipyard.evaluation.outputs.ModelOutputs`.

        The one rule behind every number that depends on decided predictions:
        test metrics and their bootstrap, the confusion matrix, the
        leaderboard, cross-validation folds, the bundle and the server.
        Default: None (arg-max, or the value itself).
        """
        return None

    def verdict_metrics(self, y_train: np.ndarray) -> list[str]:
        """The metrics the leaderboard's verdicts compare models on (the first ranks them). Default: the primary metric."""
        return [self.primary_metric]

    @abstractmethod
    def baselines(self, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, seed: int, prepared: "Prepared") -> dict[str, np.ndarray]:
        """Simple scikit-learn models fitted on the same preprocessed rows, predicting the test rows."""

    @abstractmethod
    def evaluate(self, recipe: "Recipe", prepared: "Prepared", model: "nn.Module | ModelOutputs") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Test metrics and what belongs beside them, and every model's test outputs (for the leaderboard).

        Parameters
        ----------
        model : nn.Module or ModelOutputs
            A finished network, or any model's outputs on the parts of the data
            (:mod:`shipyard.evaluation.outputs`, e.g. an ONNX variant run on the raw rows):
            both are scored by the same code.
        """

    def parity_tolerance(self, recipe: "Recipe", prepared: "Prepared", tolerance: float | None = None) -> float:
        """Largest accepted output difference: ``tolerance`` (default ``export.parity_tolerance``, |ONNX - PyTorch|) in output units."""
        return recipe.export.parity_tolerance if tolerance is None else tolerance

    @abstractmethod
    def metric_names(self, prepared: "Prepared") -> list[str]:
        """Names of the test metrics :meth:`scores` returns for this data (what a budget or a verdict may name)."""

    @abstractmethod
    def manifest_outputs(self, prepared: "Prepared") -> dict[str, Any]:
        """The bundle manifest's ``outputs`` entry."""

    # --- explanations ---------------------------------------------------------------------

    @abstractmethod
    def explained_outputs(self, labels: list[str] | None, positive_index: int | None) -> tuple[np.ndarray, list[Any], str]:
        """Which outputs SHAP explains: a matrix mapping log-probabilities (or the value) to explained outputs, their classes, and the unit."""

    @abstractmethod
    def explained_values(self, output: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The explained outputs (n_rows, n_outputs) of model outputs, with the matrix of :meth:`explained_outputs`."""

    @abstractmethod
    def describe_prediction(self, output_row: np.ndarray, labels: list[str] | None) -> Any:
        """A readable prediction for one row's output (a label, or a value)."""

    @abstractmethod
    def permutation_scorer(self, labels: list[str] | None) -> tuple[str, Any]:
        """Name of the loss permutation importance measures the increase of, and ``score(estimator, X, y)`` (higher is better)."""

    @abstractmethod
    def surrogate(self, depth: int, seed: int) -> tuple[Any, str]:
        """An unfitted shallow tree to mimic the model, and what its fidelity measures."""

    def describe_fidelity(self, depth: int, fidelity: float) -> str:
        """A sentence on how well the surrogate tree reproduces the network (its fidelity is agreement on the predicted class)."""
        return f"The depth-{depth} surrogate tree agrees with the network's predicted class on {fidelity:.1%} of the test rows"

    @abstractmethod
    def surrogate_target(self, output: np.ndarray) -> np.ndarray:
        """What the surrogate tree is fitted to: the predicted class, or the value."""

    # --- attacks: adversarial robustness and membership inference -------------------------

    attack_measure: ClassVar[str] = ""
    """What the attack stage's curves show for this task, in words."""

    @abstractmethod
    def art_estimator(self, module: "nn.Module", n_features: int, n_outputs: int, clip_values: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
        """IBM ART's estimator around ``module`` (features (batch, n_features) → logits or values), for its attacks.

        Parameters
        ----------
        module : nn.Module
        n_features, n_outputs : int
        clip_values : (ndarray, ndarray) of shape (n_features,) each, optional
            Per-feature bounds ART keeps the attacked inputs in.
        """

    @abstractmethod
    def attack_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as ART's estimator and the attack's loss take them: class indices, or float32 values, shape (n_rows,)."""

    @abstractmethod
    def robustness_scores(
        self, y: np.ndarray, clean: np.ndarray, attacked: np.ndarray, positive_index: int | None = None, threshold: float | None = None
    ) -> dict[str, float]:
        """Metrics of the attacked outputs, and how much the attack changed them (success rate, or error increase).

        Parameters
        ----------
        y : ndarray of shape (n_rows,)
        clean, attacked : ndarray
            Outputs (as :meth:`predict` returns them) on the clean and the perturbed rows.
        """

    @abstractmethod
    def row_losses(self, y: np.ndarray, output: np.ndarray) -> np.ndarray:
        """Per-row loss of outputs against the truth (cross-entropy, or squared error), shape (n_rows,)."""

    # --- serving (numpy only) -------------------------------------------------------------

    @abstractmethod
    def shape_output(self, output: np.ndarray) -> np.ndarray:
        """The graph's output as the predictor returns it: (n_rows, n_classes) or (n_rows,)."""

    @abstractmethod
    def response(
        self, output: np.ndarray, decided: np.ndarray, labels: list[Any], model: str, warnings: list[str], errors: dict[int, str] | None = None
    ) -> dict[str, Any]:
        """The body of a prediction response (the fields of :meth:`response_model`).

        ``errors`` maps the position of each record that could not be
        predicted to the reason; those records get null predictions and an
        entry in the body's ``errors``.
        """

    @abstractmethod
    def response_model(self) -> type:
        """The pydantic model of a prediction response (documents ``POST /v1/predict``)."""

    @abstractmethod
    def decisions(self, output: np.ndarray, labels: list[Any], positive_index: int | None, threshold: float | None) -> np.ndarray:
        """The decided prediction of each row: a label (arg-max or the tuned threshold; None where the output is not finite), or the value."""
