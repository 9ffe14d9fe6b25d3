"""The image modality: pixel arrays read, checked, scaled to [0, 1], augmented, trained on, exported with their normalisation, explained and attacked."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.data.prepared import PARTS, Prepared
from shipyard.errors import RecipeError
from shipyard.modalities.base import Modality, read_preparation, subsample_training, summary, write_preparation
from shipyard.modalities.sources import fingerprint, resolve_source
from shipyard.tasks import get_task

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from shipyard.recipe import Recipe
    from shipyard.stages.base import RunContext
    from shipyard.tasks import Task

IMAGE = "image"
"""Column of the prepared frame holding each image, (channels, height, width) float32 in [0, 1]."""


@dataclass
class ImagePreparation:
    """What image preparation decides: the input shape, the full-intensity value, and the per-channel statistics fitted on training pixels.

    Attributes
    ----------
    shape : list of int
        (channels, height, width) the network takes.
    max_value : float
        Raw pixel value of full intensity; pixels are divided by it into [0, 1].
    size : list of int or None
        The (height, width) images were resized to, if any.
    mean, std : list of float or None
        Per channel, over the training pixels in [0, 1] (None until fitted); the network's first operation.
    """

    shape: list[int]
    max_value: float
    size: list[int] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None


def resize(pixels: np.ndarray, size: list[int]) -> np.ndarray:
    """Resize images (n, channels, height, width) to ``size``: area averaging when shrinking (no aliasing), bilinear when enlarging."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
    shrink = size[0] <= x.shape[-2] and size[1] <= x.shape[-1]
    out = F.interpolate(x, size=tuple(size), mode="area") if shrink else F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return out.numpy()


