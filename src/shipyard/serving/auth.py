"""Bearer-token auth for the prediction endpoint (and, always, for admin endpoints)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

UNAUTHORIZED = HTTPException(status_code=401, detail="unauthorized", headers={"WWW-Authenticate": "Bearer"})


def token_matches(token: str, keys: tuple[str, ...]) -> bool:
    """Compare a token with every key in constant time (``hmac.compare_digest``), without stopping at a match."""
    given = token.encode("utf-8", "surrogateescape")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode("utf-8"))
    return found


class BearerAuth:
    """A FastAPI dependency that requires ``Authorization: Bearer <key>`` with one of ``keys``.

    Parameters
    ----------
    keys : tuple of str
        Accepted keys; empty means the endpoint is open (unless ``required``).
    required : bool
        Refuse every request when no key is configured (admin endpoints).

    Raises
    ------
    HTTPException
        401 with ``WWW-Authenticate: Bearer`` and no detail about why.
    """

    def __init__(self, keys: tuple[str, ...], required: bool = False) -> None:
        self.keys, self.required = keys, required

    async def __call__(self, request: Request) -> None:
        if not self.keys and not self.required:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.keys or not token_matches(token.strip(), self.keys):
            raise UNAUTHORIZED
