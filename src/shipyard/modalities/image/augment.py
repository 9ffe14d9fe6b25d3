"""Augmented training images: kornia transforms drawn per batch, and mixup / CutMix with soft targets.

Only the training rows the network is fitted on pass through here; the
trainer scores the training metric on the plain rows, and validation and test
images are never augmented. Random draws come from torch's global generator,
which the trainer saves in its checkpoints, so a resumed run draws what an
uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from shipyard.recipe import ImageAugmentSpec


def build_transforms(spec: ImageAugmentSpec, height: int, width: int) -> nn.Module | None:
    """The kornia transforms ``prepare.image_augment`` asks for, each applied to an image with probability ``spec.p``; None when there are none.

    Rotation, translation and scale are one ``RandomAffine``; elastic deformation is
    ``RandomElasticTransform`` (Simard et al. 2003) with a Gaussian kernel fitted to the image size;
    noise is ``RandomGaussianNoise``. Pixels are clamped to [0, 1] afterwards.
    """
    import kornia.augmentation as K

    transforms: list[nn.Module] = []
    if spec.rotation or spec.translate or spec.scale != [1.0, 1.0]:
        transforms.append(
            K.RandomAffine(degrees=spec.rotation, translate=(spec.translate, spec.translate) if spec.translate else None, scale=tuple(spec.scale) if spec.scale != [1.0, 1.0] else None, p=spec.p)
        )
    if spec.elastic:
        kernel = max(3, min(height, width) // 2 * 2 - 1)
        transforms.append(K.RandomElasticTransform(kernel_size=(kernel, kernel), sigma=(kernel / 4, kernel / 4), alpha=(spec.elastic, spec.elastic), p=spec.p))
    if spec.noise_std:
        transforms.append(K.RandomGaussianNoise(std=spec.noise_std, p=spec.p))
    return nn.Sequential(*transforms) if transforms else None


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018): convex combinations of the batch with a permutation of itself.

    Parameters
    ----------
    x : Tensor of shape (batch, channels, height, width)
    y : Tensor of shape (batch, n_classes)
        Soft targets (one-hot rows for hard labels).
    alpha : float
        The mixing weight is drawn from Beta(alpha, alpha).
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(len(x))
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]


def cutmix(x: torch.Tensor, y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al. 2019): paste a random box from a permutation of the batch; targets mixed by the box's area.

    Parameters as :func:`mixup`.
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    height, width = x.shape[-2:]
    cut_h, cut_w = int(round(height * (1 - lam) ** 0.5)), int(round(width * (1 - lam) ** 0.5))
    cy, cx = int(torch.randint(height, ())), int(torch.randint(width, ()))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + (cut_h + 1) // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + (cut_w + 1) // 2, width)
    perm = torch.randperm(len(x))
    x = x.clone()
    x[:, :, top:bottom, left:right] = x[perm][:, :, top:bottom, left:right]
    kept = 1 - (bottom - top) * (right - left) / (height * width)
    return x, kept * y + (1 - kept) * y[perm]


class ImageDataset(Dataset):
    """Training images and labels; each batch is augmented, and mixed when mixup or CutMix is on (targets then become class probabilities).

    Parameters
    ----------
    pixels : ndarray of shape (n, channels, height, width)
        In [0, 1].
    y : ndarray of shape (n,)
        Class indices.
    spec : ImageAugmentSpec
    n_classes : int
    """

    def __init__(self, pixels: np.ndarray, y: np.ndarray, spec: ImageAugmentSpec, n_classes: int) -> None:
        self.x = torch.as_tensor(np.ascontiguousarray(pixels, dtype=np.float32))
        self.y = torch.as_tensor(np.asarray(y, dtype=np.int64))
        self.spec, self.n_classes = spec, n_classes
        self.transforms = build_transforms(spec, *self.x.shape[-2:])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        x, y = self.x[idx], self.y[idx]
        if self.transforms is not None:
            with torch.no_grad():
                x = self.transforms(x).clamp(0.0, 1.0)
        spec = self.spec
        if spec.mixup_alpha or spec.cutmix_alpha:
            soft = nn.functional.one_hot(y, self.n_classes).float()
            use_cutmix = spec.cutmix_alpha and (not spec.mixup_alpha or bool(torch.rand(()) < 0.5))
            x, soft = cutmix(x, soft, spec.cutmix_alpha) if use_cutmix else mixup(x, soft, spec.mixup_alpha)
            return x, soft
        return x, y
