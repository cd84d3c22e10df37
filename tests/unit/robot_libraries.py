"""Load the suite's keyword libraries the way Robot does: by file, from resources/libraries/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

LIBRARIES = Path(__file__).parents[2] / "resources" / "libraries"


def load_library(name: str) -> type:
    """Return the keyword library class ``name`` of ``resources/libraries/``."""
    spec = importlib.util.spec_from_file_location(name, LIBRARIES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def topic_event(
    order_id: str, offset: int, timestamp: str = "2026-11-24T00:00:00.000+00:00"
) -> dict:
    """Return an event as ``Read Events Since Baseline`` hands it out, on partition 0."""
    return {
        "partition": 0,
        "offset": offset,
        "key": order_id,
        "value": {"orderId": order_id},
        "timestamp": timestamp,
    }
