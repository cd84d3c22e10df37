"""Robot Framework keywords that run a chaos campaign and judge its verdict."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from robot.api import logger
from robot.api.deco import keyword, library
from robot.libraries.BuiltIn import BuiltIn

from campaign.checker import LOST, PHANTOM_EVENT
from campaign.files import HISTORY_FILE, PAGE_FILE, RESULT_FILE, RUN_FILE
from campaign.final_read import DUAL_WRITE, OUTBOX
from campaign.history import FAULT_START, FAULT_STOP, OK, read_history
from embedded_stack.settings import TANSU

_ROOT = Path(__file__).resolve().parents[2]
# Beyond the campaign's own seconds: the dedicated servers' start, the settle bound after
# the heal (60 s at most), the final read and the page.
_OVERHEAD_SECONDS = 240


@library(scope="SUITE", version="1.0")
class ChaosCampaign:
    """Run ``python -m campaign`` as a user does, and check what its checker found.

    A campaign starts its own service instances (the ``chaos`` profile on), a PostgreSQL and
    a broker of its own for the faults, drives the instances with concurrent clients while a
    nemesis injects faults on a seeded schedule, heals them, reads PostgreSQL and the topic,
    and judges every order. Its files go to ``${OUTPUT DIR}/campaign/<mode>/``; the page
    ``campaign.html`` is linked from ``log.html``.

    %TOC%

    = Importing =

    | ``kafka_engine`` | The campaign's broker: ``tansu``, ``kafka`` or ``kafka-cluster``. |

    = Example =

    | ${result}= | `Run Chaos Campaign` | dual-write | seconds=30 | seed=12 |
    | `Campaign Should Show Dual Write Anomalies` | ${result} |
    | `Every Fault Should Have Healed` | ${result} |
    """

    def __init__(self, kafka_engine: str = TANSU) -> None:
        """Configure the library (the import argument).

        Example:
        | Library | libraries/ChaosCampaign.py | ${KAFKA_ENGINE} |
        """
        self._engine = kafka_engine

    @keyword("Run Chaos Campaign")
    def run_chaos_campaign(
        self,
        mode: str,
        *service_settings: str,
        seconds: float = 30,
        seed: int = 1,
        clients: int = 4,
        instances: int = 2,
        faults: str = "all",
    ) -> dict[str, Any]:
        """Run one campaign in ``mode`` and return its ``result.json`` as a dictionary.

        ``service_settings`` are ``MARS_NAME=value`` settings of the service instances.
        The command line and its output are logged, and the page is linked. Fails if the
        campaign could not run (exit status 2); an invalid verdict (exit status 1) is for
        the checking keywords to judge. The returned dictionary also has ``directory``.

        Example:
        | ${result}= | Run Chaos Campaign | outbox | seconds=30 | seed=12 | faults=all |
        | ${result}= | Run Chaos Campaign | dual-write | MARS_KAFKA_PUBLISH_TIMEOUT_MS=2000 |
        """
        if mode not in (DUAL_WRITE, OUTBOX):
            raise ValueError(f"mode must be {DUAL_WRITE} or {OUTBOX}, not {mode!r}")
        output_dir = Path(BuiltIn().get_variable_value("${OUTPUT DIR}"))
        directory = output_dir / "campaign" / mode
        command = [
            sys.executable, "-m", "campaign",
            "--mode", mode,
            "--seconds", str(seconds),
            "--seed", str(seed),
            "--clients", str(clients),
            "--instances", str(instances),
            "--faults", faults,
            "--kafka-engine", self._engine,
            "--out", str(directory),
        ]  # fmt: skip
        for setting in service_settings:
            command += ["--service-setting", setting]
        logger.info(f"Running: {' '.join(command[1:])}")
        finished = subprocess.run(
            command,
            cwd=_ROOT,
            capture_output=True,
            text=True,
            timeout=float(seconds) + _OVERHEAD_SECONDS,
            check=False,
        )
        logger.info(finished.stdout + finished.stderr)
        if finished.returncode not in (0, 1):
            raise AssertionError(
                f"the campaign did not run (exit status {finished.returncode}):\n"
                f"{finished.stderr.strip()[-2000:]}"
            )
        page = (directory / PAGE_FILE).relative_to(output_dir)
        logger.info(f"Campaign report: <a href='{html.escape(str(page))}'>{page}</a>", html=True)
        result = json.loads((directory / RESULT_FILE).read_text(encoding="utf-8"))
        return {**result, "directory": str(directory)}

    @keyword("Campaign Should Show Dual Write Anomalies")
    def campaign_should_show_dual_write_anomalies(self, result: dict[str, Any]) -> None:
        """Fail unless a dual-write campaign found lost and phantom events, and nothing else.

        Lost and phantom events are what the Dual Write does under faults; the history and
        the final read must still agree about everything else (no acknowledged order
        missing from PostgreSQL, no cancellation lost). The per-1,000 figures are logged and
        set as the suite's metadata.

        Example:
        | Campaign Should Show Dual Write Anomalies | ${result} |
        """
        self._require_mode(result, DUAL_WRITE)
        counts = result["counts"]
        problems = [f"no {kind} event" for kind in (LOST, PHANTOM_EVENT) if not counts.get(kind)]
        if not result["valid"]:
            problems.append("the history and the final read disagree")
        self._judge(result, problems)

    @keyword("Campaign Should Be A Valid Outbox")
    def campaign_should_be_a_valid_outbox(self, result: dict[str, Any]) -> None:
        """Fail unless an outbox campaign is valid: no lost, no phantom, every order delivered.

        Duplicates may only be redeliveries with the same eventId; the checker's verdict
        says so, and this keyword checks the counts beside it.

        Example:
        | Campaign Should Be A Valid Outbox | ${result} |
        """
        self._require_mode(result, OUTBOX)
        counts = result["counts"]
        problems = [f"{counts[kind]} {kind}" for kind in (LOST, PHANTOM_EVENT) if counts.get(kind)]
        if not result["valid"]:
            problems.append("invalid")
        if not result["acknowledged"]:
            problems.append("no order was acknowledged, so nothing was shown")
        self._judge(result, problems)

    @keyword("Every Fault Should Have Healed")
    def every_fault_should_have_healed(self, result: dict[str, Any]) -> int:
        """Fail unless every scheduled fault started and healed, as the history records it.

        Returns how many faults ran. The history is the campaign's own record; the
        schedule is ``campaign.json``'s.

        Example:
        | ${faults}= | Every Fault Should Have Healed | ${result} |
        """
        directory = Path(result["directory"])
        schedule = json.loads((directory / RUN_FILE).read_text(encoding="utf-8"))["schedule"]
        nemesis = [op for op in read_history(directory / HISTORY_FILE) if op.process == "nemesis"]
        started = [op.fault for op in nemesis if op.f == FAULT_START and op.type == OK]
        healed = [op.fault for op in nemesis if op.f == FAULT_STOP and op.type == OK]
        planned = [window["fault"] for window in schedule]
        if not planned:
            raise AssertionError("the schedule has no fault: the campaign was too short")
        if started != planned or healed != planned:
            raise AssertionError(
                f"planned {planned}, started {started}, healed {healed}: a fault did not "
                "start or heal (see the nemesis lines of history.jsonl)"
            )
        logger.info(f"{len(planned)} faults started and healed: {', '.join(planned)}")
        return len(planned)

    @staticmethod
    def _require_mode(result: dict[str, Any], mode: str) -> None:
        if result.get("mode") != mode:
            raise AssertionError(f"expected a {mode} campaign, got {result.get('mode')!r}")

    @staticmethod
    def _judge(result: dict[str, Any], problems: list[str]) -> None:
        """Log the figures, set the verdict as metadata, and fail naming the problems."""
        delays = result["delaysMs"]
        logger.info(
            f"{result['verdict']}. {result['operations']} operations, "
            f"{result['acknowledged']} acknowledged orders; per 1,000: {result['per1000']}; "
            f"commit to event ms: p50 {delays['p50']}, p99 {delays['p99']}, max {delays['max']}"
        )
        builtin = BuiltIn()
        builtin.set_suite_metadata("Verdict", result["verdict"])
        name = f"Verdict (campaign, {result['mode']})"
        builtin.set_suite_metadata(name, result["verdict"], top=True)
        if problems:
            raise AssertionError(f"{result['verdict']}: {', '.join(problems)}")
