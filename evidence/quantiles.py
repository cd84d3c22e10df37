"""The one percentile of the project: nearest rank, as wrk reports its own (bench, campaign)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """Return the ``percent`` percentile of ``ordered`` by nearest rank.

    Args:
        ordered: The values, sorted ascending; at least one.
        percent: 0 to 100.

    Returns:
        The smallest value with at least ``percent`` % of the values at or below it.
    """
    rank = math.ceil(percent / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]
