"""The recipe: one YAML file, validated by pydantic, with defaults that work.

A minimal recipe names only the data and the target::

    name: breast-cancer
    data:
      source: sklearn:breast_cancer
      target: target

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is
an error that suggests the closest valid key.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from shipyard.errors import RecipeError
from shipyard.models.specs import MODEL_SPECS, MLPSpec

MODEL_TYPES = {spec.model_fields["type"].default: spec for spec in MODEL_SPECS}
"""Model kind name (``model.type``) to its spec class."""


def _model_type(value: Any) -> str:
    """The ``model.type`` of a raw section or a spec; ``mlp`` when the recipe leaves it out."""
    if isinstance(value, dict):
        return value.get("type", "mlp")
    return getattr(value, "type", "mlp")


ModelSection = Annotated[
    Union[tuple(Annotated[spec, Tag(name)] for name, spec in MODEL_TYPES.items())],
    Discriminator(_model_type),
]
"""The ``model`` section: one spec per model kind, chosen by ``type`` (default ``mlp``)."""


class Section(BaseModel):
    """Base of every recipe section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SplitSpec(Section):
    """How rows are split: fractions held out for validation and test (stratified by target), and what stays together."""

    validation: float = Field(0.15, gt=0.0, lt=1.0, description="Fraction of data.source's rows held out for validation (unless data.validation names a file).")
    test: float = Field(0.2, gt=0.0, lt=1.0, description="Fraction of data.source's rows held out for test (unless data.test names a file).")
    duplicates: Literal["auto", "group", "allow"] = Field(
        "auto",
        description="Rows with identical inputs: 'group' keeps them on one side of every split (accidental copies of a record); "
        "'allow' splits them like any row (repeated observations, e.g. a few categorical columns); 'auto' chooses from the data "
        "and the profile says which and why.",
    )
    group: str | None = Field(
        None,
        min_length=1,
        description="Column naming the entity of each row (person, patient, device): train, validation, test and every CV fold "
        "hold disjoint entities. The column is not a feature.",
    )
    train_fraction: float = Field(
        1.0, gt=0.0, le=1.0,
        description="Fit on this fraction of the training split (stratified, seeded; text and image inputs); validation and test stay whole.",
    )

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> "SplitSpec":
        if self.validation + self.test >= 0.9:
            raise ValueError(
                f"validation + test must be < 0.9 to leave training rows, "
                f"got {self.validation} + {self.test}"
            )
        return self


MAX_IMAGE_SIDE = 1024
"""Largest ``data.images.size`` side: images are resized and held in memory as float32."""


class ImagesSpec(Section):
    """How image data is read: which array, at which size, and which pixel value is full intensity."""

    array: str | None = Field(None, description="Name of the images array in a .npz file; default 'X', else 'images'.")
    size: list[int] | None = Field(
        None, min_length=2, max_length=2, description="[height, width] to resize every image to (area interpolation); default: as stored."
    )
    max_value: float | None = Field(
        None, gt=0.0, description="Pixel value of full intensity (pixels are divided by it into [0, 1]); default 255 for image files, "
        "16 for sklearn:digits, else the largest value in the training images.",
    )

    @field_validator("size")
    @classmethod
    def _positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(f"size must be positive, got {value}")
        if value is not None and max(value) > MAX_IMAGE_SIDE:
            raise ValueError(f"size {value} exceeds {MAX_IMAGE_SIDE} pixels a side (every image is resized in memory to it)")
        return value


