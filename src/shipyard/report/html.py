"""Render a run's ``report.html``: one self-contained page (jinja2), figures embedded as base64 PNG."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from shipyard import __version__
from shipyard.errors import ShipyardError
from shipyard.report.sections import ReportContext, Section, registered_sections
from shipyard.report.template import TEMPLATE

REPORT = "report.html"
SECTION_MODULES = ("shipyard.report.findings", "shipyard.report.builtin", "shipyard.report.compression", "shipyard.report.robustness", "shipyard.modalities.report")
"""Modules whose import registers report sections; a stage with its own section adds its module here."""


def build_sections(path: Path) -> list[Section]:
    """Run every registered section builder over a run directory.

    Returns
    -------
    list of Section
        The non-empty sections, in page order, with ``id`` and ``title`` set.
        A builder that fails becomes a section marked as failed, with the
        error (the rest of the report is still useful, and the page says what
        is missing); a builder returning None is left out.
    """
    import importlib

    for module in SECTION_MODULES:  # registers the sections
        importlib.import_module(module)

    ctx = ReportContext(path)
    sections = []
    for sid, title, builder in registered_sections():
        try:
            section = builder(ctx)
        except Exception as exc:  # noqa: BLE001  a broken section must not hide the others
            section = Section(failed=f"This section could not be built: {type(exc).__name__}: {exc}")
        if section is None or section.is_empty():
            continue
        section.id, section.title = sid, section.title or title
        sections.append(section)
    return sections


def run_status_note(record: dict) -> str:
    """The banner of a run that is not complete ('' for a complete one): what its status is and why."""
    status = record.get("status")
    if status == "complete":
        return ""
    if status == "running":
        return "This run is still running: the sections show only what it has written so far."
    why = record.get("error") or "no reason recorded"
    kind = "was killed" if record.get("killed") else "failed"
    return f"This run is incomplete: it {kind} ({why}). The sections show only what it wrote before; it never became 'latest'."


def build_report(run_path: str | Path, finishing: bool = False) -> Path:
    """Write ``report.html`` into a run directory.

    Parameters
    ----------
    run_path : str or Path
        A run directory (``runs/NAME/<timestamp>``, ``runs/NAME/latest`` or ``runs/NAME``).
    finishing : bool
        The report is the last stage of the run that owns the directory: its
        ``running`` status is about to become ``complete``, so no banner.

    Returns
    -------
    Path
        The report file. It references nothing outside itself: no scripts,
        stylesheets, fonts or images are loaded from files or the network.

    Raises
    ------
    ShipyardError
        If ``run_path`` is not a run directory.
    """
    from shipyard.rundir import resolve_run

    run = resolve_run(run_path)
    record = run.read_json("run.json")
    sections = build_sections(run.path)
    if not sections:
        raise ShipyardError(f"{run.path}: nothing to report (no metrics.json, history.json or data_summary.json)", "run the recipe to completion first")
    ctx = ReportContext(run.path)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(TEMPLATE).render(
        name=ctx.recipe.get("name", run.path.parent.name),
        run=run.path.name,
        status=run_status_note({**record, "status": "complete"} if finishing and record.get("status") == "running" else record),
        task=ctx.task.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        version=__version__,
        sections=sections,
    )
    target = run.path / REPORT
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target
