"""Choose the torch device at run time, and the number of CPU threads torch uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from shipyard.errors import RecipeError


def resolve_device(name: str) -> torch.device:
    """Return the device named in ``train.device``.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises
    ------
    RecipeError
        If the name is not a device or CUDA is asked for but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RecipeError(f"train.device: unknown device {name!r}", "use 'auto', 'cpu' or 'cuda[:N]'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RecipeError(f"train.device: {name!r} asked for but CUDA is not available", "use 'auto' or 'cpu'")
    if device.type not in ("cpu", "cuda"):
        raise RecipeError(f"train.device: unsupported device {name!r}", "use 'auto', 'cpu' or 'cuda[:N]'")
    return device


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` intra-op threads (chosen, not inherited) inside the block and restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
