"""The Markdown tables the reports write, drawn one way (beside ``html_table``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    fitted_rule: bool = False,
) -> list[str]:
    """Return the lines of a pipe table.

    Args:
        headers: The column names. Markdown needs a header row: a label/value table passes
            empty names, drawn as a blank row (``| | |``).
        rows: The cells of each row, as text: a ``|`` in a cell is escaped, a line break
            becomes ``<br>``, so a cell cannot break the table.
        fitted_rule: Draw each column's rule as wide as its header cell (``|-------|``);
            otherwise every rule is ``---``.

    Returns:
        The header line, the rule and one line per row, without line endings.
    """
    header = "|" + "|".join(f" {name} " if name else " " for name in headers) + "|"
    rule = "|" + "|".join("-" * (len(name) + 2) if fitted_rule else "---" for name in headers) + "|"
    return [header, rule, *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")
