"""The HTML report: one self-contained page per run, built from registered sections.

``build_report(run)`` writes ``report.html``; later stages add sections with
:func:`register_section` (see :mod:`shipyard.report.sections`).
"""

from shipyard.report.html import REPORT, build_report, build_sections
from shipyard.report.sections import (
    Figure,
    ReportContext,
    Section,
    Table,
    register_section,
)

__all__ = ["REPORT", "Figure", "ReportContext", "Section", "Table", "build_report", "build_sections", "register_section"]
