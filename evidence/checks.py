"""A check of a report: what was expected, what was measured, and whether it held.

A check whose measurement was never made did not run: it reads NOT CHECKED, never PASS,
so a report cannot show a check as passed (or a value as absent) that nobody looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

PASS = "PASS"
FAIL = "FAIL"
NOT_CHECKED = "NOT CHECKED"


@dataclass(frozen=True)
class Check:
    """One row of a report's results table.

    Attributes:
        name: What is checked, as the report and the suite name it.
        expected: The expected value, as shown.
        actual: The measured value, as shown.
        passed: True or False once judged; None when the check did not run.
        note: An explanation shown under the table (empty for none).
    """

    name: str
    expected: str
    actual: str
    passed: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        """Return PASS, FAIL or NOT CHECKED."""
        if self.passed is None:
            return NOT_CHECKED
        return PASS if self.passed else FAIL

    def as_json(self) -> dict[str, str]:
        """Return the check as the reports' JSON writes it."""
        return {
            "name": str(self.name),
            "expected": self.expected,
            "actual": self.actual,
            "status": self.status,
            "note": self.note,
        }


def judged(failed: bool, unmeasured: bool) -> bool | None:
    """Return a check's outcome: False if it failed, else None if unmeasured, else True.

    A definite failure wins over a missing measurement: one phantom order found in the
    database fails the check even while another was not looked up.
    """
    if failed:
        return False
    return None if unmeasured else True


def shown(value: object) -> str:
    """Return a measured value as reports show it: ``not measured`` for None."""
    return "not measured" if value is None else str(value)