class DataSpec(Section):
    """Where the data is and which column to predict."""

    source: str = Field(
        ...,
        description="CSV (or .tsv), Parquet or JSON Lines path (relative to the recipe), "
        "or a built-in dataset such as 'sklearn:breast_cancer'.",
    )
    target: str = Field(..., min_length=1, description="Name of the label column.")
    features: list[str] | None = Field(
        None, description="Input columns to use; default: every column but the target (and data.split.group)."
    )
    positive_class: str | None = Field(
        None, description="Label treated as positive in binary metrics; default: the last label in sorted order."
    )
    text: str | None = Field(None, min_length=1, description="The column of raw text a text model (model.type: transformer) reads.")
    images: ImagesSpec | None = Field(
        None, description="Reading options of image data (model.type: cnn): a .npz of images and labels, a folder per class, or sklearn:digits."
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    test: str | None = Field(
        None, min_length=1, description="A file of test rows (e.g. the test file a dataset ships with): the test split, read and checked like data.source."
    )
    validation: str | None = Field(
        None, min_length=1, description="A file of validation rows: the validation split, read and checked like data.source."
    )
    types: dict[str, Literal["numeric", "categorical", "boolean"]] = Field(
        default_factory=dict,
        description="Column kinds that override what is read from the file, e.g. {zip: categorical} or {site: numeric}.",
    )

    @field_validator("positive_class", mode="before")
    @classmethod
    def _label_as_text(cls, value: Any) -> Any:
        # Labels are compared as text: `positive_class: 1` means the label 1.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _distinct_files(self) -> "DataSpec":
        named = [(k, v) for k, v in (("source", self.source), ("validation", self.validation), ("test", self.test)) if v is not None]
        paths = [v for _, v in named]
        if len(set(paths)) < len(paths):
            raise ValueError(f"source, validation and test must name different files, got {dict(named)}")
        group = self.split.group
        if group is not None and group == self.target:
            raise ValueError(f"split.group: '{group}' is the target column; name the column that identifies the entity of each row")
        if group is not None and self.features is not None and group in self.features:
            raise ValueError(f"split.group: '{group}' is also listed in data.features; an entity id cannot describe a new entity")
        return self


class AugmentSpec(Section):
    """Tabular augmentation of the training split only, in scaled feature space."""

    method: Literal["none", "noise", "mixup"] = "none"
    multiplier: float = Field(1.0, gt=0.0, le=10.0, description="Synthetic rows added per training row.")
    noise_std: float = Field(0.1, gt=0.0, description="Gaussian noise, in units of each feature's training standard deviation.")
    mixup_alpha: float = Field(0.4, gt=0.0, description="Beta(alpha, alpha) mixing weight (Zhang et al. 2018).")


class ReduceSpec(Section):
    """Dimensionality reduction or feature selection fitted on training rows, exported in the ONNX graph."""

    method: Literal["none", "pca", "variance", "kbest", "l1"] = "none"
    n_components: float | None = Field(
        None, gt=0.0, description="PCA: an integer component count, or a fraction (0, 1) of explained variance; default 0.95."
    )
    threshold: float = Field(0.0, ge=0.0, description="variance: drop features whose training variance is <= this.")
    k: int = Field(10, ge=1, description="kbest: keep the k features with the highest mutual information with the target.")
    C: float = Field(0.1, gt=0.0, description="l1: inverse regularization strength of the L1 logistic regression.")


class ImageAugmentSpec(Section):
    """Random augmentation of training images, drawn anew for every batch (kornia); validation and test images are never augmented."""

    rotation: float = Field(0.0, ge=0.0, le=180.0, description="Largest rotation, in degrees either way.")
    translate: float = Field(0.0, ge=0.0, lt=1.0, description="Largest shift, as a fraction of the width and height.")
    scale: list[float] = Field(default_factory=lambda: [1.0, 1.0], min_length=2, max_length=2, description="[min, max] zoom factor.")
    elastic: float = Field(0.0, ge=0.0, description="Elastic deformation strength (kornia RandomElasticTransform alpha); 0 is off.")
    noise_std: float = Field(0.0, ge=0.0, description="Gaussian pixel noise, in units of the [0, 1] pixel range.")
    p: float = Field(0.5, ge=0.0, le=1.0, description="Probability of each transform per image.")
    mixup_alpha: float = Field(0.0, ge=0.0, description="Mixup (Zhang et al. 2018) with Beta(alpha, alpha) weights; 0 is off.")
    cutmix_alpha: float = Field(0.0, ge=0.0, description="CutMix (Yun et al. 2019) with Beta(alpha, alpha) areas; 0 is off.")

    @property
    def enabled(self) -> bool:
        """True when any transform is on."""
        return bool(self.rotation or self.translate or self.scale != [1.0, 1.0] or self.elastic or self.noise_std or self.mixup_alpha or self.cutmix_alpha)

    @model_validator(mode="after")
    def _scale(self) -> "ImageAugmentSpec":
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"scale must be [min, max] with 0 < min <= max, got {self.scale}")
        return self


