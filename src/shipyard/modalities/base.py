"""The :class:`Modality` interface: what a non-tabular input means to each step of a run.

Each method is called by one hook in shared code, in place of the tabular
path; everything in between (the split, the task's metrics and bootstrap,
the trainer and its callbacks, checkpoints, calibration, the leaderboard, the
run directory and tracking) is shared unchanged.

===================================  ==============================================  ============================
method                               replaces (tabular)                              called from
===================================  ==============================================  ============================
:meth:`Modality.load_and_split`      ``data.preparation.load_and_split``             ``pipeline.check_inputs``
:meth:`Modality.fit`                 ``data.preparation.fit_preprocessing``          prepare stage, CV folds
:meth:`Modality.save` / ``load``     ``save_preparation`` / ``load_prepared``        prepare stage, ``RunContext.from_run``
:meth:`Modality.summary`             ``data.preparation.data_summary``               prepare stage
:meth:`Modality.build_network`       ``training.fit.build_network``                  train stage (pretrained weights, statistics)
:meth:`Modality.datasets`            ``ArrayDataset`` over ``X_fit``                 ``training.fit.train_network``
:meth:`Modality.baselines`           ``Task.baselines`` on the preprocessed rows     evaluate stage
:meth:`Modality.export`              ``stages.export.export``                        export stage
:meth:`Modality.explain`             SHAP / permutation / surrogate                  explain stage
:meth:`Modality.attack`              FGSM / PGD on the features, membership        attack stage
===================================  ==============================================  ============================
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.errors import RecipeError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from torch import nn
    from torch.utils.data import Dataset

    from shipyard.data.prepared import Prepared
    from shipyard.recipe import Recipe
    from shipyard.stages.base import RunContext
    from shipyard.tasks import Task


class Modality:
    """One input modality (``text``, ``image``); stateless, one instance per name.

    Class attributes
    ----------------
    name : str
        The ``input`` model kinds declare, and the manifest's ``input``.
    """

    name: ClassVar[str]

    def load_and_split(self, recipe: "Recipe") -> "Prepared":
        """Load, check, split and profile the data (before any run directory exists).

        Raises
        ------
        DataError
            Naming the source, column or array at fault, or a profile finding listed in ``prepare.fail_on``.
        """
        raise NotImplementedError

    def fit(self, recipe: "Recipe", prepared: "Prepared") -> None:
        """Fit what the input needs on the training split and fill ``prepared.X``, ``X_fit`` and ``y_fit``."""
        raise NotImplementedError

    def save(self, run_path: str | Path, recipe: "Recipe", prepared: "Prepared") -> Path:
        """Write the fitted preparation to ``<run_path>/preparation/`` (no pickle); return the folder."""
        raise NotImplementedError

    def load(self, run_path: str | Path, recipe: "Recipe") -> "Prepared":
        """Rebuild a run's prepared data from its ``preparation/`` folder, fitting nothing.

        Raises
        ------
        DataError
            If the data changed since the run or the run has no saved preparation.
        """
        raise NotImplementedError

    def summary(self, recipe: "Recipe", prepared: "Prepared") -> dict[str, Any]:
        """The content of ``data_summary.json``."""
        raise NotImplementedError

    def build_network(self, recipe: "Recipe", prepared: "Prepared", pretrained: bool = True) -> "nn.Module":
        """The recipe's network ready to train: built, seeded, with pretrained weights (unless ``pretrained`` is False) and fitted statistics."""
        raise NotImplementedError

    def datasets(
        self, recipe: "Recipe", prepared: "Prepared", y_fit: "np.ndarray", y_val: "np.ndarray", extras: tuple[tuple, tuple] = ((), ())
    ) -> tuple["Dataset", "Dataset", "Dataset | None"]:
        """The trainer's training rows, validation rows, and the rows scored for the training metric (None: the training rows).

        ``extras`` are further per-row arrays of the fitted and the validation rows that the rows carry after
        their targets (a teacher's outputs for distillation); a modality that cannot carry them raises ValueError.
        """
        raise NotImplementedError

    def check_compress(self, recipe: "Recipe", spec: Any) -> None:
        """Refuse a ``compress`` section this input cannot honour (before the run directory exists).

        Raises
        ------
        RecipeError
        """
        raise RecipeError(f"compress: not available for {self.name} models yet", f"deploy the {self.name} network uncompressed (no compress section in the recipe)")

    def compression(self, ctx: "RunContext") -> Any:
        """The compress stage's variant source for this input (the methods of :class:`shipyard.stages.compress.TableVariants`)."""
        raise NotImplementedError

    def baselines(self, recipe: "Recipe", task: "Task", prepared: "Prepared") -> dict[str, "np.ndarray"]:
        """Simple models fitted on the same training rows, predicting the test rows (the leaderboard's baselines)."""
        raise NotImplementedError

    def export(self, recipe: "Recipe", prepared: "Prepared", network: "nn.Module", metrics: dict[str, Any], bundle: Path) -> dict[str, Any]:
        """Export raw input → outputs to ``bundle/``, check parity with PyTorch on the test rows; return the parity record.

        Raises
        ------
        ParityError
            If onnxruntime and PyTorch differ by more than the tolerance.
        """
        raise NotImplementedError

    def explain(self, ctx: "RunContext") -> dict[str, Any]:
        """Explain the run's network on test inputs; return the content of ``explain.json``."""
        raise NotImplementedError

    def attack(self, ctx: "RunContext") -> dict[str, Any]:
        """Test accuracy under perturbations of the input, as curves; return the content of ``attack.json`` (with ``kind``: the modality)."""
        raise NotImplementedError


