"""The FastAPI app that serves one bundle.

The request model is built from the manifest's input schema, so the OpenAPI
document lists the real input columns and FastAPI answers 422, naming the
field, for a missing or mistyped value. Only onnxruntime runs the model; this
module never imports torch.
"""

# No `from __future__ import annotations`: FastAPI must see the request model built at run time.
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from shipyard import __version__
from shipyard.errors import InputError
from shipyard.predictor import Predictor
from shipyard.schema import Column
from shipyard.serving.ood import mark_records

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


def current_model(request: Request) -> Predictor:
    """The served model: ``app.state.model``, read once per request (a dependency).

    Replacing the model is one assignment to ``app.state.model``; a request
    in flight keeps the predictor it started with.
    """
    return request.app.state.model


def create_app(path: str | Path) -> FastAPI:
    """Create the app for a bundle or run directory.

    The bundle is loaded once and held in ``app.state.model``; handlers get it
    through the :func:`current_model` dependency, never by closing over it.
    The request schema (and so the OpenAPI document) is built from the
    bundle's input schema.

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

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.model = predictor
        yield

    app = FastAPI(
        title=f"Shipyard model: {manifest['name']}",
        version=__version__,
        description=f"Predicts '{manifest.get('target', 'target')}' ({', '.join(map(str, predictor.labels)) or 'a value'}) from "
        f"{len(predictor.schema)} input columns.",
        lifespan=lifespan,
    )
    app.state.model = predictor  # also before start-up, for in-process clients that skip the lifespan

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

    @app.post("/v1/predict", response_model=predictor.task.response_model())
    def predict(request: request_model, model: Predictor = Depends(current_model)) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predict the records: labels and class probabilities, or values; values far outside the training range are marked, not refused."""
        records = [r.model_dump(by_alias=True) for r in request.records]
        try:
            output, warnings = model.predict_with_warnings(records, source="request")
        except InputError as exc:  # input the schema cannot catch
            raise HTTPException(status_code=422, detail=exc.one_line()) from None
        body = model.task.response(output, model.decisions(output), model.labels, model.manifest["name"], warnings)
        body["out_of_distribution"] = mark_records(model.schema, records)
        return body

    @app.get("/v1/model")
    def model_info(model: Predictor = Depends(current_model)) -> dict[str, Any]:
        """The bundle's manifest: schema, labels, metrics, hashes, versions."""
        return model.manifest

    @app.get("/healthz")
    def healthz(model: Predictor = Depends(current_model)) -> dict[str, Any]:
        """Liveness: the model is loaded."""
        manifest = model.manifest
        return {"status": "ok", "model": manifest["name"], "sha256": manifest["files"][manifest["model_file"]]["sha256"]}

    return app
