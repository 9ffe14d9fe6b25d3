"""Token attributions of a text network: Integrated Gradients on the word embeddings (Captum's LayerIntegratedGradients).

Integrated Gradients (Sundararajan, Taly & Yan 2017) attributes the
difference between the network's output on a text and on a baseline text to
the input tokens; here the baseline keeps the special tokens and replaces
every other token by the mask token (``[MASK]``; ``[UNK]`` when there is
none: not the pad token, which the network's attention mask would drop), and the
path runs through the word-embedding layer's output, so the attention mask
and position embeddings are those of the real text. The attributions of a
text sum to output(text) - output(baseline) up to the reported convergence
delta (completeness).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from shipyard.modalities.base import completeness_error
from shipyard.training.device import torch_threads
from shipyard.modalities.text import tokenizer as tok

if TYPE_CHECKING:  # pragma: no cover
    from shipyard.stages.base import RunContext

N_STEPS = 32
"""Steps of the path integral (Gauss-Legendre, Captum's default method); the convergence delta reports its error."""
TOP_TOKENS = 20
SPECIAL = {"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>"}
BASELINE_TOKENS = ("[MASK]", "<mask>", "[UNK]", "<unk>")


def baseline_id(tokenizer: Any) -> int:
    """The id the baseline text is made of: the mask token, else the unknown token (never the pad token)."""
    for token in BASELINE_TOKENS:
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    raise ValueError("the tokenizer has no [MASK] or [UNK] token to build an Integrated-Gradients baseline from")


def output_function(network: torch.nn.Module, n_classes: int, positive_index: int | None) -> tuple[Any, str]:
    """The scalar explained for each text, and its description.

    Binary: the positive class's log-odds; multiclass: the log-probability of the class the network predicts.
    """

    def binary(ids: torch.Tensor) -> torch.Tensor:
        logits = network(ids)
        return logits[:, positive_index] - logits[:, 1 - positive_index]

    def predicted(ids: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(network(ids), dim=1).gather(1, target.view(-1, 1)).squeeze(1)

    return (binary, "log-odds") if n_classes == 2 and positive_index is not None else (predicted, "log-probability of the predicted class")


def attribute_texts(
    network: torch.nn.Module, tokenizer: Any, ids: np.ndarray, positive_index: int | None, n_classes: int, n_steps: int = N_STEPS
) -> list[dict[str, Any]]:
    """Integrated-Gradients attribution of each token of each text.

    Parameters
    ----------
    network : nn.Module
        A (possibly wrapped) :class:`~shipyard.models.transformer.TextClassifier`, in eval mode.
    tokenizer : tokenizers.Tokenizer
    ids : ndarray of shape (n_texts, width), int64
        Token ids, right-padded with the pad id.
    positive_index : int or None
        Positive class of a binary task.
    n_classes : int
    n_steps : int

    Returns
    -------
    list of dict
        Per text: ``tokens`` (list of str), ``attributions`` (list of float, one per token, summed over the
        embedding dimensions), ``output`` and ``baseline_output`` (the explained scalar), ``delta``
        (sum of attributions - (output - baseline_output)), ``probabilities``.
    """
    from captum.attr import LayerIntegratedGradients

    from shipyard.models.transformer import plain_forward, text_classifier

    inner = text_classifier(network)
    pad, reference = tok.pad_id(tokenizer), baseline_id(tokenizer)
    special = {tokenizer.token_to_id(t) for t in SPECIAL} - {None}
    explained, _ = output_function(network, n_classes, positive_index)
    out = []
    with plain_forward(network):
        lig = LayerIntegratedGradients(explained, inner.encoder.embeddings.word_embeddings)
        for row in ids:
            length = max(1, int(np.flatnonzero(row != pad).max(initial=0)) + 1)
            x = torch.from_numpy(row[:length]).view(1, -1)
            base = torch.where(torch.isin(x, torch.tensor(sorted(special), dtype=torch.long)), x, torch.full_like(x, reference))
            with torch.no_grad():
                logits = network(x)
                proba = torch.softmax(logits, 1)[0]
            target = proba.argmax().view(1)
            extra = () if n_classes == 2 and positive_index is not None else (target,)
            attributions, delta = lig.attribute(
                x, baselines=base, additional_forward_args=extra, n_steps=n_steps, internal_batch_size=n_steps, return_convergence_delta=True
            )
            with torch.no_grad():
                value, baseline_value = float(explained(x, *extra)[0]), float(explained(base, *extra)[0])
            out.append(
                {
                    "tokens": [tokenizer.id_to_token(int(i)) or "" for i in row[:length]],
                    "attributions": attributions.sum(-1)[0].detach().numpy().astype(float).tolist(),
                    "output": value,
                    "baseline_output": baseline_value,
                    "delta": float(delta.abs().max()),
                    "probabilities": proba.numpy().astype(float).tolist(),
                    "predicted": int(target),
                }
            )
    return out


def global_tokens(explained: list[dict[str, Any]], top: int = TOP_TOKENS, min_count: int = 2) -> dict[str, Any]:
    """Tokens with the largest mean attribution over the explained texts (special tokens left out).

    Returns
    -------
    dict
        ``toward`` and ``against``: lists of ``{"token", "mean", "count"}`` with the largest positive and
        negative mean attribution among tokens seen at least ``min_count`` times; ``by_abs``: the largest |mean|.
    """
    sums: dict[str, list[float]] = {}
    for item in explained:
        for token, value in zip(item["tokens"], item["attributions"]):
            if token in SPECIAL:
                continue
            sums.setdefault(token, []).append(value)
    rows = [{"token": t, "mean": float(np.mean(v)), "count": len(v)} for t, v in sums.items() if len(v) >= min_count]
    return {
        "toward": sorted([r for r in rows if r["mean"] > 0], key=lambda r: -r["mean"])[:top],
        "against": sorted([r for r in rows if r["mean"] < 0], key=lambda r: r["mean"])[:top],
        "by_abs": sorted(rows, key=lambda r: -abs(r["mean"]))[:top],
    }


def explain_texts(ctx: "RunContext") -> dict[str, Any]:
    """Explain a text run: token attributions of sampled test texts (``explain.row`` first) and the global top tokens.

    Returns
    -------
    dict
        The content of ``explain.json`` (``kind: text``).
    """
    recipe, prepared = ctx.recipe, ctx.data
    spec = recipe.explain
    test = prepared.split.test
    rng = np.random.default_rng(recipe.seed)
    others = [i for i in rng.permutation(len(test)).tolist() if i != spec.row]
    positions = [min(spec.row, len(test) - 1)] + others[: max(0, min(spec.samples, len(test)) - 1)]
    ids = prepared.X["test"][positions]
    labels = [str(label) for label in prepared.labels]
    pos = prepared.positive_index
    network = ctx.network.eval()
    with torch_threads(recipe.train.num_threads):
        explained = attribute_texts(network, prepared.preprocessor, ids, pos, len(labels))
    _, unit = output_function(network, len(labels), pos)
    texts = prepared.frame[recipe.data.text].to_numpy(dtype=object)
    y = prepared.y
    for position, item in zip(positions, explained):
        row = int(test[position])
        item.update({"test_position": position, "data_row": row, "text": texts[row], "true": labels[int(y[row])], "predicted": labels[item["predicted"]]})
    output = f"log-odds of '{labels[pos]}'" if unit == "log-odds" else unit
    return {
        "kind": "text",
        "method": "Integrated Gradients on the word embeddings (Captum LayerIntegratedGradients; Sundararajan et al. 2017)",
        "output": output,
        "baseline": f"the same positions with every token but the special ones replaced by {prepared.preprocessor.id_to_token(baseline_id(prepared.preprocessor))}",
        "n_steps": N_STEPS,
        "n_texts": len(explained),
        "max_abs_delta": max((item["delta"] for item in explained), default=0.0),
        "completeness_error": completeness_error([i["delta"] for i in explained], [i["output"] for i in explained], [i["baseline_output"] for i in explained]),
        "texts": explained,
        "global": global_tokens(explained),
        "source": "run",
    }