class PrepareSpec(Section):
    """Preprocessing fitted on the training split only (scikit-learn transformers)."""

    numeric_imputer: Literal["mean", "median", "most_frequent", "constant", "knn", "iterative"] = "median"
    fill_value: float = Field(0.0, description="numeric_imputer 'constant': the value missing numbers become.")
    missing_indicator: bool = Field(False, description="Add a 0/1 column per numeric column marking missing values.")
    clip_quantile: float | None = Field(
        None, gt=0.0, lt=0.5, description="Winsorize numeric columns to the [q, 1-q] quantiles of the training split."
    )
    scaler: Literal["standard", "minmax", "robust", "quantile", "power", "none"] = "standard"
    encoder: Literal["onehot", "ordinal"] = "onehot"
    min_frequency: int = Field(
        1, ge=1, description="Categories with fewer training rows are grouped with unseen ones (all zeros for onehot, -1 for ordinal)."
    )
    drop_duplicates: bool = Field(False, description="Drop exact duplicate rows (else they are kept on one side of the split).")
    drop_constant: bool = Field(True, description="Drop constant columns (reported).")
    drop_identifiers: bool = Field(True, description="Drop identifier-like columns (reported).")
    fail_on: list[Literal["error", "warning", "info"]] = Field(
        default_factory=lambda: ["error"], description="Severities of profile findings that stop the run."
    )
    leakage_auc: float = Field(
        0.99, gt=0.5, le=1.0, description="A column whose single-column ROC-AUC (95% lower bound) exceeds this is suspected leakage."
    )
    leakage_correlation: float = Field(
        0.99, gt=0.0, le=1.0, description="Regression: a column whose |Spearman rho| with the target (95% lower bound) exceeds this is suspected leakage."
    )
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    reduce: ReduceSpec = Field(default_factory=ReduceSpec)
    image_augment: ImageAugmentSpec = Field(default_factory=ImageAugmentSpec)


class ThresholdSpec(Section):
    """Decision threshold on the positive class's probability (binary tasks): tuned on validation, or undoing a prior shift."""

    objective: Literal["none", "f1", "recall", "prior_shift", "prior_shift_f1", "prior_shift_f1_plugin", "prior_shift_matched", "prior_shift_matched_f1_plugin"] = Field(
        "none",
        description=(
            "'f1' / 'recall': tuned on the validation split. 'prior_shift': computed from the class weights and "
            "resampling, no validation rows (Elkan 2001, 'The foundations of cost-sensitive learning'): the threshold "
            "on the weighted network's probability that is 0.5 on the unweighted posterior. 'prior_shift_f1': the "
            "same correction aimed at F*/2, the F1-optimal threshold of a calibrated classifier (Lipton, Elkan & "
            "Naryanaswamy 2014), F* the best validation F1; 'prior_shift_f1_plugin': F* estimated from the "
            "de-weighted validation probabilities without labels. 'prior_shift_matched': the shift is measured, as the "
            "factor whose de-weighted validation probabilities average to the training prior (Saerens, Latinne & "
            "Decaestecker 2002); '_f1_plugin' aims it at the plug-in F*/2."
        ),
    )
    target_recall: float = Field(0.9, gt=0.0, le=1.0, description="objective 'recall': the validation recall to reach.")


class ImbalanceSpec(Section):
    """Handling of class imbalance: resampling, loss weighting, decision threshold."""

    sampler: Literal[
        "none", "random_over", "random_under", "smote", "smotenc", "adasyn", "borderline_smote", "smote_tomek"
    ] = "none"
    k_neighbors: int = Field(5, ge=1, description="Neighbours used by SMOTE-family samplers and ADASYN.")
    sampling_strategy: float | Literal["auto"] = Field(
        "auto", description="'auto' (balance every class) or, for binary tasks, the minority/majority ratio after resampling."
    )
    class_weight: Literal["none", "balanced"] = "none"
    loss: Literal["cross_entropy", "focal"] = "cross_entropy"
    focal_gamma: float = Field(2.0, ge=0.0, description="Focal-loss focusing parameter (Lin et al. 2017).")
    threshold: ThresholdSpec = Field(default_factory=ThresholdSpec)


