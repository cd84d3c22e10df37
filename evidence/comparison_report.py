"""Dual write and the Transactional Outbox side by side: each scenario's verdict per mode.

One ``Comparison`` holds what the suites recorded; the Markdown, JSON and HTML renderers
read it. A cell nobody recorded says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from evidence.html_table import GREEN, RED, html_table
from evidence.markdown_table import markdown_table

SCENARIOS = ("phantom event", "lost event")
# The keys are the service's mode names (its chaos report's ``mode``); the labels head
# the columns people read.
MODES = ("dual-write", "outbox")
MODE_LABELS = {"dual-write": "dual write", "outbox": "outbox"}
NOT_RUN = "NOT RUN"
_NOT_RUN_EVIDENCE = "this suite did not run"
TITLE = "Dual write vs Transactional Outbox"


@dataclass(frozen=True)
class Result:
    """One scenario in one mode: its verdict and the evidence measured for it."""

    scenario: str
    mode: str
    verdict: str
    evidence: str
    recorded: bool = True


@dataclass
class Comparison:
    """The verdicts the suites recorded, by scenario and mode."""

    _results: dict[tuple[str, str], Result] = field(default_factory=dict)

    def record(self, scenario: str, mode: str, verdict: str, evidence: str) -> Result:
        """Record one scenario's result in one mode; return it.

        Raises:
            ValueError: ``scenario`` or ``mode`` is not one of ``SCENARIOS`` / ``MODES``.
        """
        if scenario not in SCENARIOS or mode not in MODES:
            raise ValueError(f"scenario must be one of {SCENARIOS}, mode one of {MODES}")
        result = Result(scenario, mode, verdict, evidence)
        self._results[(scenario, mode)] = result
        return result

    def result(self, scenario: str, mode: str) -> Result:
        """Return the recorded result, or a NOT RUN one when nothing was recorded."""
        return self._results.get(
            (scenario, mode), Result(scenario, mode, NOT_RUN, _NOT_RUN_EVIDENCE, recorded=False)
        )


def markdown_report(comparison: Comparison) -> str:
    """Return ``dual-write-vs-outbox.md``: one row per scenario, one column per mode."""
    rows = [
        [
            scenario,
            *(
                f"**{r.verdict}**<br>{r.evidence}"
                for r in (comparison.result(scenario, mode) for mode in MODES)
            ),
        ]
        for scenario in SCENARIOS
    ]
    lines = [
        f"## {TITLE}",
        "",
        "Each cell: the verdict, then the evidence measured in this run.",
        "",
        *markdown_table(("scenario", *(MODE_LABELS[m] for m in MODES)), rows),
    ]
    return "\n".join([*lines, ""])


def json_report(comparison: Comparison) -> dict:
    """Return the same facts as data: every scenario and mode with its verdict and evidence."""
    return {
        "report": "dual write vs outbox",
        "results": [
            {
                "scenario": r.scenario,
                "mode": r.mode,
                "verdict": r.verdict,
                "evidence": r.evidence,
                "recorded": r.recorded,
            }
            for r in (comparison.result(s, m) for s in SCENARIOS for m in MODES)
        ],
    }


def html_report(comparison: Comparison) -> str:
    """Return the side-by-side table as HTML: expected verdicts green, the others red."""
    rows = []
    for scenario in SCENARIOS:
        row = [escape(scenario)]
        for mode in MODES:
            result = comparison.result(scenario, mode)
            colour = RED if result.verdict.startswith(("UNEXPECTED", NOT_RUN)) else GREEN
            row.append(
                f"<b style='color:{colour}'>{escape(result.verdict)}</b><br>"
                f"{escape(result.evidence)}"
            )
        rows.append(row)
    return html_table(
        TITLE, ["", *(MODE_LABELS[m] for m in MODES)], rows, label_column=True, cellpadding=6
    )
