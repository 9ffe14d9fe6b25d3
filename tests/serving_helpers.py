"""Start `shipyard serve` as a real process on a free loopback port, for server tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served(path: Path, timeout: float = 90) -> Iterator[tuple[httpx.Client, subprocess.Popen]]:
    """Serve ``path`` with ``python -m shipyard.cli serve``; yield a client on its base URL and the process; stop it after."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli", "serve", str(path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {proc.stdout.read()}")
        time.sleep(0.2)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def peak_rss_bytes(pid: int) -> int:
    """Peak resident memory of a process so far (``VmHWM`` of ``/proc/<pid>/status``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")
