"""Predict with text and image bundles through onnxruntime; torch is never imported here.

:func:`shipyard.predictor.load` returns a :class:`TextPredictor` or an
:class:`ImagePredictor` when the bundle's manifest names that ``input``. Both
are :class:`~shipyard.predictor.Predictor` subclasses that replace only how
records become the graph's input (``prepare`` → a
:class:`~shipyard.predictor.ModelInput` holding token ids or pixels, warnings
and refused records), how the graph runs, the request record's pydantic model
(:meth:`BundlePredictor.record_model`), the server's warm-up records and how
batch prediction reads a file (``read_data``); the request path (``run``,
``check``, per-record errors, decisions, version, the sealed manifest) is the
predictor's.

Records: a text bundle takes ``{"<text column>": "..."}``; an image bundle
takes ``{"image": IMAGE}`` where IMAGE is a base64 PNG (optionally a
``data:image/png;base64,`` URI) or nested arrays of pixel values in the
training data's units, shape (height, width) or (height, width, channels).
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from shipyard.errors import BundleError, InputError
from shipyard.predictor import ModelInput, Predictor
from shipyard.schema import Column
from shipyard.serving.ood import OutOfDistribution

TEXT_INPUT = "input_ids"
"""Graph input of a text bundle: token ids, int64 (batch, seq)."""
IMAGE_INPUT = "pixels"
"""Graph input of an image bundle: pixels in [0, 1], float32 (batch, channels, height, width)."""
GRAPH_INPUT = "shipyard.input"
"""ONNX metadata key holding the input modality (``text``, ``image``), checked against the manifest on load."""
BATCH = 64
"""Texts per onnxruntime call, sorted by length so that each call pads little."""
MAX_TEXT_CHARS = 100_000
"""Longest text a request may carry (the model reads only its first ``max_length`` tokens anyway)."""
IMAGE_KEY = "image"


def run_token_batches(session: ort.InferenceSession, output: str, ids: np.ndarray, pad_id: int, batch: int = BATCH) -> np.ndarray:
    """Run a text graph over padded token ids in length-sorted batches, each trimmed of its padding.

    Parameters
    ----------
    session : onnxruntime.InferenceSession
    output : str
        The graph's output name.
    ids : ndarray of shape (n_texts, width), int64
        Right-padded with ``pad_id``.
    pad_id : int
    batch : int

    Returns
    -------
    ndarray of shape (n_texts, n_outputs)
        In the order of ``ids``.
    """
    ends = ((ids != pad_id) * np.arange(1, ids.shape[1] + 1)).max(axis=1) if ids.size else np.zeros(len(ids), dtype=np.int64)
    order = np.argsort(-ends, kind="stable")
    out: np.ndarray | None = None
    for start in range(0, len(ids), batch):
        rows = order[start : start + batch]
        width = max(1, int(ends[rows].max()))
        (result,) = session.run([output], {TEXT_INPUT: np.ascontiguousarray(ids[rows, :width])})
        if out is None:
            out = np.empty((len(ids),) + result.shape[1:], dtype=result.dtype)
        out[rows] = result
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


class PixelRangeError(InputError):
    """An image's pixel values lie outside the range of the training images: that record is refused, the others are predicted."""


