"""Report stage: the self-contained ``report.html``, built from the run directory's files (section registry)."""

from __future__ import annotations

from shipyard.report import REPORT, build_report
from shipyard.rundir import process_identity
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
        record = ctx.run_dir.read_json("run.json")
        # the run this very process is finishing: its status turns complete right after this last stage
        me = process_identity()
        finishing = record.get("status") == "running" and record.get("pid") == me["pid"] and record.get("host") == me["host"]
        build_report(ctx.run_dir.path, finishing=finishing)
