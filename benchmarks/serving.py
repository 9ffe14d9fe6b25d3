"""Serving speed, side by side: Shipyard (with and without micro-batching), the bare FastAPI floor, and `mlflow models serve`.

Two bundles: breast_cancer (the example recipe) and sklearn digits with an
MLP of [1024, 1024, 512] (1.7M parameters). Each server runs as its own
process with one uvicorn worker on a loopback port; the load generator is
``wrk`` (C, keeps its own CPU use small on this 2-core machine) with 1, 8 and
64 connections, single-record POSTs, for ``--seconds`` each. In process:
``shipyard.load(bundle).predict_proba`` against the raw
``InferenceSession.run`` on already-coerced arrays, at batch 1 and 10,000.

    .venv/bin/python benchmarks/serving.py [--seconds 10] [--markdown out.md]

Targets (issue 10): p50 at 1 client <= 2x the floor; at 64 clients >= 2x
MLflow's requests/s with a lower p99; in process, batch 1 <= 5x raw
onnxruntime and batch 10,000 <= 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_bundles(tmp: Path) -> dict[str, Path]:
    """The two bundles: the breast_cancer example and a >= 1M-parameter digits network (a few epochs)."""
    from shipyard.pipeline import run
    from shipyard.recipe import load_recipe, recipe_from_dict

    cancer = load_recipe(ROOT / "examples" / "breast_cancer.yaml")
    cancer.explain.enabled = False
    digits = recipe_from_dict(
        {
            "name": "digits-large",
            "data": {"source": "sklearn:digits", "target": "target"},
            "model": {"hidden_sizes": [1024, 1024, 512], "dropout": 0.1},
            "train": {"epochs": 5, "batch_size": 64, "num_threads": 2},
            "evaluate": {"baseline": False, "bootstrap": {"samples": 0}},
            "explain": {"enabled": False},
            "prepare": {"drop_constant": False},
        }
    )
    return {r.name: run(r, runs_dir=tmp / "runs", track=False, progress=False).bundle for r in (cancer, digits)}


def one_record(bundle: Path) -> dict:
    """A real record of the bundle's data as the JSON a client sends."""
    from sklearn import datasets

    from shipyard.predictor import Predictor

    predictor = Predictor(bundle)
    name = "breast_cancer" if predictor.name == "breast-cancer" else "digits"
    frame = getattr(datasets, f"load_{name}")(as_frame=True).data
    return json.loads(frame.iloc[[7]][[c.name for c in predictor.schema]].to_json(orient="records"))[0]


def in_process(bundle: Path, repeats: int = 2000) -> list[dict]:
    """``load(bundle).predict_proba`` vs raw ``session.run`` (inputs already coerced), batch 1 and 10,000."""
    import pandas as pd

    import shipyard

    model = shipyard.load(bundle)
    record = one_record(bundle)
    rows = []
    for batch in (1, 10_000):
        frame = pd.DataFrame([record] * batch)
        reps = repeats if batch == 1 else 20
        feed = model.prepare(frame).feed()
        output = model.task.output

        def ours() -> None:
            model.predict_proba(frame)

        def raw() -> None:
            model.session.run([output], feed)

        times = {}
        for name, fn in (("shipyard.load().predict_proba", ours), ("InferenceSession.run", raw)):
            for _ in range(min(reps, 50)):
                fn()
            samples = []
            for _ in range(reps):
                tic = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - tic)
            times[name] = float(np.median(samples))
        rows.append({"bundle": model.name, "batch": batch, **{f"{k} p50 ms": v * 1e3 for k, v in times.items()},
                     "ratio": times["shipyard.load().predict_proba"] / times["InferenceSession.run"]})
    return rows


