"""The FastAPI app that serves one bundle.

The request model is built from the manifest's input schema, so the OpenAPI
document lists the real input columns and FastAPI answers 422, naming the
field, for a missing or mistyped value. Only onnxruntime runs the model; this
module never imports torch.
"""

# No `from __future__ import annotations`: FastAPI must see the request model built at run time.
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from shipyard import __version__
from shipyard.errors import InputError
from shipyard.predictor import Predictor
from shipyard.schema import Column

MAX_RECORDS = 10_000
MAX_BODY_BYTES = 32 * 1024 * 1024


def record_model(schema: list[Column]) -> type[BaseModel]:
    """Build the pydantic model of one input record from the bundle's schema.

    Every column is required; ``null`` means a missing value (imputed for
    numeric columns, its own category for categorical ones).
    """
    fields: dict[str, Any] = {}
    for col in schema:
        if col.kind == "numeric":
            fields[col.onnx_name] = (float | None, Field(..., alias=col.name, strict=True, allow_inf_nan=False, description="number; null if missing"))
        else:
            shown = ", ".join(repr(c) for c in col.categories[:20]) + (" ..." if len(col.categories) > 20 else "")
            fields[col.onnx_name] = (
                str | bool | int | float | None,
                Field(..., alias=col.name, description=f"category seen in training: {shown}; others are accepted and encoded as all zeros"),
            )
    config = ConfigDict(extra="forbid", populate_by_name=False)
    return create_model("Record", __config__=config, **fields)


class PredictResponse(BaseModel):
    """Predictions for each record, in request order."""

    labels: list[Any] = Field(..., description="Predicted class of each record (arg-max, or the bundle's tuned decision threshold).")
    probabilities: list[dict[str, float]] = Field(..., description="Per-record mapping from class label to probability.")
    model: str = Field(..., description="Name of the served model.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")


class RegressionResponse(BaseModel):
    """Predicted values for each record, in request order."""

    predictions: list[float] = Field(..., description="Predicted value of each record, in the target's units.")
    model: str = Field(..., description="Name of the served model.")
    warnings: list[str] = Field(default_factory=list, description="E.g. categories not seen in training.")


def create_app(path: str | Path) -> FastAPI:
    """Create the app for a bundle or run directory.

    Parameters
    ----------
    path : str or Path
        Bundle folder or run directory.

    Returns
    -------
    FastAPI
        Routes: ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz``.

    Raises
    ------
    BundleError
        If the bundle is missing or was modified.
    """
    predictor = Predictor(path)
    manifest = predictor.manifest
    Record = record_model(predictor.schema)
    request_model = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        records=(list[Record], Field(..., min_length=1, max_length=MAX_RECORDS, description="Raw input records.")),
    )
    app = FastAPI(
        title=f"Shipyard model: {manifest['name']}",
        version=__version__,
        description=f"Predicts '{manifest.get('target', 'target')}' ({', '.join(map(str, predictor.labels)) or 'a value'}) from "
        f"{len(predictor.schema)} input columns.",
    )
    names = [str(label) for label in predictor.labels]

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        # Refuse an oversized body before parsing it, so one request cannot stall the server.
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse(
                status_code=413,
                content={"detail": f"request body of {int(length)} bytes exceeds {MAX_BODY_BYTES}; send at most {MAX_RECORDS} records per request"},
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the offending input, which cannot be JSON when it is NaN or Infinity.
        detail = [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    def run_model(request: BaseModel) -> tuple[Any, list[str]]:
        """Records → model output and unseen-category warnings; input the schema cannot catch becomes a 422."""
        records = [r.model_dump(by_alias=True) for r in request.records]
        try:
            return predictor.predict_with_warnings(records, source="request")
        except InputError as exc:
            raise HTTPException(status_code=422, detail=exc.one_line()) from None

    if predictor.task == "regression":

        @app.post("/v1/predict", response_model=RegressionResponse)
        def predict_values(request: request_model) -> RegressionResponse:  # type: ignore[valid-type]
            values, warnings = run_model(request)
            return RegressionResponse(predictions=[float(v) for v in values], model=manifest["name"], warnings=warnings)

    else:

        @app.post("/v1/predict", response_model=PredictResponse)
        def predict(request: request_model) -> PredictResponse:  # type: ignore[valid-type]
            proba, warnings = run_model(request)
            return PredictResponse(
                labels=[predictor.labels[i] for i in predictor.decide(proba)],
                probabilities=[dict(zip(names, map(float, row))) for row in proba],
                model=manifest["name"],
                warnings=warnings,
            )

    @app.get("/v1/model")
    def model_info() -> dict[str, Any]:
        """The bundle's manifest: schema, labels, metrics, hashes, versions."""
        return manifest

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness: the model is loaded."""
        return {"status": "ok", "model": manifest["name"], "sha256": manifest["files"][manifest["model_file"]]["sha256"]}

    return app
