"""Start `shipyard serve` as a real process on a free loopback port, for server tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``python -m shipyard.cli serve PATH ARGS...`` as a real process on a free loopback port, until stopped.

    The server's output (an access-log line per request) goes to a file: a pipe
    nobody reads fills after 64 KiB, and the server then blocks writing its log.
    Waits for ``ready`` (``/readyz``: loaded and warmed up) to answer 200.
    """

    def __init__(self, path: Path, *args: str, env: dict | None = None, ready: str = "/readyz", timeout: float = 90) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._output = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shipyard.cli", "serve", str(path), "--port", str(self.port), *args],
            stdout=self._output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}{ready}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready: {self.stop()}")
            time.sleep(0.2)

    def stop(self) -> str:
        """Stop the server (SIGINT, then SIGKILL after 20 s) and return everything it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._output.closed:
            return ""
        self._output.seek(0)
        text = self._output.read()
        self._output.close()
        return text


@contextlib.contextmanager
def served(path: Path, *args: str, timeout: float = 90) -> Iterator[tuple[httpx.Client, subprocess.Popen]]:
    """Serve ``path`` (:class:`ServerProcess`); yield a client on its base URL and the process; stop it after."""
    server = ServerProcess(path, *args, timeout=timeout)
    try:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            yield client, server.proc
    finally:
        server.stop()


def peak_rss_bytes(pid: int) -> int:
    """Peak resident memory of a process so far (``VmHWM`` of ``/proc/<pid>/status``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def assert_serves_without_torch(bundle: Path, record: str | None = None) -> None:
    """Create the app of ``bundle`` (and predict ``record``, Python source of one record) in a fresh process; fail if torch was imported."""
    predict = f"shipyard.load({str(bundle)!r}).predict([{record}]); " if record is not None else ""
    code = f"import sys; import shipyard; from shipyard.serving.app import create_app; create_app({str(bundle)!r}); {predict}sys.exit('torch imported' if 'torch' in sys.modules else 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