def scratch_recipe(recipe: "Recipe") -> "Recipe":
    """The same recipe with the model's pretrained start removed: the 'from scratch' baseline's recipe.

    The transformer loses its pretrained weights and frozen layers and trains
    its encoder at ``train.learning_rate`` (nothing pretrained to protect);
    the CNN loses ``init_from`` and frozen blocks.
    """
    spec = recipe.model
    changes: dict[str, Any] = {}
    if hasattr(spec, "pretrained"):
        changes = {"pretrained": False, "freeze_layers": 0, "encoder_learning_rate": recipe.train.learning_rate}
    if hasattr(spec, "init_from"):
        changes = {"init_from": None, "freeze_blocks": 0}
    copy = recipe.model_copy(deep=True)
    copy.model = spec.model_copy(update=changes)
    return copy


def is_pretrained(recipe: "Recipe") -> bool:
    """Whether the recipe's network starts from pretrained weights (so a from-scratch baseline means something)."""
    spec = recipe.model
    return bool(getattr(spec, "pretrained", False) or getattr(spec, "init_from", None))


def subsample_training(split: Any, y: "np.ndarray", fraction: float, seed: int) -> Any:
    """Keep a stratified, seeded ``fraction`` of the training rows (``data.split.train_fraction``); validation and test unchanged.

    Parameters
    ----------
    split : Split
    y : ndarray of shape (n_rows,)
        Class indices (the strata).
    fraction : float
        In (0, 1]; 1 returns ``split`` unchanged.
    seed : int

    Returns
    -------
    Split

    Raises
    ------
    DataError
        If the fraction leaves a class without a training row.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    from shipyard.data.split import Split
    from shipyard.errors import DataError

    if fraction >= 1.0:
        return split
    train = split.train
    try:
        kept, _ = train_test_split(train, train_size=fraction, stratify=y[train], random_state=seed)
    except ValueError as exc:
        raise DataError(f"data.split.train_fraction: {fraction} of {len(train)} training rows cannot keep every class ({exc})", "raise the fraction") from None
    return Split(np.sort(kept), split.validation, split.test)


def completeness_error(delta: "np.ndarray", output: "np.ndarray", baseline_output: "np.ndarray") -> float:
    """The largest Integrated-Gradients convergence delta relative to what it explains: ``|delta| / max(1, |output - baseline output|)``.

    Sundararajan et al. 2017 suggest more steps when the attributions miss
    ``output - baseline output`` by more than about 5%; below 1 in the
    output's units the delta is read as it is.
    """
    import numpy as np

    delta, spread = np.abs(np.asarray(delta, dtype=float)), np.abs(np.asarray(output, dtype=float) - np.asarray(baseline_output, dtype=float))
    return float((delta / np.maximum(1.0, spread)).max(initial=0.0))


FROM_SCRATCH = "from_scratch"
"""Leaderboard name of the same network trained without its pretrained start (``evaluate.from_scratch``)."""


def train_from_scratch(recipe: "Recipe", task: "Task", prepared: "Prepared") -> tuple["np.ndarray", dict[str, Any]]:
    """Train the recipe's network again from random weights on the same split and predict the test rows.

    The recipe is :func:`scratch_recipe`'s: no pretrained weights, nothing
    frozen; epochs, batch size, schedule and early stopping as in the recipe.

    Returns
    -------
    (ndarray, dict)
        Test outputs (as :meth:`~shipyard.tasks.base.Task.predict`) and
        ``{"seconds", "best_epoch", "epochs_run", "changes"}`` of that training.
    """
    from shipyard.training.fit import train_network

    scratch = scratch_recipe(recipe)
    network, result = train_network(scratch, prepared)
    changed = {k: v for k, v in scratch.model.model_dump().items() if recipe.model.model_dump().get(k) != v}
    info = {"seconds": result.seconds, "best_epoch": result.best_epoch, "epochs_run": len(result.history), "changes": changed}
    return task.predict(network, prepared.X["test"]), info


PREPARATION = "preparation"
"""The run folder of a modality's preparation (as the tabular one): ``preparation.json``, ``split.npz`` and its own files."""
INFO = "preparation.json"
SPLIT = "split.npz"


