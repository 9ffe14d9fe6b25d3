"""HTTP serving of a bundle (FastAPI on uvicorn, onnxruntime only)."""
