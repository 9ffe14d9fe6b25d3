"""Prepare stage: profile the data, fit preprocessing on the training split, save it with the split.

The loading, checks, split and fitting are :mod:`shipyard.data.preparation`;
this stage runs them inside a run and writes ``data_profile.json``,
``data_summary.json`` and ``preparation/`` (the fitted preprocessor and the split).
"""

from __future__ import annotations

from shipyard.data.preparation import (
    PREPARATION,
    data_summary,
    fit_preprocessing,
    load_and_split,
    load_prepared,
    save_preparation,
)
from shipyard.data.prepared import Prepared
from shipyard.data.profile import profile_tables
from shipyard.stages.base import RunContext, Stage, register_stage

__all__ = ["PrepareStage", "Prepared", "data_summary", "fit_preprocessing", "load_and_split"]


@register_stage
class PrepareStage(Stage):
    """Profile, fit preprocessing on the training rows, and save it (or load it back when resuming)."""

    name = "prepare"
    section = "prepare"
    order = 10
    writes = ("data_profile.json", "data_summary.json", PREPARATION)

    def run(self, ctx: RunContext) -> None:
        data = ctx.data
        if data.profile is not None:
            ctx.run_dir.write_json("data_profile.json", data.profile)
            for table in profile_tables(data.profile):
                ctx.console.print(table)
        if ctx.resume and (ctx.run_dir.path / PREPARATION).is_dir():
            ctx.data = load_prepared(ctx.run_dir.path, ctx.recipe)  # the run's own preprocessing, not a refit
            ctx.data.profile = data.profile
        else:
            fit_preprocessing(ctx.recipe, data)
            save_preparation(ctx.run_dir.path, ctx.recipe, data)
        ctx.run_dir.write_json("data_summary.json", data_summary(ctx.recipe, ctx.data))
