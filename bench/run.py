"""Benchmark the order service against the raw limit measured in the same run.

Starts the embedded stack (PostgreSQL 35432, Kafka 39092) and the service (38082, chaos
profile), waits for health UP, warms up, runs the 32-connection correctness run (first,
while ``order.created`` is small enough for Tansu to read back), measures the raw limit
(``bench/raw_limit.py``), then loads ``POST /orders`` and ``POST /chaos/phantom-event`` with
wrk at 1 and 8 connections and prints each result next to the raw limit as a ratio; then,
if a target is missed, a py-spy profile of the service under load.
Everything it started is stopped by PID at the end, also on failure or Ctrl-C. Results go
to ``bench/results/`` as JSON.

``--profiles outbox`` runs the service in outbox mode (chaos is always on): the same loads,
plus the relay's delay from an order's creation to its event (``bench/outbox.py``).

Usage: ``python bench/run.py [--seconds 10] [--correctness-seconds 20] ...`` (``--help``)

Exit status: 0 every target met and the correctness run passed; 1 a target missed or the
correctness run failed or the service did not exit 0; 2 the benchmark could not run.

The modules: ``cli`` (options), ``stage`` (stack and service), ``phases`` (what is measured,
in order), ``judging`` (targets, ratios, exit status), ``report`` (the printed tables),
``run_record`` (the results' JSON), ``orchestration`` (all of it, stopped by PID at the end).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # `python bench/run.py` puts bench/ on the path, not the repository root that holds
    # bench, embedded_stack, evidence and service as packages.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.orchestration import main

if __name__ == "__main__":
    sys.exit(main())
