"""Robot Framework keywords that put dual write and the outbox side by side."""

from __future__ import annotations

from pathlib import Path

from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from evidence.comparison_report import Comparison, html_report, json_report, markdown_report
from evidence.report_files import write_report


@library(scope="GLOBAL", version="1.0")
class DualWriteComparison:
    """Collect each scenario's verdict and evidence per mode; write the side-by-side table.

    %TOC%

    = Importing =

    The library takes no arguments: ``Library    libraries/DualWriteComparison.py``, in the
    top suite and in every scenario suite; they all share one instance (GLOBAL scope).

    = Verdicts =

    Every scenario suite records its result with `Record Scenario Result` in its teardown.
    The verdict becomes suite metadata twice: ``Verdict`` on the scenario suite, and
    ``Verdict (<scenario>, <mode>)`` on the top suite, so ``report.html`` shows every
    verdict in its summary.

    = Report =

    The top suite's teardown calls `Write Dual Write Vs Outbox Report`, which writes
    ``dual-write-vs-outbox.md`` and the same facts as ``dual-write-vs-outbox.json`` beside
    ``log.html`` and logs the table as HTML. A cell nobody recorded says ``NOT RUN``.

    = Example =

    | `Record Scenario Result` | phantom event | dual-write | ${verdict} | ${evidence} |
    | `Write Dual Write Vs Outbox Report` |
    """

    def __init__(self) -> None:
        """The library takes no arguments; one instance serves the whole run (GLOBAL scope).

        Import it with ``Library    libraries/DualWriteComparison.py`` wherever a suite
        records its result or the table is written.
        """
        self._comparison = Comparison()

    @keyword("Record Scenario Result")
    def record_scenario_result(self, scenario: str, mode: str, verdict: str, evidence: str) -> None:
        """Record the verdict and the measured evidence of one scenario in one mode.

        ``scenario`` is ``phantom event`` or ``lost event``, ``mode`` is ``dual-write`` or
        ``outbox``. The verdict is also set as suite metadata, on the current suite
        (``Verdict``) and on the top suite (``Verdict (<scenario>, <mode>)``).

        Example:
        | `Record Scenario Result` | lost event | outbox | NO LOST EVENT | 3 orders delivered |
        """
        self._comparison.record(scenario, mode, verdict, evidence)
        logger.info(f"{scenario} / {mode}: {verdict} — {evidence}")
        builtin = BuiltIn()
        builtin.set_suite_metadata("Verdict", verdict)
        builtin.set_suite_metadata(f"Verdict ({scenario}, {mode})", verdict, top=True)

    @keyword("Write Dual Write Vs Outbox Report", tags=["evidence"])
    def write_dual_write_vs_outbox_report(self) -> str:
        """Write ``dual-write-vs-outbox.md`` (and ``.json``) beside ``log.html``; return its path.

        Also logs the table as HTML.

        Example:
        | `Write Dual Write Vs Outbox Report` |
        """
        output_dir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}"))
        path, _ = write_report(
            output_dir,
            "dual-write-vs-outbox.md",
            markdown_report(self._comparison),
            json_report(self._comparison),
        )
        logger.info(html_report(self._comparison), html=True)
        return str(path)
