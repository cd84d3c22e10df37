"""Where an event sits on a topic: its partition and offset, as reports show and store it."""

from __future__ import annotations

Position = tuple[int, int]


def position_text(position: Position | None, *, missing: str = "none") -> str:
    """Return ``partition/offset`` (``1/7``), or ``missing`` when there is no position."""
    return missing if position is None else f"{position[0]}/{position[1]}"


def position_json(position: Position | None) -> dict[str, int] | None:
    """Return ``{"partition": ..., "offset": ...}``, or None when there is no position."""
    return None if position is None else {"partition": position[0], "offset": position[1]}
