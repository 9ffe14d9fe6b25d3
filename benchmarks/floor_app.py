"""The HTTP floor: a bare FastAPI app on the same uvicorn that parses the same JSON body with pydantic and returns a constant.

``SHIPYARD_FLOOR_BUNDLE`` names the bundle whose input schema the request model is built from
(with Shipyard's own ``record_model``, so the parsing work is identical).
"""

import os

from fastapi import FastAPI
from pydantic import ConfigDict, Field, create_model

from shipyard.export.bundle import read_manifest
from shipyard.schema import Column
from shipyard.serving.app import MAX_RECORDS, record_model

_, manifest = read_manifest(os.environ["SHIPYARD_FLOOR_BUNDLE"])
Record = record_model([Column.from_dict(c) for c in manifest["inputs"]])
Request = create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), records=(list[Record], Field(..., min_length=1, max_length=MAX_RECORDS)))
ANSWER = {"labels": ["x"], "probabilities": [{"x": 1.0}], "model": "floor", "version": "0", "warnings": []}

app = FastAPI()


@app.post("/v1/predict")
async def predict(request: Request) -> dict:  # type: ignore[valid-type]
    return ANSWER
