"""The FastAPI app that serves one bundle.

The request model is built from the manifest's input schema, so the OpenAPI
document lists the real input columns and FastAPI answers 422, naming the
field, for a missing or mistyped value. A record the model cannot predict (a
value outside the accepted range, an output that is not finite) gets an error
of its own in the response while the others are predicted. No input gets a
5xx (:mod:`shipyard.serving.guards`: body size counted as received, errors
that always encode, 415 for a body that is not JSON). ``/docs`` and
``/redoc`` serve their scripts from a packaged copy (``fastapi-offline``), so
they work without the internet. Only onnxruntime runs the model; this module
never imports torch.
"""

# No `from __future__ import annotations`: FastAPI must see the request model built at run time.
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, create_model

from shipyard import __version__
from shipyard.errors import InputError
from shipyard.predictor import UNSEEN_ENCODING, Predictor
from shipyard.schema import MISSING_CATEGORY, Column, accepted_range
from shipyard.serving.guards import BodySizeLimit, SafeJSONResponse, install_error_handlers

MAX_RECORDS = 10_000
MAX_BODY_BYTES = 32 * 1024 * 1024


def record_model(
    schema: list[Column], ignored: dict[str, str] | None = None, margin: float | None = None, unseen: str = UNSEEN_ENCODING["onehot"]
) -> type[BaseModel]:
    """Build the pydantic model of one input record from the bundle's schema.

    Every input column is required; ``null`` means a missing value (imputed
    for numeric columns; for categorical and boolean ones
    :data:`shipyard.schema.MISSING_RULE`). Values are read by
    :func:`shipyard.schema.coerce`, as in training and batch prediction. The
    descriptions state the range a numeric column accepts (the training range
    widened by ``margin`` widths, :func:`shipyard.schema.accepted_range`) and
    how an unseen category is encoded (``unseen``).

    Parameters
    ----------
    schema : list of Column
    ignored : dict of str to str, optional
        Columns of the training data that the model does not use (dropped as
        identifiers, constant, or the split's group column) with the reason:
        a record may still carry them, as the training file did; they are ignored.
    margin : float, optional
        The bundle's ``input_range.margin``.
    unseen : str
        How the bundle's encoder encodes an unseen category.
    """
    fields: dict[str, Any] = {}
    for col in schema:
        if col.kind == "numeric":
            low, high = accepted_range(col, margin)
            limits = "" if margin is None or col.min is None else f"; accepted from {low:.6g} to {high:.6g} (training range {col.min:.6g} to {col.max:.6g})"
            fields[col.onnx_name] = (
                float | None,
                Field(..., alias=col.name, strict=True, allow_inf_nan=False, description=f"number; null if missing{limits}"),
            )
        elif col.kind == "boolean":
            fields[col.onnx_name] = (
                bool | str | int | None,
                Field(..., alias=col.name, description="boolean: true or false (also yes/no, 1/0); null if missing"),
            )
        else:
            known = [c for c in col.categories if c != MISSING_CATEGORY]
            shown = ", ".join(repr(c) for c in known[:20]) + (" ..." if len(known) > 20 else "")
            missing = "null is its own category" if MISSING_CATEGORY in col.categories else "null is encoded as all zeros (none in training)"
            fields[col.onnx_name] = (
                str | bool | int | float | None,
                Field(..., alias=col.name, description=f"category seen in training: {shown}; others are accepted and {unseen}; {missing}"),
            )
    taken = set(fields)
    for i, (name, why) in enumerate(sorted((ignored or {}).items())):
        key = f"ignored_{i}"
        while key in taken:
            key += "_"
        fields[key] = (Any, Field(None, alias=name, description=f"ignored: not a model input ({why})"))
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
        Routes: ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz``,
        ``/docs`` and ``/redoc`` (served without the internet).

    Raises
    ------
    BundleError
        If the bundle is missing or was modified.
    """
    predictor = Predictor(path)
    manifest = predictor.manifest
    Record = record_model(predictor.schema, (manifest.get("preprocessing") or {}).get("dropped_columns"), predictor.input_margin, predictor.unseen_encoding)
    request_model = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        records=(list[Record], Field(..., min_length=1, max_length=MAX_RECORDS, description="Raw input records.")),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.model = predictor
        yield

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from a packaged copy, not a CDN.
    app = FastAPIOffline(
        title=f"Shipyard model: {manifest['name']}",
        version=__version__,
        description=f"Predicts '{manifest.get('target', 'target')}' ({', '.join(map(str, predictor.labels)) or 'a value'}) from "
        f"{len(predictor.schema)} input columns.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.model = predictor  # also before start-up, for in-process clients that skip the lifespan
    # Bytes actually received are counted, for Content-Length and chunked bodies alike.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, hint=f"send at most {MAX_RECORDS} records per request")
    install_error_handlers(app)

    @app.post("/v1/predict", response_model=predictor.task.response_model())
    def predict(request: request_model, model: Predictor = Depends(current_model)) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predict the records: labels and class probabilities, or values; a record that cannot be predicted is listed in ``errors``."""
        records = [r.model_dump(by_alias=True) for r in request.records]
        try:
            found = model.predict_records(records, source="request")
        except InputError as exc:  # input the schema cannot catch
            raise HTTPException(status_code=422, detail=exc.one_line()) from None
        return model.task.response(found.output, found.decided, model.labels, model.manifest["name"], found.warnings, found.errors)

    @app.get("/v1/model")
    def model_info(model: Predictor = Depends(current_model)) -> dict[str, Any]:
        """The bundle's manifest: schema, labels, metrics, hashes, versions."""
        return model.manifest

    @app.get("/healthz")
    def healthz(model: Predictor = Depends(current_model)) -> dict[str, Any]:
        """Liveness: the model is loaded (its name and the sha256 of its verified graph)."""
        return {"status": "ok", "model": model.manifest.get("name"), "sha256": model.model_sha256}

    return app
