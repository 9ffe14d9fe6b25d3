"""The recipe's ``model`` section: one pydantic spec per model kind, discriminated by ``type``.

This module is torch-free (the recipe is read by commands that never train).
A new model kind adds its spec class here and a builder in
:mod:`shipyard.models` (see :func:`shipyard.models.register_model_kind`); the
recipe's ``model`` field is the union of :data:`MODEL_SPECS`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ModelSpec(BaseModel):
    """Base of every model spec: unknown keys are errors, ``type`` names the kind."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

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


MODEL_SPECS: list[type[ModelSpec]] = [MLPSpec, ResNetSpec]
"""Every model kind's spec, in the order ``model.type`` lists them."""
