"""Smaller and faster text models: dynamic int8 of the exported graph (onnxruntime), and distillation into a student with fewer layers.

- :func:`quantize_int8`: onnxruntime's shape-inference pre-processing, then
  ``quantize_dynamic`` with int8 weights (MatMul and Gather); activations
  are quantized per batch at run time (Jacob et al. 2018).
- :func:`distil`: a student keeping every other encoder layer of the teacher
  (initialised from the teacher's embeddings, those layers and its head, as
  DistilBERT, Sanh et al. 2019), trained by the shared trainer on
  ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels)``
  (Hinton, Vinyals & Dean 2015).
- :func:`latency_ms`: batch-1 latency of onnxruntime sessions, interleaved so
  load from other processes hits each model alike.

The compress stage (issue 12) can call these for text runs; the benchmark
(``benchmarks/text_image.py``) reports them.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shipyard.modalities.predictors import TEXT_INPUT


def quantize_int8(model: bytes) -> bytes:
    """Dynamic int8 quantization of an ONNX text graph.

    Parameters
    ----------
    model : bytes
        A serialized float32 ONNX model (e.g. a text bundle's ``model.onnx``).

    Returns
    -------
    bytes
        The quantized model: int8 weights, float32 inputs and outputs unchanged.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    logging.getLogger("root").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model)
        try:
            quant_pre_process(str(src), str(pre))
        except Exception:  # noqa: BLE001  symbolic shape inference fails on some graphs; the plain path still quantizes
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8)
        return out.read_bytes()


def session(model: bytes, threads: int = 1) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads and no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def latency_ms(models: dict[str, bytes], ids: np.ndarray, repeats: int = 200, warmup: int = 20) -> dict[str, dict[str, float]]:
    """Batch-1 latency of each model on each row of ``ids``, measured round-robin in one process.

    Parameters
    ----------
    models : dict of str to bytes
        Serialized ONNX text graphs (input ``input_ids``).
    ids : ndarray of shape (n_texts, width), int64
        Texts to time, one at a time, each trimmed of its padding.
    repeats, warmup : int

    Returns
    -------
    dict
        Per model: ``p50`` and ``p90`` in milliseconds over all timed calls.
    """
    sessions = {name: session(model) for name, model in models.items()}
    output = {name: s.get_outputs()[0].name for name, s in sessions.items()}
    feeds = [{TEXT_INPUT: row[None, : max(1, int(np.flatnonzero(row).max(initial=0)) + 1)]} for row in ids]
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for feed in feeds:
        for name, s in sessions.items():
            for _ in range(warmup):
                s.run([output[name]], feed)
        for _ in range(repeats):
            for name, s in sessions.items():
                tic = time.perf_counter()
                s.run([output[name]], feed)
                times[name].append(time.perf_counter() - tic)
    return {name: {"p50": float(np.median(t) * 1e3), "p90": float(np.percentile(t, 90) * 1e3)} for name, t in times.items()}


class DistillationLoss(nn.Module):
    """Hinton et al. 2015: ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, label)``.

    The target of each row is packed as ``[label, teacher logits...]`` (batch, 1 + n_classes),
    so the shared trainer passes it through unchanged.

    Parameters
    ----------
    temperature : float
    alpha : float
        Weight of the soft (teacher) term.
    """

    def __init__(self, temperature: float = 3.0, alpha: float = 0.7) -> None:
        super().__init__()
        self.temperature, self.alpha = temperature, alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        labels, teacher = target[:, 0].long(), target[:, 1:]
        t = self.temperature
        soft = nn.functional.kl_div(nn.functional.log_softmax(logits / t, 1), nn.functional.softmax(teacher / t, 1), reduction="batchmean") * t * t
        return self.alpha * soft + (1 - self.alpha) * nn.functional.cross_entropy(logits, labels)


def student_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """The teacher layers a student keeps: evenly spaced from the first (e.g. 6 → 3 keeps 0, 2, 4)."""
    step = teacher_layers / student_layers
    return [int(i * step) for i in range(student_layers)]


def make_student(teacher: nn.Module, layers: int) -> nn.Module:
    """A :class:`~shipyard.models.transformer.TextClassifier` with ``layers`` encoder layers copied from the teacher's (evenly spaced), its embeddings and head.

    Parameters
    ----------
    teacher : nn.Module
        A trained (possibly wrapped) TextClassifier.
    layers : int
        Encoder layers of the student.
    """
    from shipyard.models.transformer import TextClassifier, text_classifier

    inner = text_classifier(teacher)
    spec = inner.spec.model_copy(update={"layers": layers, "freeze_layers": 0})
    student = TextClassifier(spec, inner.head.out_features)
    student.encoder.embeddings.load_state_dict(inner.encoder.embeddings.state_dict())
    for i, j in enumerate(student_layers(len(inner.encoder.encoder.layer), layers)):
        student.encoder.encoder.layer[i].load_state_dict(inner.encoder.encoder.layer[j].state_dict())
    student.head.load_state_dict(inner.head.state_dict())
    return student


def distil(teacher: nn.Module, recipe: Any, prepared: Any, layers: int = 3, temperature: float = 3.0, alpha: float = 0.7, epochs: int | None = None) -> tuple[nn.Module, Any]:
    """Distil a trained text network into a student with fewer layers, on the run's training rows (early stopping on validation).

    Parameters
    ----------
    teacher : nn.Module
        The run's trained network.
    recipe : Recipe
        Its recipe (train settings: batch size, learning rates, schedule, threads).
    prepared : Prepared
        Its prepared data.
    layers : int
    temperature, alpha : float
        Of :class:`DistillationLoss`.
    epochs : int, optional
        Default the recipe's.

    Returns
    -------
    (nn.Module, TrainResult)
        The student (eval mode) and its training record.
    """
    from shipyard.modalities.text.dataset import TextDataset
    from shipyard.modalities.text.tokenizer import pad_id
    from shipyard.training.callbacks import EarlyStopping
    from shipyard.training.losses import accuracy
    from shipyard.training.trainer import Trainer

    teacher = teacher.eval()
    spec = copy.deepcopy(recipe.train)
    if epochs is not None:
        spec.epochs = epochs
    with torch.no_grad():
        fit_logits = teacher(torch.from_numpy(prepared.X_fit)).numpy()
        val_logits = teacher(torch.from_numpy(prepared.X["validation"])).numpy()
    pack = lambda y, logits: np.concatenate([np.asarray(y, dtype=np.float32)[:, None], logits.astype(np.float32)], 1)  # noqa: E731
    pad = pad_id(prepared.preprocessor)
    train_set = TextDataset(prepared.X_fit, pack(prepared.y_fit, fit_logits), pad)
    val_set = TextDataset(prepared.X["validation"], pack(prepared.y[prepared.split.validation], val_logits), pad)
    torch.manual_seed(recipe.seed)
    student = make_student(teacher, layers)
    trainer = Trainer(
        spec, seed=recipe.seed, loss_fn=DistillationLoss(temperature, alpha), metric=("accuracy", lambda out, y: accuracy(out, y[:, 0].long())),
        callbacks=[EarlyStopping(spec.early_stopping.patience, spec.early_stopping.min_delta, spec.early_stopping.enabled)],
    )
    result = trainer.fit(student, train_set, val_set)
    return student.to("cpu").eval(), result
