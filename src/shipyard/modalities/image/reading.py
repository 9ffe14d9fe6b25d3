"""Read labelled image sets: ``sklearn:digits``, a ``.npz`` of images and labels, or a folder with one sub-folder of image files per class (torch-free)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shipyard.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
DIGITS_MAX = 16.0
"""sklearn:digits pixels are counts of 0..16 set bits in 4x4 blocks of the 32x32 original."""


@dataclass
class ImageSet:
    """Images as read, before resizing and scaling.

    Attributes
    ----------
    images : ndarray of shape (n, height, width, channels)
        Pixel values in the source's units.
    labels : ndarray of shape (n,)
    names : list of str
        Where each image came from (a file, or ``array[i]``).
    max_value : float or None
        The source's full-intensity value when the format says (255 for image files, 16 for digits).
    """

    images: np.ndarray
    labels: np.ndarray
    names: list[str]
    max_value: float | None = None


def _as_nhwc(images: np.ndarray, where: str) -> np.ndarray:
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] == 0:
        raise DataError(f"{where}: images must have shape (n, height, width) or (n, height, width, channels), got {images.shape}", "store one image per row of the array")
    if images.shape[-1] not in (1, 3, 4):
        raise DataError(f"{where}: the last axis has {images.shape[-1]} channels", "store channels last: (n, height, width, channels) with 1, 3 or 4 channels")
    if not np.issubdtype(images.dtype, np.number) or np.issubdtype(images.dtype, np.complexfloating):
        raise DataError(f"{where}: images of dtype {images.dtype} are not pixel values", "store numbers")
    values = images.reshape(len(images), -1)
    finite = np.isfinite(values).all(axis=1) & (np.abs(values) <= np.finfo(np.float32).max).all(axis=1)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise DataError(
            f"{where}: {int((~finite).sum())} image(s) hold NaN, infinite or float32-overflowing pixels (the first: image {first})",
            "drop or repair those images",
        )
    return images


def read_npz(path: Path, images_key: str | None, labels_key: str) -> ImageSet:
    """Images and labels from a ``.npz`` (no pickled objects).

    Parameters
    ----------
    path : Path
    images_key : str, optional
        The images array; default ``X``, else ``images``.
    labels_key : str
        The labels array (the recipe's ``data.target``).

    Raises
    ------
    DataError
        If an array is missing, pickled, or of the wrong shape.
    """
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = list(arrays.keys())
            key = images_key or next((k for k in ("X", "images") if k in keys), None)
            if key is None or key not in keys:
                raise DataError(f"{path}: no images array {images_key or 'X or images'}; arrays are: {', '.join(keys)}", "set data.images.array")
            if labels_key not in keys:
                raise DataError(f"{path}: no labels array '{labels_key}' (data.target); arrays are: {', '.join(keys)}", "set data.target to the labels array")
            images, labels = arrays[key], arrays[labels_key]
    except ValueError as exc:
        raise DataError(f"{path}: cannot read the arrays ({exc})", "save them with numpy.savez, without object arrays") from None
    except OSError as exc:
        raise DataError(f"{path}: not a .npz file ({exc})", "save the arrays with numpy.savez") from None
    images = _as_nhwc(np.asarray(images), f"{path} [{key}]")
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels", "give one label per image")
    return ImageSet(images, labels, [f"{key}[{i}]" for i in range(len(images))])


def _open(file: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            return np.asarray(image.convert("L" if image.mode in ("1", "L", "LA") else "RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{file}: not a readable image ({exc})", "remove it or convert it to PNG") from None


def read_folder(path: Path) -> ImageSet:
    """Images from a folder with one sub-folder per class (the sub-folder's name is the label), 8-bit.

    Raises
    ------
    DataError
        If there are no class folders or images, or the images differ in size or channels.
    """
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{path}: no class folders", "put the images of each class in a sub-folder named after the class")
    arrays, labels, names = [], [], []
    for folder in classes:
        for file in sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES):
            arrays.append(_open(file))
            labels.append(folder.name)
            names.append(str(file.relative_to(path)))
    if not arrays:
        raise DataError(f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class folders", "add images")
    rgb = any(a.ndim == 3 for a in arrays)
    arrays = [np.repeat(a[..., None], 3, axis=2) if rgb and a.ndim == 2 else (a[..., None] if a.ndim == 2 else a) for a in arrays]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        first = sorted(shapes)[:2]
        raise DataError(f"{path}: images differ in size ({first[0][:2]} and {first[1][:2]}, ...)", "set data.images.size: [height, width] to resize them all")
    return ImageSet(np.stack(arrays), np.asarray(labels, dtype=object), names, 255.0)


def read_images(source: str, path: Path | None, images_key: str | None, labels_key: str) -> ImageSet:
    """Read a recipe's image source: ``sklearn:digits``, a ``.npz`` file or a folder of class folders.

    Raises
    ------
    DataError
        For an unknown source or unreadable data.
    """
    if source == "sklearn:digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return ImageSet(bunch.images[..., None], bunch.target.astype(np.int64), [f"digits[{i}]" for i in range(len(bunch.target))], DIGITS_MAX)
    if source.startswith("sklearn:"):
        raise DataError(f"{source}: not an image dataset", "use sklearn:digits, a .npz of images and labels, or a folder of class folders")
    assert path is not None
    if path.is_dir():
        return read_folder(path)
    if path.suffix.lower() == ".npz":
        return read_npz(path, images_key, labels_key)
    raise DataError(f"{path}: image data must be a .npz file or a folder of class folders", "convert the data, or use a tabular model kind for a table")


def read_unlabelled(path: Path) -> tuple[list[str], list[object]]:
    """Images to predict: a ``.npz`` (array ``X`` or ``images``: nested pixel values) or a folder of image files (base64 file bytes).

    Returns
    -------
    (list of str, list)
        Names, and one record value per image as the predictor decodes it.

    Raises
    ------
    DataError
        If nothing readable is there.
    """
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{path}: no image files", f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
        return [str(f.relative_to(path)) for f in files], [base64.b64encode(f.read_bytes()).decode("ascii") for f in files]
    if path.suffix.lower() == ".npz":
        if not path.is_file():
            raise DataError(f"{path}: file not found", "check the path")
        try:
            with np.load(path, allow_pickle=False) as arrays:
                key = next((k for k in ("X", "images") if k in arrays), None)
                if key is None:
                    raise DataError(f"{path}: no array X or images", "store the images as X")
                images = np.asarray(arrays[key])
        except ValueError as exc:
            raise DataError(f"{path}: cannot read the arrays ({exc})", "save them with numpy.savez, without object arrays") from None
        except OSError as exc:
            raise DataError(f"{path}: not a .npz file ({exc})", "save the arrays with numpy.savez") from None
        return [f"{key}[{i}]" for i in range(len(images))], list(images)
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return [path.name], [base64.b64encode(path.read_bytes()).decode("ascii")]
    raise DataError(f"{path}: not a .npz, an image file or a folder of images", "pass images to predict")