class EarlyStoppingSpec(Section):
    """Stop when validation loss has not improved for ``patience`` epochs."""

    enabled: bool = True
    patience: int = Field(10, ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class ScheduleSpec(Section):
    """Learning-rate schedule, stepped every batch."""

    type: Literal["none", "cosine", "onecycle"] = Field(
        "none",
        description="'cosine': linear warm-up then cosine decay to 0 (Loshchilov & Hutter 2017); 'onecycle': PyTorch's OneCycleLR "
        "(Smith & Topin 2019) peaking at train.learning_rate; 'none': constant after any warm-up.",
    )
    warmup: float = Field(0.0, ge=0.0, lt=1.0, description="Fraction of all training steps spent warming up linearly from 0 (onecycle: its pct_start, default 0.3 when 0).")


Norm = Literal["inf", "2"]
"""An attack's norm: L-infinity (``inf``) or L2 (``2``)."""


def _norm_name(value: Any) -> Any:
    # YAML reads `inf` as a string, `.inf` as a float and `2` as an integer: all name a norm.
    if isinstance(value, float) and value == float("inf"):
        return "inf"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 2:
        return "2"
    return value


class AdversarialSpec(Section):
    """Adversarial training: part of every training batch replaced by attacks on the network being trained.

    Madry et al. 2018 (PGD with a random start) or Goodfellow et al. 2015 (FGSM),
    in the same space and units as the attack stage: preprocessed numeric features,
    epsilon in standard deviations of the training rows, one-hot blocks left alone.
    """

    attack: Literal["pgd", "fgsm"] = "pgd"
    epsilon: float = Field(..., gt=0.0, description="Perturbation budget, in standard deviations of each training feature.")
    ratio: float = Field(0.5, gt=0.0, le=1.0, description="Fraction of each batch replaced by its adversarial examples (1: Madry et al.'s min-max training).")
    norm: Norm = "inf"
    steps: int = Field(7, ge=1, le=100, description="PGD iterations per batch.")
    step_size: float = Field(0.25, gt=0.0, le=1.0, description="PGD step, as a fraction of epsilon.")

    @field_validator("norm", mode="before")
    @classmethod
    def _norm(cls, value: Any) -> Any:
        return _norm_name(value)


class PrivacySpec(Section):
    """Differentially private training with DP-SGD (Abadi et al. 2016), by Opacus.

    Per-row gradients clipped to ``max_grad_norm``, Gaussian noise scaled to reach
    (``epsilon``, ``delta``) over ``train.epochs`` epochs of Poisson-sampled batches
    (PRV accountant, Gopi et al. 2021). The guarantee covers the training rows'
    influence on the network's weights; the fitted preprocessing (means, medians,
    categories, ranges) is computed from them without noise.
    """

    epsilon: float = Field(..., gt=0.0, description="Target privacy budget for the whole training.")
    delta: float | None = Field(None, gt=0.0, lt=1.0, description="Target delta; default: the smaller of 1e-5 and 1 / (10 x training rows).")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Clip each row's gradient to this L2 norm.")


class TrainSpec(Section):
    """Optimisation settings: AdamW on the task's loss, mini-batches from a DataLoader, callbacks."""

    epochs: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    gradient_clip: float | None = Field(None, gt=0.0, description="Clip the gradients' global L2 norm to this before each optimizer step.")
    early_stopping: EarlyStoppingSpec = Field(default_factory=EarlyStoppingSpec)
    checkpoint_every: int = Field(10, ge=0, description="Write a resumable checkpoint every this many epochs (0: only at the end).")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="'auto' (CUDA when available, else CPU), 'cpu' or 'cuda[:N]'.")
    num_threads: int = Field(1, ge=1, le=256, description="CPU threads torch uses while training (restored afterwards); chosen, not inherited.")
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms(True) while training, for bit-identical reruns and resumes on GPU.")
    mixed_precision: bool = Field(False, description="bfloat16 autocast on CUDA; ignored on CPU.")
    loss: Literal["cross_entropy", "mse", "huber"] | None = Field(
        None, description="Default: cross_entropy for classification, mse for regression (on the standardised target)."
    )
    adversarial: AdversarialSpec | None = Field(None, description="Adversarial training (off by default).")
    privacy: PrivacySpec | None = Field(None, description="DP-SGD with Opacus (off by default).")

    @model_validator(mode="after")
    def _one_of_adversarial_or_private(self) -> "TrainSpec":
        if self.adversarial is not None and self.privacy is not None:
            raise ValueError("adversarial training and DP-SGD (train.privacy) cannot be combined; choose one")
        if self.privacy is not None and self.gradient_clip is not None:
            raise ValueError("train.gradient_clip does not apply with train.privacy: DP-SGD clips each row's gradient to train.privacy.max_grad_norm")
        return self


