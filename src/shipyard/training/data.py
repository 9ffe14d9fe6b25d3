"""Mini-batches for the trainer: a map-style dataset over arrays and a seeded, epoch-aware sampler.

Batches come from a ``torch.utils.data.DataLoader`` whose sampler can be
replaced: :class:`EpochSampler` shuffles with a permutation that depends only
on ``(seed, epoch)`` (so a resumed run draws exactly the batches an
uninterrupted one would), and has the ``set_epoch`` method of
``torch.utils.data.DistributedSampler``, which can take its place. Rows stay
on the CPU; each batch is moved to the device by the trainer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class ArrayDataset(Dataset):
    """Rows of aligned arrays (features, targets, ...), fetched a whole batch at a time.

    Parameters
    ----------
    *arrays : ndarray or Tensor
        Each of shape (n_rows, ...); converted to tensors without copying where possible.
    """

    def __init__(self, *arrays: Any) -> None:
        self.tensors = tuple(torch.as_tensor(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else torch.as_tensor(a) for a in arrays)
        n = {len(t) for t in self.tensors}
        if len(n) != 1:
            raise ValueError(f"arrays of different lengths: {sorted(n)}")

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, ...]:
        # DataLoader calls this with a whole batch of indices: one gather per array instead of a Python loop.
        idx = torch.as_tensor(indices, dtype=torch.long)
        return tuple(t[idx] for t in self.tensors)


class EpochSampler(Sampler[int]):
    """A random permutation of ``n`` rows per epoch, determined by ``(seed, epoch)`` alone.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
    shuffle : bool
        False yields rows in order.
    """

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation the next iteration yields (as ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n


def _as_batch(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return batch  # ArrayDataset.__getitems__ already returns whole-batch tensors


def batches(dataset: Dataset, batch_size: int, sampler: Sampler[int] | None = None) -> DataLoader:
    """A DataLoader of whole-batch tensors over ``dataset`` in the main process.

    A final batch of a single row is dropped (a batch-norm layer cannot
    train on one row, and one row gives a noisy step); the shuffled order
    means a different row sits out each epoch.

    Parameters
    ----------
    dataset : Dataset
        Usually an :class:`ArrayDataset`.
    batch_size : int
    sampler : Sampler, optional
        Default: rows in order (for evaluation).
    """
    drop_last = len(dataset) % batch_size == 1 and len(dataset) > 1
    # A private generator: creating the loader's iterator must not draw from torch's global RNG (dropout's).
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, collate_fn=_as_batch, generator=torch.Generator().manual_seed(0)
    )
