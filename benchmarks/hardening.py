"""Cost of issue 9's checks on the request path, side by side in one process.

Usage: ``.venv/bin/python benchmarks/hardening.py``. Trains the breast-cancer
example once (no MLflow), then times, on the same records, alternating in
rounds:

- the model alone: coercion + onnxruntime (``Predictor._run(_model_input(...))``,
  what a prediction cost before);
- the checked path: the same plus the accepted-range check, the Unicode check
  and the finiteness check (``Predictor.predict_records``);
- a whole HTTP round trip through the in-process ASGI app with and without
  the body-size middleware (``BodySizeLimit``) that counts the bytes received.

Prints medians and the ratios checked / unchecked.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 30


def _median(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def main() -> int:
    from fastapi.testclient import TestClient
    from sklearn.datasets import load_breast_cancer

    from shipyard.pipeline import run
    from shipyard.predictor import Predictor
    from shipyard.recipe import load_recipe
    from shipyard.serving import app as serving
    from shipyard.serving.guards import BodySizeLimit

    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        recipe = load_recipe(ROOT / "examples" / "breast_cancer.yaml")
        recipe.explain.enabled = False
        result = run(recipe, runs_dir=tmp, track=False, progress=False)
        model = Predictor(result.bundle)
        data = load_breast_cancer(as_frame=True).data
        table = Table(title=f"request path, median of {ROUNDS} rounds (ms); ratio = checked / unchecked")
        for col in ("records", "model alone", "with the checks", "ratio"):
            table.add_column(col, justify="right")
        for n in (1, 100, 1000):
            records = data.sample(n, replace=n > len(data), random_state=0).to_dict(orient="records")
            plain = _median(lambda: model._run(model._model_input(records, "bench")))
            checked = _median(lambda: model.predict_records(records, "bench"))
            table.add_row(str(n), f"{plain * 1e3:.2f}", f"{checked * 1e3:.2f}", f"{checked / plain:.3f}")
        console.print(table)

        app = serving.create_app(result.bundle)
        bare = serving.create_app(result.bundle)
        bare.user_middleware = [m for m in bare.user_middleware if m.cls is not BodySizeLimit]
        bare.middleware_stack = None
        table = Table(title=f"POST /v1/predict through the ASGI app, median of {ROUNDS} rounds (ms)")
        for col in ("records", "without BodySizeLimit", "with BodySizeLimit", "ratio"):
            table.add_column(col, justify="right")
        for n in (1, 100):
            body = {"records": data.head(n).to_dict(orient="records")}
            with TestClient(app) as limited, TestClient(bare) as unlimited:
                assert limited.post("/v1/predict", json=body).status_code == 200
                assert unlimited.post("/v1/predict", json=body).status_code == 200
                without = _median(lambda: unlimited.post("/v1/predict", json=body))
                with_limit = _median(lambda: limited.post("/v1/predict", json=body))
            table.add_row(str(n), f"{without * 1e3:.2f}", f"{with_limit * 1e3:.2f}", f"{with_limit / without:.3f}")
        console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
