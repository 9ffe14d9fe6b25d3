"""Tokenize raw text with a Hugging Face ``tokenizer.json`` (the ``tokenizers`` library); torch-free.

The same file, configured here (truncation at the model's maximum length,
no padding), is saved in the run's preparation and in the bundle, so training,
export, batch prediction and the server turn a text into the same token ids.
Padding is done here, to the longest text of a batch, with the pad id; the
network derives its attention mask from the ids (``ids != pad_id``), so a
literal ``[PAD]`` in a text is read as padding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import DataError

TOKENIZER = "tokenizer.json"


def load_tokenizer(path: str | Path, max_length: int) -> Any:
    """Read a ``tokenizer.json`` and set truncation at ``max_length`` tokens, without padding.

    Parameters
    ----------
    path : str or Path
        The file, or a folder holding it.
    max_length : int
        Tokens per text, special tokens included.

    Returns
    -------
    tokenizers.Tokenizer

    Raises
    ------
    DataError
        If the file is missing or not a tokenizer.
    """
    from tokenizers import Tokenizer

    path = Path(path)
    if path.is_dir():
        path = path / TOKENIZER
    if not path.is_file():
        raise DataError(f"{path}: no tokenizer file", "a text encoder folder needs the fast tokenizer's tokenizer.json")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001  the library raises plain Exceptions for bad files
        raise DataError(f"{path}: not a tokenizers file ({exc})", "save the tokenizer with tokenizer.save(path)") from None
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def tokenizer_from_str(text: str) -> Any:
    """A tokenizer from the JSON text :func:`load_tokenizer`'s result serialises to (``Tokenizer.to_str()``), as saved."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(text)


def pad_id(tokenizer: Any) -> int:
    """The id of the pad token (``[PAD]``, ``<pad>``), else 0."""
    for token in ("[PAD]", "<pad>", "<PAD>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def max_length(tokenizer: Any) -> int:
    """The truncation length the tokenizer is configured with."""
    return int((tokenizer.truncation or {}).get("max_length", 512))


def encode(tokenizer: Any, texts: list[str], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of texts, right-padded with the pad id.

    Parameters
    ----------
    tokenizer : tokenizers.Tokenizer
        From :func:`load_tokenizer` (truncating, not padding).
    texts : list of str
    width : int, optional
        Pad to this many tokens; default the longest text's token count.

    Returns
    -------
    ids : ndarray of shape (n_texts, width), int64
    lengths : ndarray of shape (n_texts,), int64
        Tokens of each text after truncation (special tokens included).
    """
    encodings = tokenizer.encode_batch(list(texts))
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    width = int(lengths.max(initial=1)) if width is None else width
    ids = np.full((len(encodings), width), pad_id(tokenizer), dtype=np.int64)
    for i, e in enumerate(encodings):
        ids[i, : len(e.ids)] = e.ids[:width]
    return ids, lengths


def token_counts(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Tokens of each text without truncation (special tokens included), for the length profile and truncation rate."""
    untruncated = tokenizer_from_str(tokenizer.to_str())
    untruncated.no_truncation()
    return np.fromiter((len(e.ids) for e in untruncated.encode_batch(list(texts))), dtype=np.int64, count=len(texts))


def tokens(tokenizer: Any, ids: np.ndarray) -> list[str]:
    """The token strings of one row of ids (padding left out)."""
    pid = pad_id(tokenizer)
    return [tokenizer.id_to_token(int(i)) or "" for i in ids if int(i) != pid]


def tokenizer_info(tokenizer: Any) -> dict[str, Any]:
    """What the manifest and the preparation record about a tokenizer."""
    model = json.loads(tokenizer.to_str()).get("model", {})
    return {"library": "tokenizers", "model": model.get("type"), "vocab_size": tokenizer.get_vocab_size(), "max_length": max_length(tokenizer), "pad_id": pad_id(tokenizer)}