class BootstrapSpec(Section):
    """Bootstrap confidence intervals of the test metrics (resampling test rows)."""

    samples: int = Field(1000, ge=0, description="Number of resamples; 0 turns intervals off.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int | None = Field(None, ge=0, description="Seed of the resampling; default: the recipe's seed.")


class CalibrationSpec(Section):
    """Calibration measurement, and optional temperature scaling fitted on the validation split."""

    bins: int = Field(10, ge=2, le=100, description="Equal-width confidence bins of the ECE and reliability diagram.")
    temperature_scaling: bool = Field(False, description="Fit a temperature on the validation split and export the calibrated network.")


class EvaluateSpec(Section):
    """Test-split evaluation."""

    baseline: bool = Field(True, description="Also fit baselines (linear, HistGradientBoosting, dummy) on the same split.")
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    calibration: CalibrationSpec = Field(default_factory=CalibrationSpec)
    cv: int | None = Field(None, ge=2, description="k of a k-fold cross-validation refitting preparation and network in each fold; off by default.")
    cv_group: str | None = Field(None, description="Column whose values must not straddle folds (grouped k-fold).")
    learning_curve: list[float] | None = Field(
        None, description="Fractions of the training rows to retrain on for a learning curve, e.g. [0.25, 0.5, 1.0]; off by default."
    )
    from_scratch: bool = Field(
        False, description="Pretrained kinds: also train the same network from random weights on the same split, as a baseline (what transfer learning bought)."
    )

    @model_validator(mode="after")
    def _fractions(self) -> "EvaluateSpec":
        bad = [f for f in self.learning_curve or [] if not 0 < f <= 1]
        if bad:
            raise ValueError(f"learning_curve fractions must be in (0, 1], got {bad}")
        return self


class ExplainSpec(Section):
    """Explanations: SHAP values, permutation importance and a surrogate tree."""

    enabled: bool = True
    samples: int = Field(200, ge=1, description="Test rows explained with SHAP (a random sample when there are more).")
    background: int = Field(100, ge=1, description="Training rows used as the SHAP background.")
    permutation_repeats: int = Field(5, ge=1)
    surrogate_depth: int = Field(4, ge=1, le=12)
    row: int = Field(0, ge=0, description="Test row (position among the test rows) explained locally.")


class MembershipSpec(Section):
    """Membership inference: can an attacker tell training rows from held-out rows by the model's outputs?"""

    enabled: bool = True
    rows: int = Field(1000, ge=10, description="At most this many training rows (members) and as many test rows (non-members), a seeded sample.")


class AttackSpec(Section):
    """Adversarial robustness (FGSM, PGD under L-inf and L2) and membership inference on the finished network.

    Tables: attacks run on the preprocessed features: only numeric features are
    perturbed (one-hot and missing-indicator columns are left alone), epsilon is
    in standard deviations of each training feature, and ``clip`` keeps
    perturbed values inside the range seen in training. Images: FGSM and PGD
    (L-inf) in pixel space within the pixel range, at ``pixel_epsilons``. Text:
    accuracy under character typos and word deletion at ``rates``.
    """

    enabled: bool = True
    methods: list[Literal["fgsm", "pgd"]] = Field(default_factory=lambda: ["fgsm", "pgd"], min_length=1)
    norms: list[Norm] = Field(default_factory=lambda: ["inf", "2"], min_length=1)
    epsilons: list[float] = Field(
        default_factory=lambda: [0.0, 0.05, 0.1, 0.25, 0.5, 1.0], min_length=1, description="L-inf budgets, in standard deviations per feature."
    )
    l2_epsilons: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0, 4.0], min_length=1, description="L2 budgets, in standard deviations (the L2 norm of the standardised perturbation)."
    )
    pgd_steps: int = Field(20, ge=1, le=1000, description="PGD iterations.")
    pgd_step_size: float = Field(0.125, gt=0.0, le=1.0, description="PGD step as a fraction of epsilon (2.5 / pgd_steps, as Madry et al. 2018).")
    pgd_restarts: int = Field(1, ge=1, le=20, description="PGD random starts; a row counts as fooled if any start fools it.")
    clip: bool = Field(True, description="Keep perturbed values inside each feature's training range (a value already outside it may not move further out).")
    rows: int = Field(1000, ge=1, description="At most this many test rows are attacked (a seeded sample).")
    membership: MembershipSpec = Field(default_factory=MembershipSpec)
    pixel_epsilons: list[float] = Field(
        default_factory=lambda: [0.0, 0.02, 0.05, 0.1, 0.2],
        min_length=1,
        description="Images (``cnn``): L-inf budgets of FGSM and PGD, in units of the [0, 1] pixel range.",
    )
    rates: list[float] = Field(
        default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3],
        min_length=1,
        description="Text (``transformer``): fractions of characters hit by a typo (insert, delete, swap, substitute) and of words deleted.",
    )
    repeats: int = Field(2, ge=1, le=20, description="Text: random draws averaged per rate.")

    @field_validator("norms", mode="before")
    @classmethod
    def _norms(cls, value: Any) -> Any:
        return [_norm_name(v) for v in value] if isinstance(value, list) else value

    @field_validator("epsilons", "l2_epsilons")
    @classmethod
    def _budgets(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not (v >= 0 and v < float("inf"))]
        if bad:
            raise ValueError(f"epsilons must be finite and >= 0, got {bad}")
        return sorted(set(value))

    @field_validator("pixel_epsilons", "rates")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not 0 <= v <= 1]
        if bad:
            raise ValueError(f"must lie in [0, 1], got {bad}")
        return sorted(set(value))


