"""Classification: class labels in, class probabilities out (softmax over the network's logits)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.decision import decide
from shipyard.errors import DataError
from shipyard.tasks.base import Target, Task, network_input

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from shipyard.data.prepared import Prepared
    from shipyard.recipe import Recipe

IMBALANCE_RATIO = 3.0
"""Above this largest/smallest class ratio, accuracy alone is misleading (balanced accuracy is the per-epoch metric)."""


class Classification(Task):
    """Predict one of a fixed set of labels; the bundle outputs class probabilities."""

    name = "classification"
    output = "probabilities"
    primary_metric = "accuracy"
    has_classes = True
    association_key = "auc"
    leakage_key = "prepare.leakage_auc"
    leakage_measure = "ROC-AUC"

    def check_recipe(self, recipe: "Recipe") -> None:
        from shipyard.errors import RecipeError

        loss = recipe.train.loss
        if loss not in (None, "cross_entropy"):
            raise RecipeError(f"train.loss '{loss}' does not fit task 'classification'", "use cross_entropy, or imbalance.loss: focal")

    def read_target(self, values: pd.Series, recipe: "Recipe") -> Target:
        spec = recipe.data
        labels_present = values.dropna()
        classes = labels_present.unique()
        if pd.api.types.is_float_dtype(labels_present.dtype) and not (labels_present == labels_present.round()).all():
            raise DataError(
                f"{spec.source}: target column '{spec.target}' holds continuous values ({len(classes)} distinct, e.g. {labels_present.iloc[0]!r}); "
                "classification needs class labels",
                "check data.target, bin the values into classes, or use task: regression",
            )
        if len(classes) < 2:
            raise DataError(
                f"{spec.source}: target column '{spec.target}' has a single class ({classes[0].item() if isinstance(classes[0], np.generic) else classes[0]!r}); classification needs at least two",
                "check data.target and the file",
            )
        labels = sorted(pd.unique(values).tolist(), key=lambda v: (str(type(v)), v))
        labels = [v.item() if isinstance(v, np.generic) else v for v in labels]
        index = {label: i for i, label in enumerate(labels)}
        y = values.map(index).to_numpy(dtype=np.int64)
        positive_index = None
        if len(labels) == 2:
            positive_index = 1
            if spec.positive_class is not None:
                names = [str(label) for label in labels]
                if spec.positive_class not in names:
                    raise DataError(
                        f"data.positive_class: {spec.positive_class!r} is not a label of column '{spec.target}'",
                        f"choose one of {names}",
                    )
                positive_index = names.index(spec.positive_class)
        if recipe.imbalance.threshold.objective != "none" and len(labels) != 2:
            raise DataError(
                f"imbalance.threshold: tuning a decision threshold needs a binary target; '{spec.target}' has {len(labels)} classes",
                "remove imbalance.threshold (multiclass predictions use arg-max), or use imbalance.class_weight",
            )
        return Target(y, labels, positive_index)

    def strata(self, y: np.ndarray, n_bins: int = 5) -> np.ndarray:
        return np.asarray(y)

    def describe_target(self, target: Target, target_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        counts = np.bincount(target.y, minlength=len(target.labels))
        nonzero = counts[counts > 0]
        ratio = float(nonzero.max() / nonzero.min())
        findings = []
        if ratio > IMBALANCE_RATIO:
            findings.append(
                {
                    "severity": "warning",
                    "code": "class_imbalance",
                    "message": f"target '{target_name}': imbalance ratio {ratio:.1f} (largest/smallest class); accuracy alone is misleading",
                    "hint": "read balanced accuracy and per-class recall; consider imbalance.class_weight, a sampler or threshold tuning",
                    "column": target_name,
                }
            )
        return {"class_counts": counts.tolist(), "imbalance_ratio": ratio}, findings

    def association(self, values: pd.Series, y: np.ndarray, kind: str) -> tuple[float, float] | None:
        from shipyard.data.association import auc_lower_bound, single_column_auc

        auc = single_column_auc(values, y, kind)
        return None if auc is None else (auc, auc_lower_bound(auc, y))

    # --- training ---------------------------------------------------------------------------

    def n_outputs(self, prepared: "Prepared") -> int:
        return len(prepared.labels)

    def loss(self, recipe: "Recipe", prepared: "Prepared") -> "nn.Module":
        from shipyard.training.losses import build_loss

        imbalance = recipe.imbalance
        return build_loss(imbalance.loss, imbalance.class_weight, prepared.y_fit, len(prepared.labels), imbalance.focal_gamma)

    def distillation_loss(self, recipe: "Recipe", prepared: "Prepared", temperature: float, alpha: float) -> "nn.Module":
        from shipyard.training.losses import DistillationLoss, SoftTargetKL

        return DistillationLoss(self.loss(recipe, prepared), SoftTargetKL(temperature), alpha)

    def train_metric(self, prepared: "Prepared") -> tuple[str, Any]:
        from shipyard.training.losses import accuracy, balanced_accuracy

        counts = np.bincount(prepared.y[prepared.split.train])
        counts = counts[counts > 0]
        # Imbalanced: the per-epoch metric is balanced accuracy, never plain accuracy.
        return ("balanced_accuracy", balanced_accuracy) if counts.max() / counts.min() > IMBALANCE_RATIO else ("accuracy", accuracy)

    def fit_targets(self, prepared: "Prepared") -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(prepared.y_fit, dtype=np.int64), prepared.y[prepared.split.validation].astype(np.int64)

    def predict(self, network: "nn.Module", X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return torch.softmax(network(network_input(X)), dim=1).numpy()

    def export_head(self, network: "nn.Module") -> "nn.Module":
        from torch import nn

        return nn.Sequential(network, nn.Softmax(dim=1))

    # --- evaluation -------------------------------------------------------------------------

    def scores(self, y: np.ndarray, output: np.ndarray, positive_index: int | None = None, threshold: float | None = None) -> dict[str, float]:
        from shipyard.evaluation.metrics import classification_metrics

        return classification_metrics(y, output, positive_index, threshold)

    def bootstrap_scores(
        self, y: np.ndarray, output: np.ndarray, weights: np.ndarray, positive_index: int | None = None, threshold: float | None = None
    ) -> dict[str, np.ndarray]:
        from shipyard.evaluation.bootstrap import classification_stats

        return classification_stats(y, output, weights, positive_index, threshold)

    def decision(self, recipe: "Recipe", prepared: "Prepared", model: Any) -> dict[str, Any] | None:
        """The threshold of ``imbalance.threshold`` (binary tasks), chosen on the validation rows; None for arg-max."""
        from shipyard.evaluation.outputs import as_outputs
        from shipyard.evaluation.threshold import choose_threshold

        if recipe.imbalance.threshold.objective == "none" or prepared.positive_index is None:
            return None
        return choose_threshold(recipe, prepared, as_outputs(self, model, prepared)("validation"))

    def verdict_metrics(self, y_train: np.ndarray) -> list[str]:
        """Accuracy; on imbalanced data (ratio above 3) balanced accuracy, macro F1 and PR-AUC, where the majority class alone scores well on accuracy."""
        from shipyard.evaluation.metrics import IMBALANCED_VERDICT_METRICS

        counts = np.bincount(np.asarray(y_train, dtype=np.int64))
        counts = counts[counts > 0]
        return list(IMBALANCED_VERDICT_METRICS) if counts.max() / counts.min() > IMBALANCE_RATIO else [self.primary_metric]

    def baselines(self, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, seed: int, prepared: "Prepared") -> dict[str, np.ndarray]:
        from sklearn.dummy import DummyClassifier
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression

        models = {
            "logistic_regression": LogisticRegression(max_iter=2000, random_state=seed),
            "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed),
            "dummy": DummyClassifier(strategy="prior"),
        }
        out = {}
        for name, model in models.items():
            model.fit(X_train, y_train)
            proba = np.zeros((len(X_test), len(prepared.labels)))
            proba[:, model.classes_] = model.predict_proba(X_test)
            out[name] = proba
        return out

    def evaluate(self, recipe: "Recipe", prepared: "Prepared", model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from shipyard.evaluation.calibration import calibration_report
        from shipyard.evaluation.metrics import confusion
        from shipyard.evaluation.outputs import as_outputs
        from shipyard.evaluation.threshold import per_class_recall

        outputs = as_outputs(self, model, prepared)
        y_test = prepared.y[prepared.split.test]
        proba = outputs("test")
        pos = prepared.positive_index
        decision = self.decision(recipe, prepared, outputs)
        threshold = None if decision is None else decision["threshold"]
        counts = np.bincount(prepared.y[prepared.split.train], minlength=len(prepared.labels))
        present = counts[counts > 0]
        metrics: dict[str, Any] = {
            "labels": [str(label) for label in prepared.labels],
            "positive_label": None if pos is None else str(prepared.labels[pos]),
            "test": self.scores(y_test, proba, pos, threshold),
            "confusion_matrix": confusion(y_test, proba, pos, threshold),
            "imbalance_ratio": float(present.max() / present.min()),
            "per_class_recall": per_class_recall(y_test, decide(proba, pos, threshold), prepared.labels),
            "calibration": calibration_report(y_test, proba, recipe.evaluate.calibration.bins, pos),
        }
        if decision is not None:
            decision["test_at_argmax"] = self.scores(y_test, proba, pos)
            metrics["decision"] = decision
        return metrics, {"network": proba}

    def metric_names(self, prepared: "Prepared") -> list[str]:
        from shipyard.evaluation.metrics import SCALAR_KEYS

        weighted = ["precision_weighted", "recall_weighted", "f1_weighted"] if len(prepared.labels) > 2 else []
        return [*SCALAR_KEYS, "balanced_accuracy", *weighted]

    def manifest_outputs(self, prepared: "Prepared") -> dict[str, Any]:
        return {self.output: {"dtype": "float32", "shape": ["batch", len(prepared.labels)]}}

    # --- explanations -----------------------------------------------------------------------

    def explained_outputs(self, labels: list[str] | None, positive_index: int | None) -> tuple[np.ndarray, list[Any], str]:
        from shipyard.explain.shap_values import output_matrix

        matrix, classes = output_matrix(len(labels or []), positive_index)
        if len(classes) == 1:
            return matrix, classes, f"log-odds of '{labels[classes[0]]}'"
        return matrix, classes, "centred logits, log p(class) - mean log p (per class)"

    def explained_values(self, output: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        from shipyard.explain.shap_values import outputs_from_proba

        return outputs_from_proba(output, matrix)

    def describe_prediction(self, output_row: np.ndarray, labels: list[str] | None) -> Any:
        return labels[int(np.argmax(output_row))]

    def permutation_scorer(self, labels: list[str] | None) -> tuple[str, Any]:
        def score(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> float:
            proba = np.clip(np.asarray(estimator.predict_fn(X), dtype=np.float64), 1e-15, 1.0)
            return float(np.log(proba[np.arange(len(y)), y]).mean())

        return "log-loss", score

    def surrogate(self, depth: int, seed: int) -> tuple[Any, str]:
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(max_depth=depth, random_state=seed), "agreement with the network's predicted class"

    def surrogate_target(self, output: np.ndarray) -> np.ndarray:
        return np.asarray(output).argmax(axis=1)

    # --- attacks ----------------------------------------------------------------------------

    attack_measure = (
        "accuracy (and every test metric) on the attacked rows; success rate: the share of correctly classified rows "
        "whose prediction the attack changed (the attacks maximise the cross-entropy of the true class)"
    )

    def art_estimator(self, module: "nn.Module", n_features: int, n_outputs: int, clip_values: tuple[np.ndarray, np.ndarray] | None = None) -> Any:
        from art.estimators.classification import PyTorchClassifier
        from torch import nn

        device = "gpu" if next(module.parameters()).is_cuda else "cpu"
        return PyTorchClassifier(
            model=module, loss=nn.CrossEntropyLoss(), input_shape=(n_features,), nb_classes=n_outputs, clip_values=clip_values, device_type=device
        )

    def attack_targets(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.int64)

    def robustness_scores(
        self, y: np.ndarray, clean: np.ndarray, attacked: np.ndarray, positive_index: int | None = None, threshold: float | None = None
    ) -> dict[str, float]:
        scores = self.scores(y, attacked, positive_index, threshold)
        before, after = decide(clean, positive_index, threshold), decide(attacked, positive_index, threshold)
        correct = before == y
        fooled = correct & (after != y)
        scores["success_rate"] = float(fooled.sum() / correct.sum()) if correct.any() else float("nan")
        scores["changed"] = float((after != before).mean())
        return scores

    def row_losses(self, y: np.ndarray, output: np.ndarray) -> np.ndarray:
        proba = np.clip(np.asarray(output, dtype=np.float64)[np.arange(len(y)), np.asarray(y, dtype=np.int64)], 1e-12, 1.0)
        return -np.log(proba)

    # --- serving ----------------------------------------------------------------------------

    def shape_output(self, output: np.ndarray) -> np.ndarray:
        return output

    def decisions(self, output: np.ndarray, labels: list[Any], positive_index: int | None, threshold: float | None) -> np.ndarray:
        decided = np.asarray(labels, dtype=object)[decide(output, positive_index, threshold)]
        decided[~np.isfinite(np.asarray(output, dtype=np.float64)).all(axis=1)] = None  # arg-max of NaN would be class 0
        return decided

    def response(
        self, output: np.ndarray, decided: np.ndarray, labels: list[Any], model: str, warnings: list[str], errors: dict[int, str] | None = None
    ) -> dict[str, Any]:
        names = [str(label) for label in labels]
        errors = errors or {}
        return {
            "labels": [None if i in errors else label for i, label in enumerate(decided.tolist())],
            "probabilities": [None if i in errors else dict(zip(names, map(float, row))) for i, row in enumerate(output)],
            "model": model,
            "warnings": warnings,
            "errors": [{"record": i, "detail": why} for i, why in sorted(errors.items())],
        }

    def response_model(self) -> type:
        from shipyard.serving.responses import PredictResponse

        return PredictResponse
