"""The response bodies of ``POST /v1/predict``, one per task (pydantic models, also the OpenAPI document)."""

from typing import Any

from pydantic import BaseModel, Field


class PredictResponse(BaseModel):
    """Predictions for each record, in request order (classification)."""

    labels: list[Any] = Field(..., description="Predicted class of each record (arg-max, or the bundle's tuned decision threshold).")
    probabilities: list[dict[str, float]] = Field(..., description="Per-record mapping from class label to probability.")
    model: str = Field(..., description="Name of the served model.")
    version: str = Field(..., description="Version of the model that produced these predictions.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")


class RegressionResponse(BaseModel):
    """Predicted values for each record, in request order (regression)."""

    predictions: list[float] = Field(..., description="Predicted value of each record, in the target's units.")
    model: str = Field(..., description="Name of the served model.")
    version: str = Field(..., description="Version of the model that produced these predictions.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")
