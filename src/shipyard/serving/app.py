"""The FastAPI app that serves one bundle.

The request model is built from the manifest's input schema, so the OpenAPI
document lists the real input columns and FastAPI answers 422, naming the
field, for a missing or mistyped value. A record the model cannot predict (a
value outside the accepted range, an output that is not finite) gets an error
of its own in the response while the others are predicted; a predicted record
with values far outside the training range is marked per feature
(:mod:`shipyard.serving.ood`). No input gets a
5xx (:mod:`shipyard.serving.guards`: body size counted as received, errors
that always encode, 415 for a body that is not JSON). ``/docs`` and
``/redoc`` serve their scripts from a packaged copy (``fastapi-offline``), so
they work without the internet. Only onnxruntime runs the model; this module
never imports torch.
"""

# No `from __future__ import annotations`: FastAPI must see the request model built at run time.
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, create_model

from shipyard import __version__
from shipyard.errors import InputError
from shipyard.predictor import UNSEEN_ENCODING, Predictor, load
from shipyard.schema import MISSING_CATEGORY, Column, accepted_range
from shipyard.serving.access_log import AccessLog, configure_access_log
from shipyard.serving.auth import BearerAuth
from shipyard.serving.batching import MicroBatcher
from shipyard.serving.guards import BodySizeLimit, SafeJSONResponse, install_error_handlers
from shipyard.serving.metrics import ServerMetrics
from shipyard.serving.settings import ServeSettings

MAX_RECORDS = 10_000
MAX_BODY_BYTES = 32 * 1024 * 1024
INLINE_RECORDS = 64
"""Requests with at most this many records are coerced on the event loop; larger ones on a worker thread."""


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


async def current_model(request: Request) -> Predictor:
    """The served model: ``app.state.model``, read once per request (a dependency; async, so FastAPI calls it without a thread hop).

    Replacing the model is one assignment to ``app.state.model``; a request
    in flight keeps the predictor it started with.
    """
    return request.app.state.model


def json_response(body: dict[str, Any], status_code: int = 200) -> Response:
    """A JSON response serialised once with orjson (no per-record pydantic model); text orjson refuses (a lone surrogate) is escaped instead."""
    try:
        return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")
    except TypeError:
        return SafeJSONResponse(body, status_code=status_code)


def request_record_model(predictor: Predictor) -> type[BaseModel]:
    """The pydantic model of one request record of the bundle: its columns (:func:`record_model`), or a text or image record."""
    if predictor.modality == "tabular":
        manifest = predictor.manifest
        return record_model(predictor.schema, (manifest.get("preprocessing") or {}).get("dropped_columns"), predictor.input_margin, predictor.unseen_encoding)
    return predictor.record_model()


