"""Run ``shipyard serve`` as a real process on a free loopback port."""

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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(path: Path, timeout: float = 120) -> Iterator[httpx.Client]:
    """An HTTP client for ``shipyard serve PATH`` (uvicorn) on a free port; the server is stopped afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli", "serve", str(path), "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"server did not start: {proc.stdout.read()}")
            time.sleep(0.3)
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def assert_serves_without_torch(bundle: Path, record: str) -> None:
    """Create the app of ``bundle`` and predict ``record`` (Python source of one record) in a fresh process; fail if torch was imported."""
    code = (
        "import sys; from shipyard.serving.app import create_app; import shipyard; "
        f"create_app({str(bundle)!r}); shipyard.load({str(bundle)!r}).predict([{record}]); "
        "sys.exit('torch imported' if 'torch' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
