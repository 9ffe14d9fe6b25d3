"""Request ids, structured JSON access logs and request metrics, as one ASGI middleware.

Every response carries ``X-Request-ID`` (the client's, when it sends a
well-formed one, else a new one). One JSON line per request goes to the
``shipyard.access`` logger: time, request id, method, route, status, latency
in milliseconds, model version. Record contents are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from shipyard.serving.metrics import ServerMetrics

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
logger = logging.getLogger("shipyard.access")


def configure_access_log() -> None:
    """Send the access log to stderr as bare JSON lines (idempotent)."""
    if not any(getattr(h, "_shipyard", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._shipyard = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class AccessLog:
    """ASGI middleware: request id in and out, one JSON log line and the request metrics per HTTP request.

    Parameters
    ----------
    app : ASGI app
    metrics : ServerMetrics
    enabled : bool
        Write log lines (metrics and request ids are kept either way).
    version : callable
        Returns the served model's version (it can change while the server runs).
    """

    def __init__(self, app: Any, metrics: ServerMetrics, enabled: bool, version: Any) -> None:
        self.app, self.metrics, self.enabled, self.version = app, metrics, enabled, version

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            if self.enabled:
                logger.info(
                    json.dumps(
                        {
                            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": route,
                            "status": status,
                            "latency_ms": round(seconds * 1000, 3),
                            "model_version": self.version(),
                        }
                    )
                )
