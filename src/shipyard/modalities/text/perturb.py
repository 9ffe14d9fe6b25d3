"""Accuracy of a text model under character-level typos and word deletion, as curves over the rate.

Robustness to noisy text is measured on the text, not by a gradient epsilon
in embedding space: each perturbation is a plausible input (Belinkov & Bisk
2018, "Synthetic and natural noise both break neural machine translation";
Wei & Zou 2019, "EDA", for random word deletion).
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.training.device import torch_threads
from shipyard.modalities.text import tokenizer as tok

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.stages.base import RunContext

LETTERS = string.ascii_lowercase
KINDS = ("typos", "word_deletion")


def typos(text: str, rate: float, rng: np.random.Generator) -> str:
    """Hit each letter or digit with probability ``rate`` by one typo: insert a letter before it, delete it, swap it with the next character, or substitute a letter.

    Parameters
    ----------
    text : str
    rate : float
        In [0, 1].
    rng : numpy.random.Generator

    Returns
    -------
    str
    """
    chars = list(text)
    out: list[str] = []
    i = 0
    while i < len(chars):
        c = chars[i]
        if c.isalnum() and rng.random() < rate:
            action = rng.integers(4)
            if action == 0:  # insert
                out += [LETTERS[rng.integers(26)], c]
            elif action == 1:  # delete
                pass
            elif action == 2 and i + 1 < len(chars):  # swap with the next character
                out += [chars[i + 1], c]
                i += 1
            else:  # substitute
                out.append(LETTERS[rng.integers(26)])
        else:
            out.append(c)
        i += 1
    return "".join(out)


def delete_words(text: str, rate: float, rng: np.random.Generator) -> str:
    """Delete each whitespace-separated word with probability ``rate``, keeping at least one word of a non-empty text."""
    words = text.split()
    if not words:
        return text
    kept = [w for w in words if rng.random() >= rate]
    return " ".join(kept) if kept else words[int(rng.integers(len(words)))]


PERTURB = {"typos": typos, "word_deletion": delete_words}


def perturbation_curves(ctx: "RunContext") -> dict[str, Any]:
    """Test accuracy (and F1 for binary tasks) of the run's network on sampled test texts perturbed at each ``attack.rates`` entry.

    Each rate is drawn ``attack.repeats`` times with seeded generators;
    the curve is the mean and the spread is the standard deviation over draws.

    Returns
    -------
    dict
        The content of ``attack.json`` (``kind: text``): ``rates``, ``curves`` (per kind:
        ``accuracy``, ``accuracy_std``, ``f1``), ``samples``, ``examples``.
    """
    recipe, prepared, task = ctx.recipe, ctx.data, ctx.task
    spec = recipe.attack
    rng = np.random.default_rng(recipe.seed)
    test = prepared.split.test
    rows = test if len(test) <= spec.rows else np.sort(rng.choice(test, spec.rows, replace=False))
    texts = prepared.frame[recipe.data.text].to_numpy(dtype=object)[rows].tolist()
    y = prepared.y[rows]
    pos = prepared.positive_index
    tokenizer = prepared.preprocessor

    def score(batch: list[str]) -> dict[str, float]:
        ids, _ = tok.encode(tokenizer, batch)
        scores = task.scores(y, task.predict(ctx.network, ids), pos)
        return {"accuracy": scores["accuracy"], "f1": scores.get("f1")}

    with torch_threads(recipe.train.num_threads):
        clean = score(texts)
        curves, examples = _curves(spec.rates, spec.repeats, texts, score, clean, recipe.seed)
    return {
        "kind": "text",
        "samples": int(len(rows)),
        "repeats": spec.repeats,
        "rates": list(spec.rates),
        "clean": clean,
        "curves": curves,
        "positive_label": None if pos is None else str(prepared.labels[pos]),
        "examples": examples,
        "method": "typos: each letter or digit hit with probability rate by an insertion, deletion, swap or substitution; "
        "word_deletion: each word deleted with probability rate (at least one kept)",
    }


def _curves(rates: list[float], repeats: int, texts: list[str], score: Any, clean: dict[str, Any], seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per kind and rate: the mean and standard deviation of accuracy over ``repeats`` seeded draws, and the mean F1; one example per rate."""
    curves: dict[str, dict[str, list[Any]]] = {kind: {"accuracy": [], "accuracy_std": [], "f1": []} for kind in KINDS}
    examples = []
    for rate in rates:
        for kind in KINDS:
            draws = []
            for repeat in range(repeats if rate > 0 else 1):
                draw_rng = np.random.default_rng([seed, int(rate * 1e6), repeat, KINDS.index(kind)])
                perturbed = [PERTURB[kind](t, rate, draw_rng) for t in texts]
                draws.append(clean if rate == 0 else score(perturbed))
                if repeat == 0 and rate > 0 and kind == "typos":
                    examples.append({"rate": rate, "original": texts[0], "typos": perturbed[0], "word_deletion": delete_words(texts[0], rate, np.random.default_rng([seed, 1]))})
            accuracies = [d["accuracy"] for d in draws]
            curves[kind]["accuracy"].append(float(np.mean(accuracies)))
            curves[kind]["accuracy_std"].append(float(np.std(accuracies)))
            f1 = [d["f1"] for d in draws if d["f1"] is not None]
            curves[kind]["f1"].append(float(np.mean(f1)) if f1 else None)
    return curves, examples
