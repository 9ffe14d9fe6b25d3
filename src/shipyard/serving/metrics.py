"""Prometheus metrics of the server (prometheus-client), in one process or aggregated across ``--workers``.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` is set by
``shipyard serve`` before the workers start; each process writes its values
there and ``GET /metrics`` aggregates them (prometheus-client's multiprocess
mode), so any worker answers for all.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10000)


def multiprocess_mode() -> bool:
    """True when metrics are shared across worker processes (``PROMETHEUS_MULTIPROC_DIR`` is set)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class ServerMetrics:
    """The server's metrics.

    Attributes
    ----------
    requests : Counter
        ``shipyard_requests_total{route, method, status}``.
    latency : Histogram
        ``shipyard_request_duration_seconds{route}``: time in the server per request (seconds).
    batch_records : Histogram
        ``shipyard_batch_records``: records per onnxruntime call.
    records : Counter
        ``shipyard_records_predicted_total``.
    nonfinite : Counter
        ``shipyard_nonfinite_outputs_total``: records whose model output was not finite.
    unseen : Counter
        ``shipyard_unseen_categories_total{column}``: categorical values not seen in training.
    model_info : Gauge
        ``shipyard_model_info{name, version, sha256}`` = 1 for the served model.
    """

    def __init__(self) -> None:
        self.multiprocess = multiprocess_mode()
        self._model: tuple[str, str, str] | None = None
        # One registry per app in a single process (several apps may live in one test process);
        # in multiprocess mode values go to files and /metrics collects them afresh.
        self.registry = None if self.multiprocess else CollectorRegistry()
        r = self.registry
        self.requests = Counter("shipyard_requests", "HTTP requests by route, method and status.", ["route", "method", "status"], registry=r)
        self.latency = Histogram("shipyard_request_duration_seconds", "Time to answer a request, in seconds.", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_records = Histogram("shipyard_batch_records", "Records per onnxruntime call.", buckets=BATCH_BUCKETS, registry=r)
        self.records = Counter("shipyard_records_predicted", "Records predicted.", registry=r)
        self.nonfinite = Counter("shipyard_nonfinite_outputs", "Records whose model output was not finite.", registry=r)
        self.unseen = Counter("shipyard_unseen_categories", "Categorical values not seen in training, by column.", ["column"], registry=r)
        self.model_info = Gauge("shipyard_model_info", "The served model (value 1).", ["name", "version", "sha256"], registry=r, multiprocess_mode="livemax")

    def set_model(self, name: str, version: str, sha256: str) -> None:
        """Record the served model (the previous one's series is removed; in multiprocess mode, where
        prometheus-client cannot clear labels, it is set to 0)."""
        if self.multiprocess:
            if self._model is not None:
                self.model_info.labels(*self._model).set(0)
        else:
            self.model_info.clear()
        self._model = (name, version, sha256)
        self.model_info.labels(name, version, sha256).set(1)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
