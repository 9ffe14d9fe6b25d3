"""The prepared data that stages hand to each other in memory (and rebuild from a run directory)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.data.split import Split
from shipyard.schema import Column

PARTS = ("train", "validation", "test")


@dataclass
class Prepared:
    """The loaded, checked and split data, and (once fitted) its preprocessing.

    Attributes
    ----------
    frame : DataFrame of shape (n_rows, n_columns)
        The table as loaded (after any dropped duplicates).
    features : list of str
        Input columns, in model order (dropped columns removed).
    schema : list of Column
        The raw input schema (categories from the training split once fitted).
    labels : list
        Class labels in index order (empty for regression).
    positive_index : int or None
        Positive class of a binary task.
    split : Split
        Row positions of train, validation and test.
    y : ndarray of shape (n_rows,)
        Class indices or target values.
    task : str
        The recipe's task.
    preprocessor : ColumnTransformer or Pipeline
        Fitted on the training rows (None before :func:`shipyard.data.preparation.fit_preprocessing`).
    X : dict of str to ndarray
        ``train``, ``validation``, ``test``: preprocessed float32 features (n_part, n_features).
    model_input : DataFrame
        Every row coerced by :func:`shipyard.schema.coerce`.
    profile : dict
        The data profile (``data_profile.json``).
    X_fit, y_fit : ndarray
        The rows the network is fitted on: the training split after any resampling and augmentation.
    steps : dict
        What the preprocessing did (for the summary and the manifest).
    data_sha256 : str
        Fingerprint of the data source (the file's sha256, or of a built-in table's content).
    groups : ndarray of shape (n_rows,) or None
        Group id of each row (:func:`shipyard.data.split.split_groups`): rows of
        one entity, and identical rows when they are kept together. Every
        split of these rows (holdout, CV folds, their validation rows) keeps a
        group whole; None when rows are split one by one.
    n_source : int or None
        Rows read from ``data.source`` (they come first; rows of given
        ``data.validation`` / ``data.test`` files follow). Cross-validation
        folds are drawn from these rows only. None: every row.
    """

    frame: pd.DataFrame
    features: list[str]
    schema: list[Column]
    labels: list[Any]
    positive_index: int | None
    split: Split
    y: np.ndarray
    task: str = "classification"
    preprocessor: Any = None
    X: dict[str, np.ndarray] = field(default_factory=dict)
    model_input: pd.DataFrame | None = None
    profile: dict[str, Any] | None = None
    X_fit: np.ndarray | None = None
    y_fit: np.ndarray | None = None
    steps: dict[str, Any] = field(default_factory=dict)
    data_sha256: str = ""
    groups: np.ndarray | None = None
    n_source: int | None = None

    def with_split(self, split: Split) -> "Prepared":
        """The same loaded data over another split, with nothing fitted yet (for CV folds and learning curves)."""
        return Prepared(
            self.frame, self.features, copy.deepcopy(self.schema), self.labels, self.positive_index, split, self.y,
            task=self.task, model_input=self.model_input, profile=self.profile, data_sha256=self.data_sha256, groups=self.groups,
            n_source=self.n_source,
        )

    @property
    def n_features(self) -> int:
        """Width of the preprocessed features."""
        return int(self.X["train"].shape[1])