def create_app(path: str | Path, settings: ServeSettings | None = None) -> FastAPI:
    """Create the app for a bundle or run directory.

    The bundle is loaded once and held in ``app.state.model``; handlers get it
    through the :func:`current_model` dependency, never by closing over it.
    The request schema (and so the OpenAPI document) is built from the
    bundle's input schema. Handlers are ``async``: coercion runs on the event
    loop (it is vectorised and short), onnxruntime on a worker thread, through
    the micro-batcher unless ``settings.batching`` is off.

    Parameters
    ----------
    path : str or Path
        Bundle folder or run directory.
    settings : ServeSettings, optional
        Batching, threads, auth, logging; default :class:`ServeSettings` for ``path``.

    Returns
    -------
    FastAPI
        Routes: ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz`` (the
        process is up), ``GET /readyz`` (the model is loaded and warmed up),
        ``GET /metrics`` (Prometheus), ``/docs`` and ``/redoc`` (served
        without the internet).

    Raises
    ------
    BundleError
        If the bundle is missing or was modified.
    """
    settings = settings or ServeSettings(path=str(path))
    predictor = load(path, intra_op_threads=settings.intra_op_threads)  # a table, text or image bundle (the manifest's input)
    manifest = predictor.manifest
    Record = request_record_model(predictor)
    request_model = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        records=(list[Record], Field(..., min_length=1, max_length=MAX_RECORDS, description="Raw input records.")),
    )
    metrics = ServerMetrics()
    batcher = MicroBatcher(settings.max_batch_size, settings.max_wait_ms, metrics.batch_records.observe) if settings.batching else None
    auth = BearerAuth(settings.api_keys)

    def warm_up(model: Predictor) -> None:
        """Run the model on its :meth:`~shipyard.predictor.Predictor.warmup_records` so the first request pays no one-off costs."""
        for _ in range(3):
            model.run(model.prepare(model.warmup_records(), "warm-up"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(warm_up, app.state.model)
        app.state.ready = True
        yield
        app.state.ready = False
        if batcher is not None:
            batcher.close()

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from a packaged copy, not a CDN.
    app = FastAPIOffline(
        title=f"Shipyard model: {manifest['name']}",
        version=__version__,
        description=f"Predicts '{manifest.get('target', 'target')}' ({', '.join(map(str, predictor.labels)) or 'a value'}) from "
        + (f"{len(predictor.schema)} input columns." if predictor.modality == "tabular" else f"a {predictor.modality} record.")
        + (" Prediction requires `Authorization: Bearer <key>`." if settings.api_keys else ""),
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.model = predictor  # also before start-up, for in-process clients that skip the lifespan
    app.state.ready = False
    app.state.settings = settings
    app.state.metrics = metrics
    metrics.set_model(predictor.name, predictor.version, predictor.sha256)
    if settings.access_log:
        configure_access_log()
    # Bytes actually received are counted, for Content-Length and chunked bodies alike.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, hint=f"send at most {MAX_RECORDS} records per request")
    app.add_middleware(AccessLog, metrics=metrics, enabled=settings.access_log, version=lambda: app.state.model.version)
    install_error_handlers(app)

    @app.post("/v1/predict", response_model=predictor.task.response_model(), dependencies=[Depends(auth)])
    async def predict(request: request_model, model: Predictor = Depends(current_model)) -> Response:  # type: ignore[valid-type]
        """Predict the records: labels and class probabilities, or values; a record that cannot be predicted is listed in ``errors``;
        a predicted record with values far outside the training range is marked in ``out_of_distribution``."""
        records = [r.model_dump(by_alias=True) for r in request.records]
        try:
            model_input = model.prepare(records, "request") if len(records) <= INLINE_RECORDS else await run_in_threadpool(model.prepare, records, "request")
        except InputError as exc:  # input the schema cannot catch
            raise HTTPException(status_code=422, detail=exc.one_line()) from None
        if batcher is not None:
            output = await batcher.predict(model, model_input)
        else:
            # a small batch runs on the event loop: for a graph call of tens of microseconds, a hop to a thread costs more than it saves
            output = model.run(model_input) if model_input.n_rows <= INLINE_RECORDS else await run_in_threadpool(model.run, model_input)
            metrics.batch_records.observe(model_input.n_rows)
        output, errors = model.check(model_input, output)
        unseen = model.unseen(model_input)
        for column, count in unseen.items():
            metrics.unseen.labels(column).inc(count)
        nonfinite = sum(1 for why in errors.values() if why.startswith("the model's output is not finite"))
        if nonfinite:
            metrics.nonfinite.inc(nonfinite)
        metrics.records.inc(model_input.n_rows - len(errors))
        notes = model.warnings(model_input) if unseen or model_input.notes else []  # unseen categories; a text truncated to the model's length
        body = model.task.response(output, model.decisions(output), model.labels, model.name, notes, errors)
        body["version"] = model.version
        body["out_of_distribution"] = model.out_of_distribution(model_input.columns, model_input.n_rows, errors)
        return json_response(body)

    @app.get("/v1/model", dependencies=[Depends(auth)])  # the manifest holds the training categories: as private as predictions
    def model_info(model: Predictor = Depends(current_model)) -> dict[str, Any]:
        """The bundle's manifest (schema, labels, metrics, hashes, versions), with the model version, onnxruntime session options and serving settings."""
        serving = {k: v for k, v in asdict(app.state.settings).items() if k not in ("api_keys", "path")}
        return model.manifest | {"version": model.version, "session": model.session_options, "serving": serving | {"auth": bool(settings.api_keys)}}

    @app.get("/healthz")
    def healthz(model: Predictor = Depends(current_model)) -> dict[str, Any]:
        """Liveness: the process is up and holds a model (its name, version and the sha256 of its verified graph)."""
        return {"status": "ok", "model": model.name, "version": model.version, "sha256": model.sha256}

    @app.get("/readyz")
    def readyz(request: Request, model: Predictor = Depends(current_model)) -> Response:
        """Readiness: the model is loaded and warmed up (503 until then)."""
        ready = bool(request.app.state.ready)
        body = {"status": "ready" if ready else "starting", "model": model.name, "version": model.version}
        return json_response(body, 200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Prometheus metrics (text exposition format)."""
        content, media_type = metrics.exposition()
        return Response(content, media_type=media_type)

    return app


def create_app_from_env() -> FastAPI:
    """The app factory a ``--workers`` process calls: the settings come from :data:`shipyard.serving.settings.ENV`."""
    settings = ServeSettings.from_env()
    return create_app(settings.path, settings)