class ExportSpec(Section):
    """ONNX export and the parity check against the PyTorch pipeline."""

    opset: int = Field(18, ge=18, le=21)
    parity_tolerance: float = Field(1e-5, gt=0.0)
    input_range_margin: float | None = Field(
        10.0,
        gt=0.0,
        description="The bundle accepts numeric values within the training range widened by this many range widths on each side "
        "(a record outside gets a per-record error); null accepts any float32 value.",
    )


class PruneSpec(Section):
    """Structured pruning of the trained network (whole hidden units, by group L2 norm), then fine-tuning."""

    amount: float = Field(0.5, gt=0.0, lt=1.0, description="Fraction of the hidden units of every pruned layer that is removed.")
    fine_tune_epochs: int = Field(3, ge=0, description="Epochs of fine-tuning after pruning (the train section's optimizer, batch size and early stopping).")
    learning_rate: float | None = Field(
        None,
        gt=0.0,
        description="Fine-tuning learning rate; default a tenth of train.learning_rate (a pruned network starts close to a good solution).",
    )


class DistillSpec(Section):
    """Knowledge distillation into small MLP students (Hinton, Vinyals & Dean 2015)."""

    students: list[list[int]] = Field(
        default_factory=lambda: [[128]],
        min_length=1,
        description="Hidden sizes of each student MLP; a student needs fewer parameters than the trained network.",
    )
    temperature: float = Field(4.0, gt=0.0, description="Softmax temperature T of the soft targets (the soft term is scaled by T²).")
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="Weight of the soft-target term; 1 - alpha weighs the true labels (0: no distillation).")
    epochs: int = Field(100, ge=1, description="Most training epochs of each student (the train section's early stopping ends it sooner).")

    @model_validator(mode="after")
    def _positive_sizes(self) -> "DistillSpec":
        bad = [h for sizes in self.students for h in sizes if h < 1]
        if bad:
            raise ValueError(f"student hidden sizes must be >= 1, got {bad}")
        return self