def write_preparation(
    run_path: str | Path, recipe: "Recipe", prepared: "Prepared", modality: str, files: dict[str, str] | None = None, extra: dict[str, Any] | None = None
) -> Path:
    """Write a modality's own ``files`` (name: text), then the split and ``preparation.json`` with their sha256 (:func:`shipyard.data.preparation.write_preparation_info`).

    Returns
    -------
    Path
        The ``preparation/`` folder.
    """
    from shipyard.data.preparation import write_preparation_info

    folder = Path(run_path) / PREPARATION
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    write_preparation_info(folder, recipe, prepared, tuple(files or ()), {"input": modality, **(extra or {})})
    return folder


def read_preparation(run_path: str | Path, recipe: "Recipe", sha256: str, files: tuple[str, ...] = ()) -> tuple[Path, dict[str, Any], Any]:
    """The ``preparation/`` folder, ``preparation.json`` and the split of a run, after checking the data and the saved files are the run's.

    Raises
    ------
    DataError
        If the run has no saved preparation, the data's sha256 differs from the
        run's, or one of ``files`` or the split is missing or was modified.
    """
    import json

    from shipyard.data.preparation import check_unchanged, read_split, verify_files
    from shipyard.errors import DataError

    folder = Path(run_path) / PREPARATION
    if not (folder / INFO).is_file():
        raise DataError(f"{folder}: the run has no saved preparation", "re-run the recipe with this version of shipyard")
    info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    verify_files(folder, info, (*files, SPLIT))
    check_unchanged(run_path, recipe.data.source, sha256)
    return folder, info, read_split(folder)


def summary(recipe: "Recipe", prepared: "Prepared", modality: str, column: dict[str, Any], n_inputs: int) -> dict[str, Any]:
    """``data_summary.json`` of a text or image run, in the tabular summary's shape.

    Parameters
    ----------
    column : dict
        The one input column's ``name``, ``kind`` and ``missing``.
    n_inputs : int
        Width of the network's input (token positions, pixels).
    """
    import numpy as np

    counts = np.bincount(prepared.y, minlength=len(prepared.labels))
    return {
        "source": recipe.data.source,
        "rows": len(prepared.frame),
        "target": recipe.data.target,
        "task": prepared.task,
        "input": modality,
        "columns": [column],
        "split": prepared.split.sizes(),
        "n_features_after_preprocessing": int(n_inputs),
        "rows_fitted_by_network": int(len(prepared.y_fit)),
        "preprocessing": prepared.steps,
        "class_counts": {str(label): int(n) for label, n in zip(prepared.labels, counts)},
    }
