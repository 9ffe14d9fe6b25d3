"""Token-id rows for the trainer, padded per batch (dynamic padding)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class TextDataset(Dataset):
    """Rows of token ids (right-padded with the pad id) and targets; each batch is trimmed to its longest row.

    Parameters
    ----------
    ids : ndarray of shape (n_rows, width), int64
        Token ids, right-padded with ``pad_id``.
    y : ndarray of shape (n_rows,) or (n_rows, n_classes)
        Targets.
    pad_id : int
    extras : tuple of ndarray
        Further per-row arrays (e.g. a teacher's logits for distillation), returned after the targets.

    Notes
    -----
    Padding to the longest text of a batch instead of the longest of the data
    ("dynamic padding", as ``transformers.DataCollatorWithPadding``) saves most
    of the work on short texts: an SMS is about 25 tokens, the longest 200.
    """

    def __init__(self, ids: np.ndarray, y: np.ndarray, pad_id: int = 0, extras: tuple[np.ndarray, ...] = ()) -> None:
        self.ids = torch.as_tensor(np.ascontiguousarray(ids, dtype=np.int64))
        self.y = torch.as_tensor(np.ascontiguousarray(y))
        self.extras = tuple(torch.as_tensor(np.ascontiguousarray(e)) for e in extras)
        if len(self.ids) != len(self.y) or any(len(e) != len(self.ids) for e in self.extras):
            raise ValueError(f"{len(self.ids)} texts but {len(self.y)} targets and {[len(e) for e in self.extras]} extra rows")
        self.pad_id = pad_id
        positions = torch.arange(1, self.ids.shape[1] + 1)
        self.ends = ((self.ids != pad_id) * positions).amax(1) if self.ids.shape[1] else torch.zeros(len(self.ids), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return (self.ids[index, : max(1, int(self.ends[index]))], self.y[index], *(e[index] for e in self.extras))

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, ...]:
        # DataLoader asks for a whole batch: gather, then cut the columns past the batch's longest row.
        idx = torch.as_tensor(indices, dtype=torch.long)
        width = max(1, int(self.ends[idx].max()))
        return (self.ids[idx, :width], self.y[idx], *(e[idx] for e in self.extras))