class Process:
    """A server process; stopped with SIGINT, then SIGKILL."""

    def __init__(self, args: list[str], port: int, ready: str, env: dict | None = None) -> None:
        self.port, self.proc = port, subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        import httpx

        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{args[:4]} did not start: {self.proc.stderr.read()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def mlflow_model(bundle: Path, folder: Path) -> Path:
    """The bundle saved as an MLflow pyfunc model (Shipyard's loader module; no pickle)."""
    import mlflow.pyfunc

    target = folder / "mlflow-model"
    shutil.rmtree(target, ignore_errors=True)
    mlflow.pyfunc.save_model(str(target), loader_module="shipyard.mlflow_pyfunc", data_path=str(bundle))
    return target


def servers(bundle: Path, tmp: Path) -> dict[str, tuple[list[str], str, dict, str]]:
    """name -> (command, readiness path, environment, predict path) for every compared server."""
    shipyard = [str(BIN / "shipyard"), "serve", str(bundle), "--no-access-log"]
    out = {
        "shipyard (micro-batching)": (shipyard + ["--batching"], "/readyz", {}, "/v1/predict"),
        "shipyard (no batching)": (shipyard + ["--no-batching"], "/readyz", {}, "/v1/predict"),
        "FastAPI floor": (
            [str(BIN / "uvicorn"), "floor_app:app", "--app-dir", str(Path(__file__).parent), "--log-level", "warning", "--no-access-log"],
            "/docs",
            {"SHIPYARD_FLOOR_BUNDLE": str(bundle)},
            "/v1/predict",
        ),
    }
    try:
        model = mlflow_model(bundle, tmp)
        out["mlflow models serve"] = ([str(BIN / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local", "--no-conda", "-w", "1"], "/ping", {}, "/invocations")
    except Exception as exc:  # noqa: BLE001  reported in the table instead
        print(f"mlflow models serve: not run ({type(exc).__name__}: {exc})", file=sys.stderr)
    return out


def body_for(name: str, record: dict) -> str:
    if name == "mlflow models serve":
        return json.dumps({"dataframe_records": [record]})
    return json.dumps({"records": [record]})


def wrk(port: int, path: str, body: str, connections: int, seconds: int, tmp: Path) -> dict:
    """Run wrk against one server; requests/s, p50, p99 (ms) and errors."""
    script = tmp / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n')
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, timeout=seconds + 60,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50%"), "p99": ms("99%"), "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="Duration of each load run.")
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 8, 64])
    parser.add_argument("--markdown", type=Path, default=None, help="Also write the tables as Markdown here.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    lines = [f"load: `uptime` before: {os.getloadavg()[0]:.2f}"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bundles = train_bundles(tmp)
        lines += ["", "| bundle | batch | shipyard.load().predict_proba p50 ms | InferenceSession.run p50 ms | ratio |", "|---|---|---|---|---|"]
        for bundle in bundles.values():
            for row in in_process(bundle):
                lines.append(f"| {row['bundle']} | {row['batch']} | {row['shipyard.load().predict_proba p50 ms']:.3f} | {row['InferenceSession.run p50 ms']:.3f} | {row['ratio']:.2f}x |")
        for name, bundle in bundles.items():
            record = one_record(bundle)
            lines += ["", f"**{name}** ({args.seconds} s per cell, single-record POSTs, 1 uvicorn worker per server)", "",
                      "| server | clients | requests/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
            for server, (command, ready, env, path) in servers(bundle, tmp).items():
                port = free_port()
                try:
                    proc = Process(command + (["--port", str(port)] if "mlflow" not in server else ["-p", str(port)]), port, ready, env)
                except RuntimeError as exc:
                    lines.append(f"| {server} | - | not started: {str(exc)[:80]} | | | |")
                    continue
                try:
                    for clients in args.clients:
                        r = wrk(port, path, body_for(server, record), clients, args.seconds, tmp)
                        lines.append(f"| {server} | {clients} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} |")
                        print(lines[-1], flush=True)
                finally:
                    proc.stop()
    lines.append(f"\nload: `uptime` after: {os.getloadavg()[0]:.2f}")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
