"""The response bodies of ``POST /v1/predict``, one per task (pydantic models, also the OpenAPI document)."""

from typing import Any

from pydantic import BaseModel, Field


class OutOfRange(BaseModel):
    """A numeric value far outside the range seen in training (the record is still predicted)."""

    column: str
    value: float
    min: float = Field(..., description="Smallest value of the column in the training split.")
    max: float = Field(..., description="Largest value of the column in the training split.")


OOD_DESCRIPTION = (
    "Per record (request order), each numeric feature whose value lies beyond its training range by more than 10% of "
    "the range's width, with that range; empty when every value is in range. The prediction is still made."
)


class PredictResponse(BaseModel):
    """Predictions for each record, in request order (classification)."""

    labels: list[Any] = Field(..., description="Predicted class of each record (arg-max, or the bundle's tuned decision threshold).")
    probabilities: list[dict[str, float]] = Field(..., description="Per-record mapping from class label to probability.")
    model: str = Field(..., description="Name of the served model.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")
    out_of_distribution: list[list[OutOfRange]] = Field(default_factory=list, description=OOD_DESCRIPTION)


class RegressionResponse(BaseModel):
    """Predicted values for each record, in request order (regression)."""

    predictions: list[float] = Field(..., description="Predicted value of each record, in the target's units.")
    model: str = Field(..., description="Name of the served model.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")
    out_of_distribution: list[list[OutOfRange]] = Field(default_factory=list, description=OOD_DESCRIPTION)
