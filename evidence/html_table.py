"""The HTML tables the reports log into ``log.html``, drawn one way."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from evidence.checks import FAIL, NOT_CHECKED, PASS

GREEN = "#1a7f37"
RED = "#cf222e"
GREY = "#57606a"
_STATUS_COLOURS = {PASS: GREEN, FAIL: RED, NOT_CHECKED: GREY}


def html_table(
    title: str,
    headers: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    *,
    label_column: bool = False,
    cellpadding: int = 4,
) -> str:
    """Return a titled, bordered table.

    Args:
        title: The heading above the table (plain text).
        headers: The column names (plain text), or None for a table without a header row.
        rows: The cells of each row, as HTML: the caller escapes what it puts in them.
        label_column: Draw the first cell of each row as a left-aligned row header.
        cellpadding: The cells' padding, in pixels.
    """
    head = "".join(f"<th>{escape(h)}</th>" for h in headers) if headers is not None else ""
    body = "".join(f"<tr>{_cells(row, label_column)}</tr>" for row in rows)
    return (
        f"<h3>{escape(title)}</h3>"
        f"<table border='1' cellpadding='{cellpadding}' style='border-collapse:collapse'>"
        + (f"<tr>{head}</tr>" if head else "")
        + f"{body}</table>"
    )


def _cells(row: Sequence[str], label_column: bool) -> str:
    if label_column and row:
        first, *rest = row
        return f"<th style='text-align:left'>{first}</th>" + "".join(f"<td>{c}</td>" for c in rest)
    return "".join(f"<td>{c}</td>" for c in row)


def status_html(status: str) -> str:
    """Return a check's status in bold: PASS green, FAIL red, NOT CHECKED grey."""
    return f"<b style='color:{_STATUS_COLOURS.get(status, RED)}'>{escape(status)}</b>"