class BundlePredictor(Predictor):
    """A loaded bundle whose graph takes one raw-input tensor (token ids, pixels): the table :class:`~shipyard.predictor.Predictor` with its own inputs.

    It has the predictor's whole request path (``prepare`` → ``run`` →
    ``check``, per-record errors, warnings, the version, the manifest sealed
    in the hashed graph), so the server, batch prediction and MLflow treat it
    like a table bundle; a subclass says how records become the graph's input.

    Parameters
    ----------
    path : str or Path
        Bundle folder or run directory; every file's sha256 is checked.
    providers, intra_op_threads, allow_spinning
        As :class:`~shipyard.predictor.Predictor`.

    Raises
    ------
    BundleError
        If the bundle is missing, was modified, or its manifest does not describe its graph.
    """

    modality: str = ""
    graph_input: str = ""

    def _read_inputs(self) -> None:
        self.schema = [Column(c["name"], c["kind"], self.graph_input) for c in self.manifest["inputs"]]
        self.input_margin = None
        self.out_of_distribution = OutOfDistribution([])  # no numeric features: nothing to mark
        self.unseen_encoding = ""

    def _check_graph_inputs(self) -> None:
        where = self.path / "manifest.json"
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != [self.graph_input]:
            raise BundleError(f"{where}: a {self.modality} bundle's graph takes '{self.graph_input}', model.onnx takes {inputs}", "restore the original bundle")
        recorded = self.session.get_modelmeta().custom_metadata_map.get(GRAPH_INPUT)
        if recorded != self.modality:
            raise BundleError(f"{where}: input {self.modality} differs from the one recorded in model.onnx ({recorded})", "restore the original manifest or re-run the recipe")

    # --- the modality's part -----------------------------------------------------------------

    def encode(self, records: list[dict[str, Any]], source: str) -> ModelInput:
        """The graph input of raw records, with warnings and refused records."""
        raise NotImplementedError

    def record_model(self) -> type:
        """The pydantic model of one request record (documents ``POST /v1/predict``)."""
        raise NotImplementedError

    # --- the predictor's request path ----------------------------------------------------------

    def _records(self, data: Any, source: str) -> list[dict[str, Any]]:
        if isinstance(data, pd.DataFrame):
            data = data.to_dict(orient="records")
        elif isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(f"{source}: records must be a DataFrame, a dict or a list of dicts", f"pass {{{self.schema[0].name!r}: ...}} mappings")
        if not data:
            raise InputError(f"{source}: no records to predict", "send at least one record")
        return data

    def prepare(self, data: Any, source: str = "input") -> ModelInput:
        """Records (a list of dicts, a dict or a DataFrame) as the graph's input.

        Raises
        ------
        InputError
            If a record lacks its input or the input cannot be read.
        """
        return self.encode(self._records(data, source), source)

    def feed(self, model_input: ModelInput) -> dict[str, np.ndarray]:
        return {self.graph_input: model_input.columns[self.graph_input]}

    def refused(self, model_input: ModelInput) -> dict[int, str]:
        return dict(model_input.refused)

    def unseen(self, model_input: ModelInput) -> dict[str, int]:
        return {}

    def warnings(self, model_input: ModelInput) -> list[str]:
        return list(model_input.notes)


_NO_TEXT = object()