class BudgetSpec(Section):
    """How much metric the deployed variant may lose, and what it is chosen for."""

    metric: str | None = Field(None, description="A test metric of the task (e.g. f1, accuracy, rmse); default: the task's primary metric.")
    max_drop: float = Field(
        0.01, ge=0.0, description="Largest allowed loss of the metric against ONNX fp32 on the validation split (an increase for rmse, mae, log_loss)."
    )
    objective: Literal["latency", "size"] = Field(
        "latency", description="Among variants within the budget: the lowest batch-1 latency, or the smallest file."
    )


class ToleranceSpec(Section):
    """Declared parity tolerance of each precision: largest |output - reference output| on any test row."""

    fp16: float = Field(1e-3, gt=0.0, description="float16 graphs against the float32 graph of the same network.")
    int8: float = Field(0.1, gt=0.0, description="int8 graphs against the float32 graph of the same network.")


class LatencySpec(Section):
    """How latency and throughput are measured (one thread, batch 1, many calls after warm-up)."""

    repeats: int = Field(2000, ge=10, description="Timed batch-1 calls of each variant's onnxruntime session.")
    warmup: int = Field(200, ge=0, description="Untimed calls before timing.")
    request_repeats: int = Field(100, ge=0, description="Timed batch-1 calls through shipyard.load(bundle), the server's request path; 0 skips it.")
    throughput_batch: int = Field(1024, ge=2, description="Rows per call when measuring throughput (rows/s).")


class CompressSpec(Section):
    """Compressed variants of the network, measured against ONNX fp32; the best one within the budget is deployed."""

    formats: list[Literal["int8_dynamic", "int8_static", "fp16"]] = Field(
        default_factory=lambda: ["int8_dynamic", "int8_static", "fp16"],
        description="Lower-precision graphs made of every network (trained, pruned, students); fp32 graphs are always made.",
    )
    prune: PruneSpec | None = Field(default_factory=PruneSpec, description="Structured pruning; null turns it off.")
    distill: DistillSpec | None = Field(default_factory=DistillSpec, description="Distillation into students; null turns it off.")
    calibration_rows: int = Field(200, ge=1, description="Training rows that calibrate static int8 activation ranges.")
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    tolerance: ToleranceSpec = Field(default_factory=ToleranceSpec)
    latency: LatencySpec = Field(default_factory=LatencySpec)


