"""Report stage: the self-contained ``report.html``, built from the run directory's files (section registry)."""

from __future__ import annotations

from shipyard.report import REPORT, build_report
from shipyard.stages.base import RunContext, Stage, register_stage


@register_stage
class ReportStage(Stage):
    """Render every registered report section over the run's files."""

    name = "report"
    section = None
    order = 90
    writes = (REPORT,)
    rerunnable = True
    message = "writing report.html"

    def run(self, ctx: RunContext) -> None:
        build_report(ctx.run_dir.path)
