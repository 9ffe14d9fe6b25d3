"""The response bodies of ``POST /v1/predict``, one per task (pydantic models, also the OpenAPI document)."""

from typing import Any

from pydantic import BaseModel, Field


class RecordError(BaseModel):
    """Why one record of the request was not predicted (its prediction is null)."""

    record: int = Field(..., description="Position of the record in the request's records (from 0).")
    detail: str = Field(..., description="E.g. a value outside the range the model accepts, or an output that is not finite.")


class OutOfRange(BaseModel):
    """A numeric value far outside the range seen in training, yet accepted (the record is still predicted)."""

    column: str
    value: float
    min: float = Field(..., description="Smallest value of the column in the training split.")
    max: float = Field(..., description="Largest value of the column in the training split.")


OOD_DESCRIPTION = (
    "Per record (request order), each numeric feature whose value lies beyond its training range by more than 10% of "
    "the range's width, with that range; empty when every value is in range. The prediction is still made; a value beyond "
    "the wider range the model accepts is not marked here but refused in errors."
)


class PredictResponse(BaseModel):
    """Predictions for each record, in request order (classification)."""

    labels: list[Any | None] = Field(..., description="Predicted class of each record (arg-max, or the bundle's tuned decision threshold); null for a record listed in errors.")
    probabilities: list[dict[str, float] | None] = Field(..., description="Per-record mapping from class label to probability; null for a record listed in errors.")
    model: str = Field(..., description="Name of the served model.")
    version: str = Field(..., description="Version of the model that produced these predictions.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")
    errors: list[RecordError] = Field(default_factory=list, description="Records that could not be predicted, and why; the other records are predicted.")
    out_of_distribution: list[list[OutOfRange]] = Field(default_factory=list, description=OOD_DESCRIPTION)


class RegressionResponse(BaseModel):
    """Predicted values for each record, in request order (regression)."""

    predictions: list[float | None] = Field(..., description="Predicted value of each record, in the target's units; null for a record listed in errors.")
    model: str = Field(..., description="Name of the served model.")
    version: str = Field(..., description="Version of the model that produced these predictions.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")
    errors: list[RecordError] = Field(default_factory=list, description="Records that could not be predicted, and why; the other records are predicted.")
    out_of_distribution: list[list[OutOfRange]] = Field(default_factory=list, description=OOD_DESCRIPTION)