class TextPredictor(BundlePredictor):
    """A text bundle: ``tokenizer.json`` (the ``tokenizers`` library) turns each text into token ids for the graph."""

    modality = "text"
    graph_input = TEXT_INPUT

    def _read_inputs(self) -> None:
        from tokenizers import Tokenizer

        super()._read_inputs()
        info = self.manifest["text"]
        self.column = self.manifest["inputs"][0]["name"]
        self.tokenizer = Tokenizer.from_file(str(self.path / info["tokenizer"]))
        self.max_length = int(info["max_length"])
        self.pad_id = int(info["pad_id"])
        self._untruncated = Tokenizer.from_str(self.tokenizer.to_str())
        self._untruncated.no_truncation()

    def texts(self, records: list[dict[str, Any]]) -> tuple[list[str], dict[int, str]]:
        """The text of each record, and the records refused: no text (a missing key, null or NaN), or a value that is not a string.

        A refused record's text is empty; its reason goes in the response's
        ``errors`` and the other records are predicted.
        """
        out, refused = [], {}
        for i, record in enumerate(records):
            value = record.get(self.column, _NO_TEXT)
            if value is _NO_TEXT or value is None or (isinstance(value, float) and np.isnan(value)):
                refused[i] = f"no '{self.column}' (send {{{self.column!r}: \"...\"}}; an empty string for no text)"
            elif not isinstance(value, str):
                refused[i] = f"'{self.column}' must be a string, got {type(value).__name__} (send the raw text)"
            out.append(value if isinstance(value, str) else "")
        return out, refused

    def encode(self, records: list[dict[str, Any]], source: str) -> ModelInput:
        texts, refused = self.texts(records)
        encodings = self.tokenizer.encode_batch(texts)
        width = max(1, max(len(e.ids) for e in encodings))
        ids = np.full((len(texts), width), self.pad_id, dtype=np.int64)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
        notes = [
            f"record {i}: no word the model reads (an empty text, whitespace or control characters); the prediction is the model's answer to no words"
            for i, e in enumerate(encodings)
            if i not in refused and all(e.special_tokens_mask)
        ]
        full = [len(e.ids) for e in self._untruncated.encode_batch([t for t, e in zip(texts, encodings) if len(e.ids) >= self.max_length])]
        long_rows = [i for i, e in enumerate(encodings) if len(e.ids) >= self.max_length]
        for i, n in zip(long_rows, full):
            if n > self.max_length:
                notes.append(f"record {i}: text of {n} tokens truncated to the model's {self.max_length}")
        return ModelInput({self.graph_input: ids}, len(texts), pad=self.pad_id, notes=notes, refused=refused)

    def run(self, model_input: ModelInput) -> np.ndarray:
        return self.task.shape_output(run_token_batches(self.session, self.task.output, model_input.columns[self.graph_input], self.pad_id))

    def warmup_records(self) -> list[dict[str, Any]]:
        """A short text, an empty one, and one longer than the model reads (truncated)."""
        return [{self.column: "a short message"}, {self.column: ""}, {self.column: "word " * (2 * self.max_length)}]

    def record_model(self) -> type:
        from pydantic import ConfigDict, Field, create_model

        field = Field(..., alias=self.column, max_length=MAX_TEXT_CHARS, description=f"raw text; the model reads its first {self.max_length} tokens")
        return create_model("TextRecord", __config__=ConfigDict(extra="forbid", populate_by_name=False), text=(str, field))

    def read_data(self, path: str | Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """The texts of a file (read raw, unstripped, as training read them) as records, and the file's columns (the output keeps them all)."""
        from shipyard.modalities.text.reading import read_texts

        frame = read_texts(Path(path), self.column)
        return [{self.column: value} for value in frame[self.column].tolist()], frame


IMAGE_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I;16", "I;16B", "I;16L"})
"""Pillow modes of 8-bit (or 16-bit grey) images: their full intensity is known, so pixels scale to [0, 1]."""


class ImagePredictor(BundlePredictor):
    """An image bundle: each image (base64 PNG or nested arrays) becomes pixels in [0, 1]; the graph normalises them."""

    modality = "image"
    graph_input = IMAGE_INPUT

    def _read_inputs(self) -> None:
        super()._read_inputs()
        info = self.manifest["image"]
        self.channels, self.height, self.width = (int(v) for v in info["shape"])
        self.max_value = float(info["max_value"])

    def decode(self, value: Any, where: str) -> np.ndarray:
        """One image as pixels in [0, 1], shape (channels, height, width), float32.

        Raises
        ------
        InputError
            If it is neither a PNG in base64 nor nested numbers of the model's shape and range.
        """
        if isinstance(value, str):
            pixels = self._png(value, where)
        elif isinstance(value, (list, tuple, np.ndarray)):
            try:
                read = np.asarray(value)  # converted once: numbers of one shape are the usual case
            except (TypeError, ValueError):
                read = np.empty(0, dtype=object)
            if read.dtype.kind in "bUS":  # "1.5" and true would otherwise pass as numbers
                raise InputError(f"{where}: the image's nested arrays must hold numbers of one shape, not text or booleans", "send pixel values as JSON numbers")
            try:
                array = read.astype(np.float64) if read.dtype.kind in "iuf" else np.asarray(value, dtype=np.float64)
            except OverflowError:  # an integer beyond float64
                raise PixelRangeError(f"{where}: pixel values must be finite and in [0, {self.max_value:g}]", "send values in the units of the training images") from None
            except (TypeError, ValueError):
                raise InputError(f"{where}: the image's nested arrays must hold numbers of one shape", "send (height, width) or (height, width, channels) numbers") from None
            if array.ndim == 2:
                array = array[:, :, None]
            if array.ndim != 3 or array.shape != (self.height, self.width, self.channels):
                raise InputError(
                    f"{where}: image of shape {tuple(np.asarray(value, dtype=object).shape)}; the model takes {self.height}x{self.width} with {self.channels} channel(s)",
                    f"send ({self.height}, {self.width}{'' if self.channels == 1 else f', {self.channels}'}) pixel values",
                )
            if not np.isfinite(array).all() or array.min() < 0 or array.max() > self.max_value:
                raise PixelRangeError(f"{where}: pixel values must be finite and in [0, {self.max_value:g}]", "send values in the units of the training images")
            pixels = array.transpose(2, 0, 1) / self.max_value
        else:
            raise InputError(f"{where}: an image is a base64 PNG string or nested arrays of pixel values, got {type(value).__name__}", "see GET /v1/model")
        return pixels.astype(np.float32)

    def _png(self, text: str, where: str) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        data = "".join((text.split(",", 1)[1] if text.startswith("data:") else text).split())  # line-wrapped base64 (`base64`, encodebytes)
        data = data.replace("-", "+").replace("_", "/") + "=" * (-len(data) % 4)  # the URL-safe alphabet, padding left out
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{where}: the image string is not base64", "send a base64-encoded PNG") from None
        try:
            image = Image.open(io.BytesIO(raw))
        except Image.DecompressionBombError:  # Pillow refuses to open images of more than ~179M pixels
            raise InputError(f"{where}: the image is far larger than the model's {self.height}x{self.width}", f"resize it to {self.height}x{self.width}") from None
        except (UnidentifiedImageError, OSError):
            raise InputError(f"{where}: the image bytes are not a PNG or other image file", "send a base64-encoded PNG") from None
        if image.size != (self.width, self.height):
            raise InputError(f"{where}: image of {image.size[1]}x{image.size[0]} pixels; the model takes {self.height}x{self.width}", f"resize it to {self.height}x{self.width}")
        if image.mode not in IMAGE_MODES:  # 32-bit integer or float pixels: no known full-intensity value to scale by
            raise InputError(f"{where}: image of mode {image.mode}; the model reads 8-bit or 16-bit images", "send an 8-bit or 16-bit PNG, or nested arrays of pixel values")
        deep = image.mode.startswith("I;16")
        try:
            image = image.convert("L" if self.channels == 1 else "RGB") if not deep else image
            array = np.asarray(image, dtype=np.float64) / (65535.0 if deep else 255.0)
        except (OSError, ValueError, SyntaxError):  # Image.open reads only the header: damaged pixel data fails here
            raise InputError(f"{where}: the image's pixel data cannot be decoded (a damaged file)", "send the image file again, unmodified") from None
        if array.ndim == 2:
            array = array[:, :, None]
        if array.shape[2] != self.channels:
            raise InputError(f"{where}: image with {array.shape[2]} channel(s); the model takes {self.channels}", "convert the image")
        return array.transpose(2, 0, 1)

    def encode(self, records: list[dict[str, Any]], source: str) -> ModelInput:
        """Decode every record's image; one that cannot be read or whose pixel values lie outside [0, max_value] is refused on its own
        (its error names the problem; zeros go to the graph in its place) and the other records are predicted."""
        images, refused = [], {}
        for i, record in enumerate(records):
            where = f"{source}: record {i}"
            try:
                if IMAGE_KEY not in record:
                    raise InputError(f"{where} has no '{IMAGE_KEY}'", f"send {{'{IMAGE_KEY}': <base64 PNG or nested arrays>}}")
                images.append(self.decode(record[IMAGE_KEY], where))
            except PixelRangeError:
                refused[i] = f"pixel values must be finite and in [0, {self.max_value:g}] (the units of the training images)"
                images.append(np.zeros((self.channels, self.height, self.width), dtype=np.float32))
            except InputError as exc:
                refused[i] = exc.one_line().removeprefix(where).lstrip(": ")
                images.append(np.zeros((self.channels, self.height, self.width), dtype=np.float32))
        return ModelInput({self.graph_input: np.stack(images)}, len(images), refused=refused)

    def warmup_records(self) -> list[dict[str, Any]]:
        """A black image, a mid-grey one and a PNG-sized nested array of full intensity."""
        shape = (self.height, self.width) if self.channels == 1 else (self.height, self.width, self.channels)
        return [{IMAGE_KEY: np.zeros(shape).tolist()}, {IMAGE_KEY: np.full(shape, self.max_value / 2).tolist()}, {IMAGE_KEY: np.full(shape, self.max_value).tolist()}]

    def record_model(self) -> type:
        from pydantic import ConfigDict, Field, create_model

        field = Field(..., description=f"a base64 PNG of {self.height}x{self.width} pixels, or nested arrays ({self.height}, {self.width}"
                      f"{'' if self.channels == 1 else f', {self.channels}'}) of values in [0, {self.max_value:g}]")
        return create_model("ImageRecord", __config__=ConfigDict(extra="forbid"), **{IMAGE_KEY: (str | list[Any], field)})

    def read_data(self, path: str | Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """The images of a .npz or a folder of image files, as records and as the output file's first column (their names)."""
        from shipyard.modalities.image.reading import read_unlabelled

        names, arrays = read_unlabelled(Path(path))
        records = [{IMAGE_KEY: a} for a in arrays]
        return records, pd.DataFrame({IMAGE_KEY: names})


PREDICTORS: dict[str, type[BundlePredictor]] = {"text": TextPredictor, "image": ImagePredictor}
"""Predictor class of each non-tabular bundle input (the manifest's ``input``)."""
