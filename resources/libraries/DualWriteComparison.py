"""Robot Framework keywords that put dual write and the outbox side by side."""

from __future__ import annotations

from html import escape
from pathlib import Path

from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from evidence.html_table import html_table

SCENARIOS = ("phantom event", "lost event")
MODES = ("dual write", "outbox")


@library(scope="GLOBAL", version="1.0")
class DualWriteComparison:
    """Collect each scenario's verdict and evidence per mode; write the side-by-side table.

    Every suite records its result with `Record Scenario Result`; the top suite's teardown
    calls `Write Dual Write Vs Outbox Report`, which writes ``dual-write-vs-outbox.md``
    beside ``log.html`` and logs the same table as HTML. A cell nobody recorded says so.

    = Example =

    | Record Scenario Result    phantom event    dual write    ${verdict}    ${evidence}
    | Write Dual Write Vs Outbox Report
    """

    def __init__(self) -> None:
        self._cells: dict[tuple[str, str], tuple[str, str]] = {}

    @keyword("Record Scenario Result")
    def record_scenario_result(self, scenario: str, mode: str, verdict: str, evidence: str) -> None:
        """Record the verdict and the measured evidence of one scenario in one mode."""
        if scenario not in SCENARIOS or mode not in MODES:
            raise ValueError(f"scenario must be one of {SCENARIOS}, mode one of {MODES}")
        self._cells[(scenario, mode)] = (verdict, evidence)
        logger.info(f"{scenario} / {mode}: {verdict} — {evidence}")

    @keyword("Write Dual Write Vs Outbox Report", tags=["evidence"])
    def write_dual_write_vs_outbox_report(self) -> str:
        """Write ``dual-write-vs-outbox.md`` beside ``log.html`` and log it; return its path."""
        output_dir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}"))
        path = output_dir / "dual-write-vs-outbox.md"
        path.write_text(self._markdown(), encoding="utf-8")
        logger.info(self._html(), html=True)
        return str(path)

    def _cell(self, scenario: str, mode: str) -> tuple[str, str]:
        return self._cells.get((scenario, mode), ("NOT RUN", "this suite did not run"))

    def _markdown(self) -> str:
        lines = [
            "## Dual write vs Transactional Outbox",
            "",
            "Each cell: the verdict, then the evidence measured in this run.",
            "",
            "| scenario | " + " | ".join(MODES) + " |",
            "|---|" + "---|" * len(MODES),
        ]
        for scenario in SCENARIOS:
            cells = [self._cell(scenario, mode) for mode in MODES]
            lines.append(
                f"| {scenario} | "
                + " | ".join(f"**{v}**<br>{e.replace('|', '/')}" for v, e in cells)
                + " |"
            )
        return "\n".join([*lines, ""])

    def _html(self) -> str:
        rows = []
        for scenario in SCENARIOS:
            row = [escape(scenario)]
            for mode in MODES:
                verdict, evidence = self._cell(scenario, mode)
                colour = "#cf222e" if verdict.startswith(("UNEXPECTED", "NOT RUN")) else "#1a7f37"
                row.append(f"<b style='color:{colour}'>{escape(verdict)}</b><br>{escape(evidence)}")
            rows.append(row)
        return html_table(
            "Dual write vs Transactional Outbox",
            ["", *MODES],
            rows,
            label_column=True,
            cellpadding=6,
        )
