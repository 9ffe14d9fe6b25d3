"""A small convolutional network for images (``model.type: cnn``), with its input normalisation inside."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class CNN(nn.Module):
    """Per-channel normalisation → blocks of [Conv → BatchNorm → ReLU] × k → 2x2 pooling → global average pooling → dropout → Linear.

    Parameters
    ----------
    in_channels : int
        Channels of the input images (1 for grayscale).
    n_outputs : int
        Number of logits.
    channels : list of int
        Output channels of each block.
    convs_per_block : int
    kernel_size : int
        Odd; same padding.
    pool : {"max", "avg"}
        The pooling after each block (2x2, stride 2, ceil mode).
    dropout : float
    freeze_blocks : int
        The first blocks whose weights stay fixed and whose batch-norm layers stay in eval mode.

    Notes
    -----
    The input is pixels in [0, 1], shape (batch, in_channels, height, width);
    the buffers ``mean`` and ``std`` (per channel, fitted on the training
    images by :meth:`set_normalisation`) standardise it first, so the
    exported graph takes pixels too. Global average pooling (Lin et al. 2014,
    "Network in Network") makes the network independent of the image size.
    """

    def __init__(
        self, in_channels: int, n_outputs: int, channels: list[int], convs_per_block: int = 1, kernel_size: int = 3, pool: str = "max", dropout: float = 0.2, freeze_blocks: int = 0
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_channels))
        self.register_buffer("std", torch.ones(in_channels))
        blocks = []
        width = in_channels
        for out in channels:
            layers: list[nn.Module] = []
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(width, out, kernel_size, padding=kernel_size // 2, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
                width = out
            layers.append(nn.MaxPool2d(2, ceil_mode=True) if pool == "max" else nn.AvgPool2d(2, ceil_mode=True))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, n_outputs)
        self.frozen = 0
        self.freeze(freeze_blocks)

    def set_normalisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Set the per-channel mean and standard deviation (of training pixels in [0, 1]) the input is standardised with."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.maximum(std, 1e-6), dtype=torch.float32))

    def freeze(self, n_blocks: int) -> None:
        """Keep the first ``n_blocks`` blocks fixed: no gradients, batch-norm statistics not updated."""
        self.frozen = n_blocks
        for block in self.blocks[:n_blocks]:
            for p in block.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "CNN":
        """As ``nn.Module.train``, but frozen blocks stay in eval mode (their batch-norm statistics are the pretrained ones)."""
        super().train(mode)
        for block in self.blocks[: self.frozen]:
            block.eval()
        return self

    def load_blocks(self, state: dict[str, Any]) -> list[str]:
        """Copy the convolutional blocks' weights from another CNN's state dict (transfer learning); the head stays as initialised.

        Returns
        -------
        list of str
            The names of the copied tensors.

        Raises
        ------
        ValueError
            If a block's shape differs (other channels or kernel size).
        """
        own = self.state_dict()
        copied = []
        for name, value in state.items():
            if not name.startswith("blocks."):
                continue
            if name not in own or own[name].shape != value.shape:
                raise ValueError(f"{name}: shape {tuple(value.shape)} does not fit {tuple(own[name].shape) if name in own else 'nothing'}")
            own[name] = value
            copied.append(name)
        self.load_state_dict(own)
        return copied

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (batch, channels[-1]) of pixels (batch, in_channels, height, width)."""
        x = (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)
        for block in self.blocks:
            x = block(x)
        return self.pool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, n_outputs) of pixels in [0, 1], shape (batch, in_channels, height, width)."""
        return self.head(self.dropout(self.features(x)))


def cnn(network: nn.Module) -> CNN:
    """The :class:`CNN` inside a (possibly wrapped) network.

    Raises
    ------
    TypeError
        If there is none.
    """
    for m in network.modules():
        if isinstance(m, CNN):
            return m
    raise TypeError(f"{type(network).__name__} holds no CNN")