class ImageModality(Modality):
    """Image input (``model.type: cnn``): ``sklearn:digits``, a ``.npz`` (``data.images.array``, labels ``data.target``) or a folder of class folders."""

    name = "image"

    # --- data --------------------------------------------------------------------------

    def _read(self, recipe: "Recipe") -> tuple[pd.DataFrame, ImagePreparation, str, dict[str, Any]]:
        from shipyard.modalities.image.checks import image_hashes
        from shipyard.modalities.image.reading import read_images

        spec, images = recipe.data, recipe.data.images
        array = images.array if images else None
        path = None if spec.source.startswith("sklearn:") else resolve_source(spec.source, recipe.base_dir)
        found = read_images(spec.source, path, array, spec.target)
        raw = found.images
        sha256 = fingerprint(path) if path is not None else hashlib.sha256(raw.tobytes() + found.labels.astype(str).astype("S").tobytes()).hexdigest()
        max_value = (images.max_value if images and images.max_value else None) or found.max_value or float(raw.max()) or 1.0
        pixels = (raw.astype(np.float32) / np.float32(max_value)).transpose(0, 3, 1, 2)
        size = images.size if images and images.size else None
        if size is not None and list(pixels.shape[-2:]) != list(size):
            pixels = resize(pixels, size)
        frame = pd.DataFrame({IMAGE: list(pixels), spec.target: found.labels, "name": found.names})
        dropped = 0
        if recipe.prepare.drop_duplicates:
            keep = ~pd.DataFrame({"h": image_hashes(pixels), "y": found.labels.astype(str)}).duplicated()
            dropped = int((~keep).sum())
            frame = frame.loc[keep.to_numpy()].reset_index(drop=True)
        preparation = ImagePreparation(list(pixels.shape[1:]), float(max_value), size)
        about = {"raw_range": (float(raw.min()), float(raw.max())), "source_shape": tuple(raw.shape[1:]), "resized": size is not None, "dropped": dropped}
        return frame, preparation, sha256, about

    def load_and_split(self, recipe: "Recipe") -> Prepared:
        from shipyard.data.profile import check_findings
        from shipyard.data.split import stratified_split
        from shipyard.modalities.image.checks import image_hashes, image_profile

        source = _resolve_init_from(recipe)
        task, spec = get_task(recipe.task), recipe.data
        frame, preparation, sha256, about = self._read(recipe)
        if source is not None and int(source["n_features"]) != preparation.shape[0]:
            raise RecipeError(
                f"model.init_from: the run's CNN takes {source['n_features']} channel(s), these images have {preparation.shape[0]}", "pretrain on images with as many channels"
            )
        target = task.read_target(frame[spec.target].reset_index(drop=True), recipe)
        pixels = np.stack(frame[IMAGE].to_numpy())
        strata = task.strata(target.y)
        split = stratified_split(pd.Series(strata), spec.split.validation, spec.split.test, recipe.seed, spec.target, groups=image_hashes(pixels))
        split = subsample_training(split, target.y, spec.split.train_fraction, recipe.seed)
        parts = {part: getattr(split, part) for part in PARTS}
        profile = image_profile(
            pixels, about["raw_range"], preparation.max_value, target.y, parts, spec.target, task, target.labels, target.positive_index, about["source_shape"], about["resized"]
        )
        profile["split"] = split.sizes()
        if about["dropped"]:
            profile["dataset"]["dropped_duplicate_rows"] = about["dropped"]
        check_findings(profile, recipe.prepare.fail_on, spec.source)
        return Prepared(
            frame, [IMAGE], [], target.labels, target.positive_index, split, target.y, task=task.name, preprocessor=preparation, profile=profile, data_sha256=sha256
        )

    def fit(self, recipe: "Recipe", prepared: Prepared) -> None:
        preparation = prepared.preprocessor
        train = np.stack(prepared.frame[IMAGE].to_numpy()[prepared.split.train])
        preparation.mean = train.mean(axis=(0, 2, 3)).astype(float).tolist()
        preparation.std = train.std(axis=(0, 2, 3)).astype(float).tolist()
        self._fill(recipe, prepared)

    def _fill(self, recipe: "Recipe", prepared: Prepared) -> None:
        pixels = np.stack(prepared.frame[IMAGE].to_numpy()).astype(np.float32)
        for part in PARTS:
            prepared.X[part] = pixels[getattr(prepared.split, part)]
        prepared.X_fit, prepared.y_fit = prepared.X["train"], prepared.y[prepared.split.train]
        augment = recipe.prepare.image_augment
        prepared.steps = {
            "input": "image",
            **asdict(prepared.preprocessor),
            "augment": augment.model_dump() if augment.enabled else None,
            "train_fraction": recipe.data.split.train_fraction,
        }

    def save(self, run_path: str | Path, recipe: "Recipe", prepared: Prepared) -> Path:
        return write_preparation(run_path, recipe, prepared, "image", extra={"preparation": asdict(prepared.preprocessor)})

    def load(self, run_path: str | Path, recipe: "Recipe") -> Prepared:
        frame, _, sha256, _ = self._read(recipe)
        _, info, split = read_preparation(run_path, recipe, sha256)
        task = get_task(info["task"])
        target = task.read_target(frame[recipe.data.target].reset_index(drop=True), recipe)
        prepared = Prepared(
            frame, [IMAGE], [], target.labels, target.positive_index, split, target.y, task=task.name, preprocessor=ImagePreparation(**info["preparation"]), data_sha256=sha256
        )
        self._fill(recipe, prepared)  # the saved statistics: nothing refitted
        return prepared

    def summary(self, recipe: "Recipe", prepared: Prepared) -> dict[str, Any]:
        channels, height, width = prepared.preprocessor.shape
        return summary(recipe, prepared, "image", {"name": IMAGE, "kind": f"image {height}x{width}x{channels}", "missing": 0}, channels * height * width)

    # --- training ------------------------------------------------------------------------

    def build_network(self, recipe: "Recipe", prepared: Prepared, pretrained: bool = True) -> "nn.Module":
        import torch

        from shipyard.models.cnn import cnn
        from shipyard.models.registry import build_model
        from shipyard.training.checkpoint import load_checkpoint

        torch.manual_seed(recipe.seed)
        network = build_model(recipe.model, prepared.n_features, get_task(recipe.task).n_outputs(prepared))
        if pretrained and recipe.model.init_from:
            source = load_checkpoint(recipe.model.init_from).network
            try:
                network.load_blocks(cnn(source).state_dict())
            except ValueError as exc:
                raise RecipeError(f"model.init_from: {recipe.model.init_from}: {exc}", "use a cnn run with the same channels, convs_per_block and kernel_size") from None
        preparation = prepared.preprocessor
        network.set_normalisation(np.asarray(preparation.mean), np.asarray(preparation.std))
        network.freeze(recipe.model.freeze_blocks)
        return network

    def datasets(self, recipe: "Recipe", prepared: Prepared, y_fit: np.ndarray, y_val: np.ndarray, extras: tuple[tuple, tuple] = ((), ())) -> tuple[Any, Any, Any]:
        from shipyard.modalities.image.augment import ImageDataset
        from shipyard.training.data import ArrayDataset

        if extras[0] or extras[1]:
            raise ValueError("image datasets carry no per-row extras (distillation of image networks is not available)")

        val = ArrayDataset(prepared.X["validation"], y_val)
        plain = ArrayDataset(prepared.X_fit, y_fit)
        augment = recipe.prepare.image_augment
        if not augment.enabled:
            return plain, val, None
        return ImageDataset(prepared.X_fit, y_fit, augment, len(prepared.labels)), val, plain

    # --- evaluation, export, explanations, attacks -------------------------------------------------

    def baselines(self, recipe: "Recipe", task: "Task", prepared: Prepared) -> dict[str, np.ndarray]:
        train, test = prepared.X["train"], prepared.X["test"]
        return task.baselines(train.reshape(len(train), -1), prepared.y[prepared.split.train], test.reshape(len(test), -1), recipe.seed, prepared)

    def export(self, recipe: "Recipe", prepared: Prepared, network: "nn.Module", metrics: dict[str, Any], bundle: Path) -> dict[str, Any]:
        from shipyard.modalities.image.export import export_image

        return export_image(recipe, prepared, network, metrics, bundle)

    def explain(self, ctx: "RunContext") -> dict[str, Any]:
        from shipyard.modalities.image.explain import explain_images

        return explain_images(ctx)

    def attack(self, ctx: "RunContext") -> dict[str, Any]:
        from shipyard.modalities.image.attacks import attack_curves

        return attack_curves(ctx)