class Recipe(Section):
    """A whole recipe: data, preparation, model, training, evaluation, export."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Run and registered-model name.")
    task: Literal["classification", "regression"] = "classification"
    seed: int = Field(0, ge=0)
    data: DataSpec
    prepare: PrepareSpec = Field(default_factory=PrepareSpec)
    imbalance: ImbalanceSpec = Field(default_factory=ImbalanceSpec)
    model: ModelSection = Field(default_factory=MLPSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    explain: ExplainSpec = Field(default_factory=ExplainSpec)
    attack: AttackSpec = Field(default_factory=AttackSpec)
    export: ExportSpec = Field(default_factory=ExportSpec)
    compress: CompressSpec | None = Field(None, description="Compressed variants and the budget that picks the deployed one; absent: no compression.")

    # Directory the recipe was read from; relative data paths resolve against it.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True, repr=False)

    def resolved(self) -> dict[str, Any]:
        """Return the recipe with every default filled in, as plain data."""
        return self.model_dump(mode="json")


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file.

    Parameters
    ----------
    path : str or Path
        The recipe file.

    Returns
    -------
    Recipe
        The validated recipe, with ``base_dir`` set to the file's directory.

    Raises
    ------
    RecipeError
        If the file is missing, is not a YAML mapping, or does not match the schema.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found", "check the path; recipes are YAML files")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not a UTF-8 text file", "save the recipe as UTF-8 YAML") from None
    if not isinstance(raw, dict):
        raise RecipeError(
            f"{path}: the recipe must be a YAML mapping, got {type(raw).__name__}",
            "start from examples/breast_cancer.yaml",
        )
    return recipe_from_dict(raw, source=str(path), base_dir=path.resolve().parent)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def recipe_from_dict(raw: dict[str, Any], source: str = "recipe", base_dir: Path | None = None) -> Recipe:
    """Validate a recipe given as a mapping (the parsed YAML).

    Raises
    ------
    RecipeError
        Naming the first offending key path and the allowed values.
    """
    raw = dict(raw)
    raw.pop("base_dir", None)
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"{source}: " + "; ".join(_describe(err) for err in exc.errors()[:3])) from None
    if base_dir is not None:
        recipe.base_dir = base_dir
    check_task_options(recipe, source)
    check_input_options(recipe, source)
    return recipe


def check_task_options(recipe: Recipe, source: str = "recipe") -> None:
    """Refuse options the recipe's task cannot honour (e.g. a SMOTE sampler for regression).

    Raises
    ------
    RecipeError
        Naming the recipe file and key.
    """
    from shipyard.tasks import get_task

    try:
        get_task(recipe.task).check_recipe(recipe)
    except RecipeError as exc:
        raise RecipeError(f"{source}: {exc.message}", exc.hint) from None


def check_input_options(recipe: Recipe, source: str = "recipe") -> None:
    """Refuse options the model kind's input modality cannot honour (e.g. ``data.text`` with a tabular kind).

    Raises
    ------
    RecipeError
        Naming the recipe file and key.
    """
    from shipyard.modalities import check_recipe

    try:
        check_recipe(recipe)
    except RecipeError as exc:
        raise RecipeError(f"{source}: {exc.message}", exc.hint) from None


def _describe(err: dict[str, Any]) -> str:
    """Turn one pydantic error into 'key.path: what is wrong, got X'."""
    loc = [str(p) for p in err["loc"]]
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    if kind == "union_tag_invalid":
        return f"{'.'.join(loc)}.type: must be one of {ctx.get('expected_tags')}, got {ctx.get('tag')!r}"
    # Drop pydantic's internal location parts: model validators, and the tag of the model kind.
    shown = [p for i, p in enumerate(loc) if not p.startswith("function-after") and not (i == 1 and loc[0] == "model" and p in MODEL_TYPES)]
    key = ".".join(shown) or "(top level)"
    if kind == "extra_forbidden":
        parent = _section_at(loc[:-1])
        allowed = sorted(parent.model_fields) if parent else []
        allowed = [a for a in allowed if a != "base_dir"]
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"{key}: unknown key ({hint})"
    if kind == "missing":
        return f"{key}: required key is missing"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"{key}: must be {bounds[kind]} {limit}, got {value!r}"
    if kind == "literal_error":
        return f"{key}: must be one of {ctx.get('expected')}, got {value!r}"
    if kind == "string_pattern_mismatch":
        what = {"name": " (letters, digits, '-', '_', '.')", "train.device": " ('auto', 'cpu', 'cuda' or 'cuda:N')"}.get(key, "")
        return f"{key}: must match {ctx.get('pattern')}{what}, got {value!r}"
    if kind == "value_error":
        return f"{key}: {err['msg'].removeprefix('Value error, ')}"
    if kind == "string_type" and isinstance(value, bool):
        return (
            f"{key}: got the YAML boolean {str(value).lower()}, not text (YAML reads unquoted yes/no/on/off/true/false as booleans); "
            f"quote it, e.g. {loc[-1]}: \"Yes\""
        )
    return f"{key}: {err['msg'][0].lower()}{err['msg'][1:]}, got {value!r}"


def _section_at(loc: list[str]) -> type[BaseModel] | None:
    """Return the pydantic model class at a key path of the recipe, if any."""
    model: type[BaseModel] = Recipe
    for i, part in enumerate(loc):
        if i == 1 and loc[0] == "model" and part in MODEL_TYPES:
            model = MODEL_TYPES[part]
            continue
        field = model.model_fields.get(part)
        if part == "model" and model is Recipe:
            model = MODEL_TYPES["mlp"]  # refined by the tag that follows in the location
            continue
        annotation = getattr(field, "annotation", None)
        # An optional section (``compress: CompressSpec | None``) names its section class among the union's members.
        members = [a for a in (*typing.get_args(annotation), annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not members:
            return None
        model = members[0]
    return model
