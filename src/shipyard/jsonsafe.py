"""JSON that can always be written: NaN and infinities become null (JSON has no token for them).

Used by the run directory's files and by the server's error responses.
"""

from __future__ import annotations

import math
from typing import Any


def finite(data: Any) -> Any:
    """A copy of ``data`` (dicts, lists, tuples, scalars) with every non-finite float replaced by None."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data
