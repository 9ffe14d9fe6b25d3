"""What keeps a hostile or careless client from getting a 5xx or stalling the server.

Small pieces, each independent of how the request path computes predictions:

- :class:`BodySizeLimit`, an ASGI middleware that refuses a body larger than
  the limit from the bytes actually received, whatever the transfer encoding
  (a ``Content-Length`` above it is refused before reading; a chunked body is
  counted as it arrives and refused as soon as it passes the limit), so
  memory stays bounded by the limit;
- :class:`SafeJSONResponse`, JSON that can always be encoded, also when an
  error message quotes text that is not valid Unicode (a lone surrogate);
- :func:`install_error_handlers`: validation errors without the offending
  input, a body sent with another content type answered 415 saying that it
  must be ``application/json``, and ``HTTPException`` through the safe response.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.jsonsafe import finite


class SafeJSONResponse(JSONResponse):
    """A JSON response that never fails to encode: NaN as null, text that is not valid Unicode escaped as ASCII."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in a message: \\ud800 escapes are valid JSON text
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
        except ValueError:  # NaN or infinity
            return json.dumps(finite(content), ensure_ascii=True, separators=(",", ":")).encode("ascii")


class BodySizeLimit:
    """ASGI middleware: refuse a request body above ``max_bytes`` with 413, counting the bytes received.

    The body is read here, up to the limit, and handed to the application
    whole; a body announced (``Content-Length``) or received beyond the limit
    is refused without reading the rest, and the connection is closed. Peak
    memory per request is therefore about ``max_bytes``, for plain and
    chunked bodies alike.

    Parameters
    ----------
    app : ASGI application
    max_bytes : int
        Largest accepted body, in bytes.
    hint : str
        Appended to the 413 message (e.g. the record limit).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, hint: str = "") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.hint = hint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, send, f"request body of {int(length)} bytes exceeds {self.max_bytes}")
            return
        body = bytearray()
        disconnected = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, send, f"request body exceeds {self.max_bytes} bytes (more than {len(body)} received)")
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive, disconnected), send)

    async def _refuse(self, scope: Scope, send: Send, why: str) -> None:
        detail = f"{why}; {self.hint}" if self.hint else why
        response = SafeJSONResponse(status_code=413, content={"detail": detail}, headers={"connection": "close"})
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _replay(body: bytes, receive: Receive, disconnected: bool) -> Receive:
    """A ``receive`` that hands over the buffered body once, then waits on the real one (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay


def is_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` announces JSON as FastAPI reads it (``application/json`` or ``application/*+json``; FastAPI does not parse a body sent without one)."""
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def install_error_handlers(app: FastAPI) -> None:
    """Error responses that name the problem and can always be encoded.

    - A body the schema refuses: 422 with each error's location, message
      and type, without echoing the input (which may be NaN or not valid
      Unicode); when the body was not sent as JSON, 415 saying so.
    - ``HTTPException``: its status and detail, through :class:`SafeJSONResponse`.
    """

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        content_type = request.headers.get("content-type")
        if request.method in ("POST", "PUT", "PATCH") and not is_json(content_type):
            return SafeJSONResponse(
                status_code=415,
                content={"detail": f"the request body must be JSON sent with Content-Type: application/json (got {content_type!r})" if content_type else "the request body must be JSON sent with Content-Type: application/json (got no Content-Type)"},
            )
        detail = [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()]
        return SafeJSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 200 or exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=getattr(exc, "headers", None))
        return SafeJSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=getattr(exc, "headers", None))
