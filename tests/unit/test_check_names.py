"""Every check the suite names exists: ``Check Should Pass    <name>`` is linked by value."""

from __future__ import annotations

from pathlib import Path

import pytest
from robot.api import get_model, get_resource_model
from robot.api.parsing import KeywordCall, ModelVisitor
from robot.utils import normalize

from evidence.phantom_proof import CheckName

PROJECT = Path(__file__).parents[2]
CHECK_KEYWORD = normalize("Check Should Pass", ignore="_")


class _CheckCalls(ModelVisitor):
    """Collect ``(line, name)`` of every ``Check Should Pass`` call, also inside wrappers."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def visit_KeywordCall(self, node: KeywordCall) -> None:  # noqa: N802 (robot's visitor API)
        words = [node.keyword or "", *node.args]
        for index, word in enumerate(words[:-1]):
            # A library prefix (ChaosReport.Check Should Pass) names the same keyword.
            if normalize(word.rsplit(".", 1)[-1], ignore="_") == CHECK_KEYWORD:
                self.calls.append((node.lineno, words[index + 1]))


def check_names_used(path: Path) -> list[tuple[int, str]]:
    """Return the line and check name of every ``Check Should Pass`` call in ``path``."""
    parse = get_resource_model if path.suffix == ".resource" else get_model
    visitor = _CheckCalls()
    visitor.visit(parse(path))
    return visitor.calls


def unknown_check_names(paths: list[Path]) -> list[str]:
    """Return ``file:line: name`` for every check name that ``CheckName`` does not define."""
    known = {str(name) for name in CheckName}
    return [
        f"{path.relative_to(path.parents[1])}:{line}: {name!r}"
        for path in paths
        for line, name in check_names_used(path)
        if name not in known
    ]


def suite_files() -> list[Path]:
    return sorted(
        [*PROJECT.glob("resources/**/*.resource"), *PROJECT.glob("acceptance/**/*.robot")]
    )


def test_the_suite_has_robot_files_to_read():
    assert any(path.suffix == ".resource" for path in suite_files())
    assert any(path.suffix == ".robot" for path in suite_files())


def test_every_check_name_the_suite_uses_exists():
    assert unknown_check_names(suite_files()) == []


def test_the_suite_uses_check_names():
    used = {name for path in suite_files() for _, name in check_names_used(path)}

    assert str(CheckName.NO_ROWS) in used
    assert str(CheckName.REPORTED_POSITION) in used


@pytest.mark.parametrize("suffix", [".resource", ".robot"])
def test_a_misspelt_check_name_is_reported_with_its_place(tmp_path, suffix):
    section = "*** Keywords ***\nA Step" if suffix == ".resource" else "*** Test Cases ***\nA Test"
    path = tmp_path / "suite" / f"steps{suffix}"
    path.parent.mkdir()
    path.write_text(
        f"{section}\n"
        "    Check Should Pass    DB count unchanged\n"
        "    Check Should Pass    DB count unchnaged\n"
        "    Run Keyword And Ignore Error    ChaosReport.Check Should Pass    No such check\n"
        "    Check Should Pass    ${variable}\n",
        encoding="utf-8",
    )

    assert unknown_check_names([path]) == [
        f"suite/steps{suffix}:4: 'DB count unchnaged'",
        f"suite/steps{suffix}:5: 'No such check'",
        f"suite/steps{suffix}:6: '${{variable}}'",
    ]
