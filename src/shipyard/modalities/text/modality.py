"""The text modality: a column of raw text read, checked, tokenized, trained on, exported, explained and perturbed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shipyard.data.prepared import PARTS, Prepared
from shipyard.errors import DataError
from shipyard.modalities.base import Modality, read_preparation, subsample_training, summary, write_preparation
from shipyard.modalities.sources import fingerprint, resolve_source
from shipyard.modalities.text import tokenizer as tok
from shipyard.modalities.text.reading import read_text_table
from shipyard.tasks import get_task

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from shipyard.recipe import Recipe
    from shipyard.stages.base import RunContext
    from shipyard.tasks import Task

SCORED_TRAINING_TEXTS = 512
"""Training texts whose outputs give the per-epoch training metric in ``history.json`` (a seeded sample when there are more)."""
class TextModality(Modality):
    """Text input (``model.type: transformer``): ``data.text`` names the column, the encoder's tokenizer turns it into ids."""

    name = "text"

    # --- data --------------------------------------------------------------------------

    def _frame(self, recipe: "Recipe") -> tuple[pd.DataFrame, str, int]:
        spec = recipe.data
        path = resolve_source(spec.source, recipe.base_dir)
        frame = read_text_table(path, spec.text, spec.target)
        sha256 = fingerprint(path)
        dropped = 0
        if recipe.prepare.drop_duplicates:
            keep = ~frame.duplicated(subset=[spec.text, spec.target])
            dropped = int((~keep).sum())
            frame = frame.loc[keep].reset_index(drop=True)
        return frame, sha256, dropped

    def _tokenizer(self, recipe: "Recipe") -> Any:
        from shipyard.models.transformer import encoder_config, encoder_path

        encoder_config(recipe.model)  # model.layers and model.freeze_layers against the encoder's layers, before any run folder

        return tok.load_tokenizer(encoder_path(recipe.model.encoder), recipe.model.max_length)

    def load_and_split(self, recipe: "Recipe") -> Prepared:
        from shipyard.data.profile import check_findings
        from shipyard.data.split import stratified_split
        from shipyard.modalities.text.checks import near_duplicate_key, row_split_leak, text_profile

        _resolve_encoder(recipe)
        task, spec = get_task(recipe.task), recipe.data
        frame, sha256, dropped = self._frame(recipe)
        target = task.read_target(frame[spec.target], recipe)
        texts = frame[spec.text]
        if not texts.str.strip().astype(bool).any():
            raise DataError(f"{spec.source}: column '{spec.text}' (data.text): every text is empty or whitespace-only", "name the column that holds the texts")
        keys = np.array([near_duplicate_key(t) for t in texts], dtype=object)
        groups = pd.factorize(keys)[0]
        strata = task.strata(target.y)
        split = stratified_split(pd.Series(strata), spec.split.validation, spec.split.test, recipe.seed, spec.target, groups=groups)
        split = subsample_training(split, target.y, spec.split.train_fraction, recipe.seed)
        tokenizer = self._tokenizer(recipe)
        parts = {part: getattr(split, part) for part in PARTS}
        profile = text_profile(
            texts, spec.text, spec.target, target.y, parts, tok.token_counts(tokenizer, texts.tolist()), recipe.model.max_length, task,
            target.labels, target.positive_index, dropped, row_split_leak(keys, strata, spec.split.validation, spec.split.test, recipe.seed),
        )
        profile["split"] = split.sizes()
        check_findings(profile, recipe.prepare.fail_on, spec.source)
        return Prepared(
            frame, [spec.text], [], target.labels, target.positive_index, split, target.y,
            task=task.name, preprocessor=tokenizer, profile=profile, data_sha256=sha256,
        )

    def fit(self, recipe: "Recipe", prepared: Prepared) -> None:
        # Nothing is fitted: the vocabulary is the encoder's. Tokenize every part.
        tokenizer = prepared.preprocessor if prepared.preprocessor is not None else self._tokenizer(recipe)
        prepared.preprocessor = tokenizer
        texts = prepared.frame[recipe.data.text].tolist()
        ids, lengths = tok.encode(tokenizer, texts)
        for part in PARTS:
            rows = getattr(prepared.split, part)
            prepared.X[part] = ids[rows, : max(1, int(lengths[rows].max(initial=1)))]
        prepared.X_fit, prepared.y_fit = prepared.X["train"], prepared.y[prepared.split.train]
        counts = tok.token_counts(tokenizer, [texts[i] for i in prepared.split.train])
        prepared.steps = {
            "input": "text",
            "text_column": recipe.data.text,
            "encoder": recipe.model.encoder,
            "tokenizer": tok.tokenizer_info(tokenizer),
            "train_truncated_fraction": float((counts > recipe.model.max_length).mean()) if len(counts) else 0.0,
            "train_fraction": recipe.data.split.train_fraction,
        }

    def save(self, run_path: str | Path, recipe: "Recipe", prepared: Prepared) -> Path:
        return write_preparation(run_path, recipe, prepared, "text", {tok.TOKENIZER: prepared.preprocessor.to_str()})

    def load(self, run_path: str | Path, recipe: "Recipe") -> Prepared:
        frame, sha256, _ = self._frame(recipe)
        folder, info, split = read_preparation(run_path, recipe, sha256, (tok.TOKENIZER,))
        task = get_task(info["task"])
        target = task.read_target(frame[recipe.data.target], recipe)
        tokenizer = tok.tokenizer_from_str((folder / tok.TOKENIZER).read_text(encoding="utf-8"))
        prepared = Prepared(
            frame, list(info["features"]), [], target.labels, target.positive_index, split, target.y,
            task=task.name, preprocessor=tokenizer, data_sha256=sha256,
        )
        self.fit(recipe, prepared)  # tokenizing with the saved tokenizer: nothing is fitted
        prepared.steps = dict(info.get("steps", prepared.steps))
        return prepared

    def summary(self, recipe: "Recipe", prepared: Prepared) -> dict[str, Any]:
        empty = int((prepared.frame[recipe.data.text] == "").sum())
        return summary(recipe, prepared, "text", {"name": recipe.data.text, "kind": "text", "missing": empty}, prepared.X["train"].shape[1])

    # --- training ------------------------------------------------------------------------

    def build_network(self, recipe: "Recipe", prepared: Prepared, pretrained: bool = True) -> "nn.Module":
        import torch

        from shipyard.models.registry import build_model

        torch.manual_seed(recipe.seed)
        network = build_model(recipe.model, prepared.n_features, get_task(recipe.task).n_outputs(prepared))
        if pretrained and recipe.model.pretrained:
            network.load_pretrained()
        return network

    def datasets(self, recipe: "Recipe", prepared: Prepared, y_fit: np.ndarray, y_val: np.ndarray, extras: tuple[tuple, tuple] = ((), ())) -> tuple[Any, Any, Any]:
        from shipyard.modalities.text.dataset import TextDataset

        pad = tok.pad_id(prepared.preprocessor)
        fit_extras, val_extras = extras
        score = None
        if len(y_fit) > SCORED_TRAINING_TEXTS:  # the per-epoch training metric: a seeded sample, not a second pass over every text
            rows = np.sort(np.random.default_rng(recipe.seed).choice(len(y_fit), SCORED_TRAINING_TEXTS, replace=False))
            score = TextDataset(prepared.X_fit[rows], y_fit[rows], pad)
        return TextDataset(prepared.X_fit, y_fit, pad, fit_extras), TextDataset(prepared.X["validation"], y_val, pad, val_extras), score

    def check_compress(self, recipe: "Recipe", spec: Any) -> None:
        """Text networks: every format and student is tried; one this input cannot make is reported as skipped with the reason."""

    def compression(self, ctx: "RunContext") -> Any:
        from shipyard.modalities.text.compress import TextVariants

        return TextVariants(ctx)

    # --- evaluation, export, explanations, perturbations -------------------------------------------

    def baselines(self, recipe: "Recipe", task: "Task", prepared: Prepared) -> dict[str, np.ndarray]:
        from shipyard.modalities.text.baselines import tfidf_baselines

        texts = prepared.frame[recipe.data.text].to_numpy(dtype=object)
        split = prepared.split
        train = split.train
        return tfidf_baselines(
            texts[train], prepared.y[train], texts[split.validation], prepared.y[split.validation], texts[split.test], len(prepared.labels), recipe.seed
        )

    def export(self, recipe: "Recipe", prepared: Prepared, network: "nn.Module", metrics: dict[str, Any], bundle: Path) -> dict[str, Any]:
        from shipyard.modalities.text.export import export_text

        return export_text(recipe, prepared, network, metrics, bundle)

    def explain(self, ctx: "RunContext") -> dict[str, Any]:
        from shipyard.modalities.text.explain import explain_texts

        return explain_texts(ctx)

    def attack(self, ctx: "RunContext") -> dict[str, Any]:
        from shipyard.modalities.text.perturb import perturbation_curves

        return perturbation_curves(ctx)


def _resolve_encoder(recipe: "Recipe") -> None:
    """Make a folder named by ``model.encoder`` absolute (relative to the recipe's folder), so the run's recipe and checkpoint find it from anywhere.

    Raises
    ------
    RecipeError
        If it is not a model folder.
    """
    from shipyard.models.specs import DEFAULT_ENCODER
    from shipyard.models.transformer import encoder_path

    spec = recipe.model
    if spec.encoder != DEFAULT_ENCODER and not Path(spec.encoder).is_absolute():
        spec.encoder = str((Path(recipe.base_dir) / spec.encoder).resolve())
    encoder_path(spec.encoder)
