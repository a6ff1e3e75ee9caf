"""Where the integration tests leave the figures a run is read by: $FLOWSCOPE_RESULTS (made
when missing), else /tmp."""

from __future__ import annotations

import os
from pathlib import Path


def results_dir() -> Path:
    out = Path(os.environ.get("FLOWSCOPE_RESULTS", "/tmp"))
    out.mkdir(parents=True, exist_ok=True)
    return out
