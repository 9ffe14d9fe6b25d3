"""The report's one extension point: sections registered by name and order.

A section is a function that reads a run (through :class:`ReportContext`) and
returns a :class:`Section` of paragraphs, tables and figures, or ``None`` when
the run holds nothing for it (e.g. the attack stage did not run). A stage adds
its own section with the decorator, in a module listed in
``shipyard.report.html.SECTION_MODULES`` (as ``shipyard.report.robustness``
does for the attack stage)::

    from shipyard.report import Section, register_section

    @register_section("compression", "Compression", order=88)
    def compression_section(ctx):
        if not ctx.has("compress.json"):
            return None
        result = ctx.json("compress.json")
        return Section(paragraphs=[f"int8 model: {result['bytes'] / 1e6:.1f} MB"])
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any


@dataclass
class Table:
    """A table of text cells: ``header`` (n_columns) and ``rows`` (n_rows lists of n_columns)."""

    header: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Figure:
    """A PNG image embedded in the page as a base64 ``data:`` URI.

    Use :meth:`from_matplotlib` to make one from a matplotlib figure.
    """

    png: bytes
    caption: str = ""

    @classmethod
    def from_matplotlib(cls, fig: Any, caption: str = "", dpi: int = 100) -> "Figure":
        """Render and close a matplotlib figure."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return cls(buffer.getvalue(), caption)

    @property
    def data_uri(self) -> str:
        """``data:image/png;base64,...``: no file, no network."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    """What a section builder returns; ``title``/``id`` default to the registered ones.

    Attributes
    ----------
    paragraphs : list of str
        Plain text (escaped in the page).
    findings : list of str
        Plain-language findings, shown highlighted.
    tables : list of Table
    figures : list of Figure
    preformatted : list of str
        Monospaced text blocks (e.g. rules of a surrogate tree).
    failed : str
        Set (to the error) when the section's builder raised: the page marks
        the section as failed, and the report test fails on it.
    """

    paragraphs: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    preformatted: list[str] = field(default_factory=list)
    title: str = ""
    id: str = ""
    failed: str = ""

    def is_empty(self) -> bool:
        """True when the section has nothing to show."""
        return not (self.paragraphs or self.findings or self.tables or self.figures or self.preformatted or self.failed)


class ReportContext:
    """Read-only access to one run directory for section builders.

    Parameters
    ----------
    path : Path
        The run directory.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def has(self, name: str) -> bool:
        """True if the run holds the file ``name``."""
        return (self.path / name).is_file()

    def json(self, name: str) -> Any:
        """Parse a JSON file of the run."""
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json`` (empty if absent)."""
        return self.json("metrics.json") if self.has("metrics.json") else {}

    @cached_property
    def recipe(self) -> dict[str, Any]:
        """The resolved ``recipe.yaml``."""
        import yaml

        return yaml.safe_load((self.path / "recipe.yaml").read_text(encoding="utf-8")) if self.has("recipe.yaml") else {}

    @property
    def task(self) -> Any:
        """The run's :class:`~shipyard.tasks.base.Task` (e.g. ``ctx.task.has_classes`` for class-probability sections)."""
        from shipyard.tasks import get_task

        return get_task(self.recipe.get("task", "classification"))

    @cached_property
    def predictions(self) -> Any:
        """``predictions.csv`` as a DataFrame, or None."""
        import pandas as pd

        return pd.read_csv(self.path / "predictions.csv") if self.has("predictions.csv") else None


Builder = Callable[[ReportContext], "Section | None"]


@dataclass
class _Entry:
    id: str
    title: str
    order: int
    builder: Builder


_REGISTRY: dict[str, _Entry] = {}


def register_section(id: str, title: str, order: int = 100) -> Callable[[Builder], Builder]:
    """Register a section builder; sections appear sorted by ``order``, then ``id``.

    Parameters
    ----------
    id : str
        Unique HTML id of the section; registering the same id again replaces it.
    title : str
        Heading shown in the page and its table of contents.
    order : int
        Built-in sections use 10-60 (data, training, metrics, leaderboard,
        curves, calibration), 80 (explanations), 85 and 87 (robustness, privacy).

    Returns
    -------
    callable
        The decorator; it returns the builder unchanged.
    """

    def decorate(builder: Builder) -> Builder:
        _REGISTRY[id] = _Entry(id, title, order, builder)
        return builder

    return decorate


def registered_sections() -> list[tuple[str, str, Builder]]:
    """``(id, title, builder)`` of every registered section, in page order."""
    return [(e.id, e.title, e.builder) for e in sorted(_REGISTRY.values(), key=lambda e: (e.order, e.id))]
