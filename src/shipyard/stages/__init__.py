"""The pipeline's stages, registered in order (see :mod:`shipyard.stages.base`).

prepare (10) → train (20) → calibrate (30) → evaluate (40) → export (60) → compress (65) → explain (70) → attack (75) → report (90).

A new stage is one module here with a :class:`~shipyard.stages.base.Stage`
subclass decorated with :func:`~shipyard.stages.base.register_stage`, and one
import line below.
"""

from shipyard.stages import attack, calibrate, compress, evaluate, explain, export, prepare, report, train  # noqa: F401  (registration)
from shipyard.stages.base import RunContext, Stage, get_stage, register_stage, stages

__all__ = ["RunContext", "Stage", "get_stage", "register_stage", "stages"]
