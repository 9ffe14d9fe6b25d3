"""Latency and throughput of a model, measured the same way for every variant.

Batch-1 latency is timed over many calls after a warm-up, with one thread
(onnxruntime: ``intra_op_num_threads = inter_op_num_threads = 1``, sequential
execution; torch: ``torch.set_num_threads(1)``), so the whole call runs on the
calling thread. Each call is timed twice: by the wall clock, and by that
thread's CPU time (``time.thread_time_ns``). On a machine shared with other
processes the wall clock includes the time the thread waited for a core
(milliseconds, at random); its CPU time does not, so it is the figure variants
are compared and chosen by. Both are reported, with the load average.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

THREADS = 1
"""Threads every measured model runs with."""
CLOCK = "batch-1 p50/p99: this thread's CPU time per call (time.thread_time_ns); wall_p50/wall_p99: wall clock"
"""What the latency figures are, as recorded beside them."""


def session_options(threads: int = THREADS) -> Any:
    """onnxruntime session options for measurement: ``threads`` intra-op threads, one inter-op thread, sequential, no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def session(model: str | os.PathLike | bytes, threads: int = THREADS) -> Any:
    """An onnxruntime CPU session of a model file or serialized model, with :func:`session_options`."""
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, session_options(threads), providers=["CPUExecutionProvider"])


def time_calls(call: Callable[[], Any], repeats: int, warmup: int) -> dict[str, float]:
    """Time ``repeats`` calls of ``call`` after ``warmup`` untimed ones.

    Returns
    -------
    dict
        ``p50``, ``p99`` (this thread's CPU time per call) and ``wall_p50``, ``wall_p99``
        (wall clock), in microseconds; ``calls``; ``load`` (1-minute load average before timing).
    """
    for _ in range(warmup):
        call()
    cpu = np.empty(repeats)
    wall = np.empty(repeats)
    clock, thread = time.perf_counter_ns, time.thread_time_ns
    load = os.getloadavg()[0]
    for i in range(repeats):
        start_wall, start_cpu = clock(), thread()
        call()
        cpu[i] = thread() - start_cpu
        wall[i] = clock() - start_wall
    return {
        "p50": float(np.percentile(cpu, 50)) / 1e3,
        "p99": float(np.percentile(cpu, 99)) / 1e3,
        "wall_p50": float(np.percentile(wall, 50)) / 1e3,
        "wall_p99": float(np.percentile(wall, 99)) / 1e3,
        "calls": repeats,
        "load": round(load, 2),
    }


def rows_per_second(call: Callable[[], Any], rows: int, runs: int = 10) -> float:
    """Throughput of ``call`` on a batch of ``rows`` rows: rows divided by the median thread CPU time of ``runs`` calls (after two warm-up calls)."""
    call()
    call()
    seconds = []
    for _ in range(runs):
        start = time.thread_time()
        call()
        seconds.append(time.thread_time() - start)
    return float(rows / max(float(np.median(seconds)), 1e-9))
