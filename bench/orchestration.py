"""One whole benchmark run: stage, measure, stop what was started, write the results.

Whatever happens, the service and the stack are stopped by PID and the run's JSON is
written; a failure or Ctrl-C is recorded in it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli import parse_args
from bench.judging import exit_status
from bench.load import LoadToolMissing, wrk_path
from bench.phases import measure_everything
from bench.report import print_machine, print_service_up
from bench.run_record import Run
from bench.stage import Stage, cpu_meter, scan_service_log
from embedded_stack import StackError


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark; return the exit status (see ``bench/run.py``)."""
    options = parse_args(argv)
    try:
        wrk_path()
    except LoadToolMissing as ex:
        print(f"cannot run: {ex}", file=sys.stderr)
        return 2
    options.results_dir.mkdir(parents=True, exist_ok=True)
    run = Run.start(options)
    prefix = options.results_dir / run.run_id
    print_machine(run)
    stage = Stage(options.state_dir)
    try:
        _stage_and_measure(run, options, stage, prefix)
    except KeyboardInterrupt:
        run.error = "interrupted"
        print("\ninterrupted: stopping what was started", file=sys.stderr)
    except (StackError, RuntimeError, OSError) as ex:
        run.error = str(ex)
        print(f"benchmark failed: {ex}", file=sys.stderr)
    finally:
        _stop_and_record(run, stage)
        print(f"results: {run.write(prefix.with_suffix('.json'))}")
    return exit_status(run)


def _stage_and_measure(run: Run, options: argparse.Namespace, stage: Stage, prefix: Path) -> None:
    report = stage.start_stack()
    run.stack = report.summary().splitlines()
    print(report.summary())
    service = stage.start_service(options, prefix.with_name(f"{run.run_id}-service.log"))
    print_service_up(service, options)
    measure_everything(run, options, service, cpu_meter(service, report), prefix)


def _stop_and_record(run: Run, stage: Stage) -> None:
    if stage.service is not None:
        run.service_exit = stage.stop_service()
        print(f"service stopped with SIGTERM: exit status {run.service_exit}")
        run.service_log_findings = scan_service_log(stage.service.log_path)
        print(f"service log: {run.service_log_findings}")
    for line in stage.stop_stack():
        print(line.summary())
