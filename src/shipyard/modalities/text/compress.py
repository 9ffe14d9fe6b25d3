"""Smaller and faster text models for the compress stage: dynamic int8 of the exported graph (onnxruntime), and distillation into a student with fewer layers.

- :func:`quantize_int8`: onnxruntime's shape-inference pre-processing, then
  ``quantize_dynamic`` with int8 weights (MatMul and Gather); activations
  are quantized per batch at run time (Jacob et al. 2018).
- :func:`distil`: a student keeping evenly spaced encoder layers of the
  teacher (initialised from the teacher's embeddings, those layers and its
  head, as DistilBERT, Sanh et al. 2019), trained by the shared
  :func:`~shipyard.training.fit.train_network` on the task's distillation loss
  (``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels)``,
  Hinton, Vinyals & Dean 2015).
- :class:`TextVariants`: what the compress stage (:mod:`shipyard.stages.compress`)
  builds for a text run: the trained network and each student
  (``compress.distill.students: [[layers]]``), in fp32 and int8_dynamic;
  other formats are reported as not made.
- :func:`latency_ms`: batch-1 latency of onnxruntime sessions, interleaved so
  load from other processes hits each model alike (the benchmark's table).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shipyard.compression.measure import session
from shipyard.modalities.predictors import TEXT_INPUT, run_token_batches
from shipyard.modalities.text import tokenizer as tok


def quantize_int8(model: bytes) -> bytes:
    """Dynamic int8 quantization of an ONNX text graph, per output channel (onnxruntime's ``quantize_dynamic``).

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
        # onnxruntime's symbolic shape inference saves what it could infer, on failure, as sym_shape_infer_temp.onnx
        # plus external data files in the working directory: run it in the temporary folder.
        with contextlib.chdir(tmp):
            try:
                quant_pre_process(str(src), str(pre))
            except Exception:  # noqa: BLE001  symbolic shape inference fails on some graphs; the plain path still quantizes
                quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        # Per output channel: one scale per row of each weight matrix. Per tensor lost 2 points of F1 on the sentiment
        # set; per channel loses 0.8 at the same size and speed (benchmarks/RESULTS.md).
        quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, per_channel=True)
        return out.read_bytes()


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

    The soft targets are the teacher's base network's logits (before any
    temperature scaling); the loss is the task's
    :meth:`~shipyard.tasks.base.Task.distillation_loss`.

    Parameters
    ----------
    teacher : nn.Module
        The run's trained network (possibly wrapped).
    recipe : Recipe
        Its recipe (train settings: batch size, learning rates, schedule, threads).
    prepared : Prepared
        Its prepared data.
    layers : int
    temperature, alpha : float
        Of the distillation loss.
    epochs : int, optional
        Default the recipe's.

    Returns
    -------
    (nn.Module, TrainResult)
        The finished student (eval mode) and its training record.
    """
    from shipyard.models.wrappers import unwrap
    from shipyard.tasks import get_task
    from shipyard.training.fit import train_network

    task = get_task(recipe.task)
    base, _ = unwrap(teacher)
    base.eval()
    with torch.no_grad():
        soft_fit = base(torch.from_numpy(prepared.X_fit)).numpy().astype(np.float32)
        soft_val = base(torch.from_numpy(prepared.X["validation"])).numpy().astype(np.float32)
    torch.manual_seed(recipe.seed)
    student = make_student(teacher, layers)
    copy_recipe = recipe.model_copy(deep=True)
    if epochs is not None:
        copy_recipe.train.epochs = epochs
    loss = task.distillation_loss(recipe, prepared, temperature, alpha)
    return train_network(copy_recipe, prepared, network=student, loss=loss, extras=((soft_fit,), (soft_val,)))


class TextVariants:
    """The compress stage's variants of a text run: the trained network and fewer-layer students, each in fp32 and dynamic int8.

    Each variant is a complete text bundle (``model.onnx`` with token ids in,
    ``tokenizer.json`` beside it), checked against PyTorch on every test text
    (fp32) or against its own fp32 graph (int8), scored on the test texts by
    the task's evaluation. The methods are those of
    :class:`shipyard.stages.compress.TableVariants`.

    Parameters
    ----------
    ctx : RunContext
    """

    NOT_MADE = "only int8_dynamic is available for text graphs (static int8 and float16 of the encoder are not supported)"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.pad = tok.pad_id(ctx.data.preprocessor)

    def networks(self, spec: Any, skipped: list[dict[str, str]]) -> list[tuple[str, Any, int, dict[str, Any]]]:
        from shipyard.compression.networks import parameter_count
        from shipyard.compression.variants import TRAINED
        from shipyard.models.transformer import text_classifier

        ctx = self.ctx
        recipe, log = ctx.recipe, ctx.console.log
        info = {"temperature_scaling": (ctx.metrics.get("calibration") or {}).get("temperature_scaling")}
        out = [(TRAINED, ctx.network, parameter_count(ctx.network), {"spec": recipe.model.model_dump(mode="json"), **info})]
        if spec.distill is None:
            return out
        have = len(text_classifier(ctx.network).encoder.encoder.layer)
        for student in spec.distill.students:
            name = f"student_{'x'.join(map(str, student))}_layers"
            if len(student) != 1 or not 1 <= student[0] < have:
                reason = f"a text student is [layers] with fewer encoder layers than the network's {have}, got {student}"
                skipped.append({"name": name, "reason": reason})
                log(f"{name}: skipped: {reason}")
                continue
            layers = student[0]
            log(f"distilling into {layers} of {have} encoder layers (T = {spec.distill.temperature:g}, alpha = {spec.distill.alpha:g}, {spec.distill.epochs} epochs)")
            network, result = distil(ctx.network, recipe, ctx.data, layers, spec.distill.temperature, spec.distill.alpha, spec.distill.epochs)
            made = {"layers": layers, "temperature": spec.distill.temperature, "alpha": spec.distill.alpha, "epochs": spec.distill.epochs,
                    "epochs_run": len(result.history), "best_epoch": result.best_epoch}
            out.append((name, network, parameter_count(network), made))
        return out

    def calibration(self, spec: Any) -> str:
        return self.NOT_MADE

    def build(self, name: str, network: Any, parameters: int, formats: list[str], calibration: Any) -> list[Any]:
        from shipyard.compression.formats import FormatError
        from shipyard.compression.variants import build_variants
        from shipyard.modalities.text.export import text_graph, text_parity

        recipe, data = self.ctx.recipe, self.ctx.data
        graphs: dict[str, bytes] = {}

        def export_fp32() -> tuple[bytes, dict[str, Any]]:
            model = text_graph(recipe, data, network)
            graphs["fp32"] = model.SerializeToString()
            return graphs["fp32"], text_parity(recipe, data, network, model)

        def convert_to(fmt: str) -> bytes:
            if fmt != "int8_dynamic":
                raise FormatError(f"{fmt}: {self.NOT_MADE}")
            return quantize_int8(graphs["fp32"])

        return build_variants(name, parameters, formats, export_fp32, convert_to)

    def outputs(self, variant: Any) -> Any:
        """A variant's outputs on the token ids of each part of the split."""
        from shipyard.evaluation.outputs import ModelOutputs

        task, data = self.ctx.task, self.ctx.data
        sess = session(variant.payload)
        return ModelOutputs(lambda part: task.shape_output(run_token_batches(sess, task.output, data.X[part], self.pad)), variant.name)

    def records(self) -> Any:
        data, column = self.ctx.data, self.ctx.recipe.data.text
        return data.frame[[column]].iloc[data.split.test].reset_index(drop=True)

    def manifest(self, metrics: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
        from shipyard.modalities.text.export import text_manifest

        return text_manifest(self.ctx.recipe, self.ctx.data, metrics, parity)

    def files(self, graph: bytes) -> dict[str, bytes]:
        return {"model.onnx": graph, tok.TOKENIZER: self.ctx.data.preprocessor.to_str().encode("utf-8")}

    def eager(self, parameters: int) -> dict[str, Any]:
        """PyTorch eager fp32 of the trained network on one test text of median length (one thread)."""
        from shipyard.compression.measure import THREADS, time_calls
        from shipyard.stages.compress import compress_spec
        from shipyard.training.device import torch_threads

        ctx = self.ctx
        latency, ids = compress_spec(ctx.recipe).latency, ctx.data.X["test"]
        ends = ((ids != self.pad) * np.arange(1, ids.shape[1] + 1)).max(axis=1)
        row = int(np.argsort(np.abs(ends - np.median(ends)))[0])
        x = torch.from_numpy(np.ascontiguousarray(ids[row : row + 1, : max(1, int(ends[row]))]))
        head = ctx.task.export_head(ctx.network).eval()
        repeats = min(latency.repeats, 200)  # a MiniLM call takes milliseconds, not microseconds

        def call() -> Any:
            with torch.inference_mode():
                return head(x)

        with torch_threads(THREADS):
            return {"network": {"latency": {"session": time_calls(call, repeats, min(latency.warmup, 20))}, "parameters": parameters}}
