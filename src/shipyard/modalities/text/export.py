"""Export a text network: tokenizer.json beside an ONNX graph from token ids to probabilities, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from shipyard.data.prepared import Prepared
from shipyard.export.bundle import write_bundle
from shipyard.modalities.onnx_export import bundle_manifest, export_graph, label_graph, parity_session
from shipyard.modalities.predictors import TEXT_INPUT, run_token_batches
from shipyard.modalities.text import tokenizer as tok
from shipyard.recipe import Recipe
from shipyard.stages.export import parity_record, seal_graph
from shipyard.tasks import get_task


def export_text(recipe: Recipe, prepared: Prepared, network: nn.Module, metrics: dict[str, Any], bundle: Path) -> dict[str, Any]:
    """Write the bundle of a text network and check it reproduces PyTorch on every test text.

    The bundle holds ``tokenizer.json`` (truncating at ``model.max_length``,
    run by the predictor with the ``tokenizers`` library) and ``model.onnx``:
    input ``input_ids`` int64 (batch, seq), both axes dynamic, right-padded
    with the pad id; output the task's (probabilities (batch, n_classes)).

    Returns
    -------
    dict
        ``max_abs_diff``, ``tolerance``, ``rows``.

    Raises
    ------
    ParityError
        If onnxruntime's outputs differ from PyTorch's by more than the tolerance on any test text.
    """
    model = text_graph(recipe, prepared, network)
    parity = text_parity(recipe, prepared, network, model)
    manifest = text_manifest(recipe, prepared, metrics, parity)
    write_bundle(bundle, {"model.onnx": seal_graph(model, manifest), tok.TOKENIZER: prepared.preprocessor.to_str().encode("utf-8")}, manifest)
    return parity


def text_graph(recipe: Recipe, prepared: Prepared, network: nn.Module) -> onnx.ModelProto:
    """The ONNX graph of a text network: ``input_ids`` int64 (batch, seq), both axes dynamic → the task's output; labelled."""
    from shipyard.models.transformer import encoder_config, plain_forward

    task = get_task(recipe.task)
    example = torch.from_numpy(tok.encode(prepared.preprocessor, ["an example text to trace", "hi"])[0])
    largest = int(encoder_config(recipe.model).max_position_embeddings)
    with plain_forward(network):
        model = export_graph(task.export_head(network), example, TEXT_INPUT, {0: ("batch", None), 1: ("seq", largest)}, recipe.export.opset, task.output)
    label_graph(model, prepared.labels, task.name, "text")
    return model


def text_parity(recipe: Recipe, prepared: Prepared, network: nn.Module, model: onnx.ModelProto) -> dict[str, Any]:
    """Compare a text graph (the test texts tokenized as the predictor does, in length-sorted batches, and 64 of them padded in one run) with PyTorch.

    Raises
    ------
    ParityError
        If any output differs by more than the task's tolerance.
    """
    task = get_task(recipe.task)
    tokenizer = prepared.preprocessor
    pad = tok.pad_id(tokenizer)
    session = parity_session(model)
    test_texts = prepared.frame[recipe.data.text].to_numpy(dtype=object)[prepared.split.test].tolist()
    ids, _ = tok.encode(tokenizer, test_texts)
    onnx_output = task.shape_output(run_token_batches(session, task.output, ids, pad))
    torch_output = task.predict(network, prepared.X["test"])
    diff = float(np.abs(onnx_output - torch_output).max())
    # 64 test texts padded to the longest test text, in one run: padding must not change the outputs.
    padded = task.shape_output(session.run([task.output], {TEXT_INPUT: ids[:64]})[0])
    diff = max(diff, float(np.abs(padded - torch_output[:64]).max()))
    return parity_record(diff, task.parity_tolerance(recipe, prepared), len(test_texts), "test texts")


def text_manifest(recipe: Recipe, prepared: Prepared, metrics: dict[str, Any], parity: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields of a text bundle: the text column, the tokenizer's settings (:func:`shipyard.modalities.onnx_export.bundle_manifest`)."""
    about = {"tokenizer": tok.TOKENIZER, "graph_input": TEXT_INPUT, "encoder": Path(recipe.model.encoder).name, **tok.tokenizer_info(prepared.preprocessor)}
    inputs = [{"name": recipe.data.text, "kind": "text", "dtype": "string"}]
    return bundle_manifest(recipe, prepared, metrics, parity, "text", inputs, about)
