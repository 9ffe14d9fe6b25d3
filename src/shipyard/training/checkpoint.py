"""The checkpoint format: everything needed to rebuild a trained network, or to resume its training.

A run's ``checkpoint/`` folder holds

- ``model.safetensors``: the base network's weights (safetensors, no pickle);
- ``training_state.pt``: optimizer and schedule state, callbacks' state (early
  stopping's best weights and patience counter), random-number-generator
  states and the history so far, saved with ``torch.save`` and read back with
  ``torch.load(..., weights_only=True)`` (tensors and plain values only);
- ``checkpoint.json``: the model kind and its spec, the task, the input and
  output widths, the wrappers applied after training (target rescaling,
  temperature scaling), the epoch, the best epoch and validation loss, whether
  training is ``complete``, the training data's sha256, the library versions
  and the sha256 of the two files above.

A checkpoint is written into ``checkpoint.partial/`` and then renamed into
place, so a process killed mid-write leaves the previous checkpoint whole
(``checkpoint.prev/`` for the instant between the two renames).
:func:`load_checkpoint` rebuilds the exact network from it, without the data
or any refitting; explain (and later attack, compress, update, resume) use it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import nn

from shipyard.errors import ShipyardError
from shipyard.export.bundle import sha256_file

CHECKPOINT = "checkpoint"
WEIGHTS = "model.safetensors"
TRAINING_STATE = "training_state.pt"
INFO = "checkpoint.json"
FORMAT = "shipyard-checkpoint/1"


@dataclass
class Checkpoint:
    """A network rebuilt from a checkpoint.

    Attributes
    ----------
    network : nn.Module
        The base network with its wrappers, in eval mode, on the CPU.
    info : dict
        The parsed ``checkpoint.json``.
    path : Path
        The checkpoint folder.
    """

    network: nn.Module
    info: dict[str, Any]
    path: Path

    @property
    def complete(self) -> bool:
        """True when training finished (the weights are the kept, best epoch's)."""
        return bool(self.info.get("complete"))


def checkpoint_folder(run_path: str | Path) -> Path:
    """The checkpoint folder of a run directory (``checkpoint/``, or ``checkpoint.prev/`` after a crash mid-swap).

    Raises
    ------
    ShipyardError
        If the run has no checkpoint.
    """
    run_path = Path(run_path)
    for name in (CHECKPOINT, CHECKPOINT + ".prev"):
        if (run_path / name / INFO).is_file():
            return run_path / name
    raise ShipyardError(
        f"{run_path}: no {CHECKPOINT}/{INFO} (the run stopped before its first checkpoint, or was made by an older shipyard)",
        "re-run the recipe",
    )


def save_checkpoint(run_path: str | Path, network: nn.Module, info: dict[str, Any], training_state: dict[str, Any] | None = None) -> Path:
    """Write a run's checkpoint atomically.

    Parameters
    ----------
    run_path : str or Path
        The run directory; the checkpoint goes to ``<run_path>/checkpoint``.
    network : nn.Module
        The network, possibly inside wrappers (:mod:`shipyard.models.wrappers`);
        the base network's weights are saved and the wrappers described.
    info : dict
        ``model`` (``type`` and ``spec``), ``task``, ``n_features``, ``n_outputs``,
        ``epoch``, ``best_epoch``, ``best_val_loss``, ``complete``, ``data`` (``source``, ``sha256``).
    training_state : dict, optional
        :meth:`shipyard.training.Trainer.training_state`, for resuming.

    Returns
    -------
    Path
        The checkpoint folder.
    """
    from shipyard.export.bundle import library_versions
    from shipyard.models.wrappers import unwrap

    run_path = Path(run_path)
    target = run_path / CHECKPOINT
    partial, previous = run_path / (CHECKPOINT + ".partial"), run_path / (CHECKPOINT + ".prev")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    base, wrappers = unwrap(network)
    save_model(base, str(partial / WEIGHTS))
    files = [WEIGHTS]
    if training_state is not None:
        torch.save(training_state, partial / TRAINING_STATE)
        files.append(TRAINING_STATE)
    record = {
        "format": FORMAT,
        **info,
        "wrappers": wrappers,
        "files": {name: {"sha256": sha256_file(partial / name)} for name in files},
        "versions": library_versions(),
    }
    (partial / INFO).write_text(json.dumps(record, indent=2, allow_nan=False, default=_plain) + "\n", encoding="utf-8")
    if target.exists():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(target, previous)
    os.replace(partial, target)
    shutil.rmtree(previous, ignore_errors=True)
    return target


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def read_checkpoint_info(folder: str | Path) -> dict[str, Any]:
    """Parse ``checkpoint.json`` and check the files it lists against their sha256.

    Raises
    ------
    ShipyardError
        If the JSON is unreadable or of another format, or a file is missing or modified.
    """
    folder = Path(folder)
    try:
        info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ShipyardError(f"{folder / INFO}: cannot be read ({exc})", "re-run the recipe") from None
    if info.get("format") != FORMAT:
        raise ShipyardError(f"{folder / INFO}: not a {FORMAT} checkpoint", "re-run the recipe with this version of shipyard")
    for name, entry in info.get("files", {}).items():
        file = folder / name
        if not file.is_file():
            raise ShipyardError(f"{file}: listed in {INFO} but missing", "re-run the recipe")
        if sha256_file(file) != entry["sha256"]:
            raise ShipyardError(f"{file}: sha256 does not match {INFO}; the file was modified", "re-run the recipe")
    return info


def load_checkpoint(run_path: str | Path) -> Checkpoint:
    """Rebuild a run's network exactly from its checkpoint, without the data or any refitting.

    Parameters
    ----------
    run_path : str or Path
        A run directory (``runs/NAME/<timestamp>`` or ``runs/NAME/latest``).

    Returns
    -------
    Checkpoint
        The network (base architecture from the model kind's builder, weights
        from ``model.safetensors``, then its wrappers), in eval mode on the CPU.

    Raises
    ------
    ShipyardError
        If there is no checkpoint, or a file of it is missing or modified.
    """
    from shipyard.models.registry import build_model
    from shipyard.models.wrappers import rewrap
    from shipyard.recipe import MODEL_TYPES

    folder = checkpoint_folder(run_path)
    info = read_checkpoint_info(folder)
    kind = info["model"]
    spec = MODEL_TYPES[kind["type"]].model_validate(kind["spec"])
    base = build_model(spec, int(info["n_features"]), int(info["n_outputs"]))
    load_model(base, str(folder / WEIGHTS), strict=True, device="cpu")
    return Checkpoint(rewrap(base, info.get("wrappers", [])), info, folder)


def load_training_state(folder: str | Path) -> dict[str, Any]:
    """The optimizer, schedule, callbacks' and RNG state saved with a checkpoint (read with ``weights_only=True``).

    Raises
    ------
    ShipyardError
        If the checkpoint holds no training state.
    """
    path = Path(folder) / TRAINING_STATE
    if not path.is_file():
        raise ShipyardError(f"{path}: the checkpoint holds no training state to resume from", "re-run the recipe")
    return torch.load(path, map_location="cpu", weights_only=True)


def set_wrappers(folder: str | Path, network: nn.Module) -> None:
    """Record the wrappers now around the checkpoint's network (e.g. after temperature scaling), atomically.

    The weights file is unchanged; only ``checkpoint.json`` is rewritten.
    """
    from shipyard.models.wrappers import unwrap

    folder = Path(folder)
    info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    info["wrappers"] = unwrap(network)[1]
    tmp = folder / (INFO + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / INFO)
