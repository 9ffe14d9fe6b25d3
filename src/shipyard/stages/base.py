"""The stage seam: one :class:`Stage` shape, an ordered registry, and the :class:`RunContext` stages share.

A stage names the recipe section it reads, checks the recipe and the data
before the run directory exists (:meth:`Stage.check`), does its work on a
:class:`RunContext` (:meth:`Stage.run`) and lists the run files it writes
(:attr:`Stage.writes`). :func:`register_stage` keeps stages ordered by
``order``, as report sections are; :mod:`shipyard.pipeline` walks them. A
stage with ``rerunnable = True`` can run again alone on a finished run
(``shipyard explain RUN``, ``shipyard report RUN``) through
:meth:`RunContext.from_run`, which rebuilds the data and the network from the
run's files without refitting anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console

from shipyard.data.prepared import Prepared
from shipyard.recipe import Recipe
from shipyard.rundir import RunDir
from shipyard.tasks import Task, get_task
from shipyard.tracking import Tracker

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from shipyard.training.trainer import TrainResult

METRICS = "metrics.json"


@dataclass
class RunContext:
    """What the stages of one run share in memory; files in ``run_dir`` are the record.

    Attributes
    ----------
    recipe : Recipe
    data : Prepared
        Loaded and split; preprocessing fitted once the prepare stage ran.
    run_dir : RunDir
    tracker : Tracker
        MLflow logging (a no-op when tracking is off).
    console : rich.console.Console
        Where stage messages go.
    progress : bool
        Show progress bars.
    network : nn.Module or None
        The finished network (set by the train stage, wrapped by calibration).
    training : TrainResult or None
    metrics : dict
        The content of ``metrics.json``; :meth:`write_metrics` saves it.
    resume : bool
        True when continuing an interrupted run (``shipyard run --resume``).
    extras : dict
        Values one stage leaves for a later one (e.g. calibration's temperature).
    """

    recipe: Recipe
    data: Prepared
    run_dir: RunDir
    tracker: Tracker = field(default_factory=lambda: Tracker(enabled=False))
    console: Console = field(default_factory=lambda: Console(stderr=True, quiet=True))
    progress: bool = False
    network: "nn.Module | None" = None
    training: "TrainResult | None" = None
    metrics: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> Task:
        """The recipe's task."""
        return get_task(self.recipe.task)

    def write_metrics(self) -> Path:
        """Write ``metrics`` to ``metrics.json`` (atomically)."""
        return self.run_dir.write_json(METRICS, self.metrics)

    @classmethod
    def from_run(cls, run: RunDir, console: Console | None = None) -> "RunContext":
        """Rebuild a finished run's context from its files: recipe, data (no refitting), network and metrics.

        Raises
        ------
        ShipyardError
            If the run has no checkpoint or saved preparation, or its data changed since.
        """
        import yaml

        from shipyard.data.preparation import load_prepared
        from shipyard.recipe import recipe_from_dict
        from shipyard.training.checkpoint import load_checkpoint

        raw = run.path / "recipe.yaml"
        record = run.read_json("run.json")
        base_dir = Path(record.get("recipe_dir") or Path.cwd())
        recipe = recipe_from_dict(yaml.safe_load(raw.read_text(encoding="utf-8")), source=str(raw), base_dir=base_dir)
        checkpoint = load_checkpoint(run.path)
        data = load_prepared(run.path, recipe)
        metrics = run.read_json(METRICS) if (run.path / METRICS).is_file() else {}
        return cls(recipe, data, run, console=console or Console(stderr=True, quiet=True), network=checkpoint.network, metrics=metrics)


class Stage:
    """One step of the pipeline.

    Class attributes
    ----------------
    name : str
        Stage name (and CLI verb when ``rerunnable``).
    section : str or None
        The recipe section it reads.
    order : int
        Position in the pipeline (prepare 10, train 20, calibrate 30,
        evaluate 40, export 60, compress 65, explain 70, attack 75, report 90).
    writes : tuple of str
        Run-directory files (or folders) it writes; tracking logs the files.
    rerunnable : bool
        Whether ``shipyard <name> RUN`` re-runs it alone on a finished run.
    message : str
        What the pipeline prints when the stage starts ('' for nothing); a
        stage whose work depends on the recipe says so in :meth:`describe`.
    """

    name: ClassVar[str]
    section: ClassVar[str | None] = None
    order: ClassVar[int] = 100
    writes: ClassVar[tuple[str, ...]] = ()
    rerunnable: ClassVar[bool] = False
    message: ClassVar[str] = ""

    def enabled(self, recipe: Recipe) -> bool:
        """Whether the recipe asks for this stage (default: always)."""
        return True

    def describe(self, recipe: Recipe) -> str:
        """What the pipeline prints when the stage starts for this recipe (default: ``message``)."""
        return self.message

    def check(self, recipe: Recipe, data: Prepared) -> None:
        """Raise a ShipyardError for any problem the user's input causes, before a run directory exists."""

    def run(self, ctx: RunContext) -> None:
        """Do the stage's work and write its files into ``ctx.run_dir``."""
        raise NotImplementedError


_STAGES: dict[str, Stage] = {}


def register_stage(cls: type[Stage]) -> type[Stage]:
    """Class decorator: add a stage to the registry (registering a name again replaces it)."""
    _STAGES[cls.name] = cls()
    return cls


def stages() -> list[Stage]:
    """Every registered stage, in pipeline order."""
    import shipyard.stages  # noqa: F401  (registers the built-in stages)

    return sorted(_STAGES.values(), key=lambda s: (s.order, s.name))


def get_stage(name: str) -> Stage:
    """The registered stage called ``name``.

    Raises
    ------
    KeyError
        If there is none.
    """
    import shipyard.stages  # noqa: F401

    return _STAGES[name]