def _resolve_init_from(recipe: "Recipe") -> dict[str, Any] | None:
    """Make ``model.init_from`` an absolute run directory (relative to the recipe's folder) and check it holds a CNN checkpoint.

    Raises
    ------
    RecipeError
        If it is not a finished run of a cnn.
    """
    from shipyard.rundir import resolve_run
    from shipyard.training.checkpoint import checkpoint_folder, read_checkpoint_info

    spec = recipe.model
    if not spec.init_from:
        return None
    path = Path(spec.init_from)
    if not path.is_absolute():
        path = Path(recipe.base_dir) / path
    try:
        run = resolve_run(path)
        info = read_checkpoint_info(checkpoint_folder(run.path))
    except Exception as exc:  # noqa: BLE001  any reason it is not a usable run
        raise RecipeError(f"model.init_from: {path} is not a finished run ({exc})", "name the run directory of a cnn recipe, e.g. runs/semeion/latest") from None
    if info["model"]["type"] != "cnn":
        raise RecipeError(f"model.init_from: {path} is a {info['model']['type']} run, not a cnn", "name the run directory of a cnn recipe")
    source = info["model"]["spec"]
    for key in ("channels", "convs_per_block", "kernel_size"):
        if source.get(key) != getattr(spec, key):
            raise RecipeError(f"model.init_from: the run's {key} is {source.get(key)}, this recipe's {getattr(spec, key)}", f"set model.{key}: {source.get(key)}")
    spec.init_from = str(run.path.resolve())
    return info
