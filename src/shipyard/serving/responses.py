"""The response bodies of ``POST /v1/predict``, one per task (pydantic models, also the OpenAPI document)."""

from typing import Any

from pydantic import BaseModel, Field


class RecordError(BaseModel):
    """Why one record of the request was not predicted (its prediction is null)."""

    record: int = Field(..., description="Position of the record in the request's records (from 0).")
    detail: str = Field(..., description="E.g. a value outside the range the model accepts, or an output that is not finite.")


class PredictResponse(BaseModel):
    """Predictions for each record, in request order (classification)."""

    labels: list[Any | None] = Field(..., description="Predicted class of each record (arg-max, or the bundle's tuned decision threshold); null for a record listed in errors.")
    probabilities: list[dict[str, float] | None] = Field(..., description="Per-record mapping from class label to probability; null for a record listed in errors.")
    model: str = Field(..., description="Name of the served model.")
    version: str = Field(..., description="Version of the model that produced these predictions.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")
    errors: list[RecordError] = Field(default_factory=list, description="Records that could not be predicted, and why; the other records are predicted.")


class RegressionResponse(BaseModel):
    """Predicted values for each record, in request order (regression)."""

    predictions: list[float | None] = Field(..., description="Predicted value of each record, in the target's units; null for a record listed in errors.")
    model: str = Field(..., description="Name of the served model.")
    version: str = Field(..., description="Version of the model that produced these predictions.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")
    errors: list[RecordError] = Field(default_factory=list, description="Records that could not be predicted, and why; the other records are predicted.")
