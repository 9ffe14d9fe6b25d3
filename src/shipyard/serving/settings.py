"""How ``shipyard serve`` runs: batching, threads, workers, auth. One frozen object, passed to each worker process as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shipyard.errors import ShipyardError

ENV = "SHIPYARD_SERVE_SETTINGS"
"""Environment variable carrying the settings (JSON) to ``--workers`` processes."""
KEYS_ENV = "SHIPYARD_API_KEYS"
"""Environment variable with API keys (comma separated), an alternative to ``--api-key-file``."""
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class ServeSettings:
    """Settings of one server.

    Attributes
    ----------
    path : str
        The bundle folder or run directory served.
    batching : bool
        Group concurrent requests into one onnxruntime call (micro-batching).
        Off by default: it raises throughput under many concurrent clients
        but adds a thread hop (about 0.25 ms p50 and a worse p99) at one
        client (benchmarks/RESULTS.md, issue 10).
    max_batch_size : int
        Most records in one onnxruntime call (a larger request runs alone).
    max_wait_ms : float
        How long a batch may wait for more requests after the first arrives
        (milliseconds). 0: a request is never delayed; requests arriving while a
        batch runs form the next batch.
    workers : int
        Server processes (uvicorn workers); Prometheus metrics are aggregated across them.
    intra_op_threads : int
        onnxruntime intra-op threads per process.
    api_keys : tuple of str
        Bearer tokens accepted by ``POST /v1/predict``; empty: no auth.
    access_log : bool
        Structured JSON access log lines on stderr (request id, method, path, status, latency; never record contents).
    """

    path: str
    batching: bool = False
    max_batch_size: int = 256
    max_wait_ms: float = 0.0
    workers: int = 1
    intra_op_threads: int = 1
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    access_log: bool = True

    def to_env(self) -> str:
        """JSON for :data:`ENV`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServeSettings":
        """The settings a parent ``shipyard serve`` put in :data:`ENV`.

        Raises
        ------
        ShipyardError
            If the variable is missing (the worker was started by something else).
        """
        raw = os.environ.get(ENV)
        if not raw:
            raise ShipyardError(f"{ENV} is not set", "start the server with 'shipyard serve PATH'")
        data = json.loads(raw)
        data["api_keys"] = tuple(data.get("api_keys", ()))
        return cls(**data)


def read_api_keys(key_file: Path | None) -> tuple[str, ...]:
    """API keys from ``--api-key-file`` (one per line; blank lines and ``#`` comments ignored) or :data:`KEYS_ENV`.

    Raises
    ------
    ShipyardError
        If the file is missing or holds no key, or a key is shorter than 16 characters.
    """
    if key_file is not None:
        if not key_file.is_file():
            raise ShipyardError(f"--api-key-file {key_file}: file not found", "write one API key per line")
        lines = [line.strip() for line in key_file.read_text(encoding="utf-8").splitlines()]
        keys = tuple(line for line in lines if line and not line.startswith("#"))
        where = f"--api-key-file {key_file}"
        if not keys:
            raise ShipyardError(f"{where}: holds no key", "write one API key per line")
    else:
        keys = tuple(k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip())
        where = KEYS_ENV
    short = [i + 1 for i, k in enumerate(keys) if len(k) < MIN_KEY_LENGTH]
    if short:
        raise ShipyardError(
            f"{where}: key {short[0]} is shorter than {MIN_KEY_LENGTH} characters",
            "use long random keys, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return keys
