"""The targets of the loads, their ratios against the raw limit, and the run's exit status.

Both endpoints are held to the raw *order* limit measured in the same run:

- at 1 connection: service p50 / raw sequential p50 <= ``P50_TARGET``;
- at 8 connections: service req/s / raw threaded orders/s >= ``THROUGHPUT_TARGET``.

Each round judges its loads against its own raw limit; the run's verdict for a load is
the round of the median ratio (``median_rounds``). The ratio against the raw phantom floor
is kept beside, for information. In outbox mode,
``POST /orders`` at 8 connections is held to the floor of its own transaction instead (the
order and its outbox row, no Kafka: ``raw["outbox"]``): req/s >= ``OUTBOX_THROUGHPUT_TARGET``.
"""

from __future__ import annotations

from bench.run_record import LoadResult, Round, Run

P50_TARGET = 1.25
THROUGHPUT_TARGET = 0.6
OUTBOX_THROUGHPUT_TARGET = 0.7
SCENARIOS = (("POST /orders", "/orders"), ("POST /chaos/phantom-event", "/chaos/phantom-event"))
# 1 connection measures latency (the p50 target), 8 throughput (the req/s target).
CONNECTIONS = (1, 8)


def judge(load: LoadResult, raw: dict) -> LoadResult:
    """Set the ratio against the raw limit and the verdict of one load.

    Args:
        load: The load, its ratio and verdict not yet set.
        raw: The raw limit's JSON per scenario (``order``, ``phantom``).

    Returns:
        ``load``, judged.
    """
    order, phantom = raw["order"], raw["phantom"]
    if "outbox" in raw and load.scenario == "POST /orders" and load.connections > 1:
        load.ratio = load.per_second / raw["outbox"]["threaded"]["per_second"]
        load.ratio_vs_phantom_floor = load.per_second / phantom["threaded"]["per_second"]
        load.target = f"req/s >= {OUTBOX_THROUGHPUT_TARGET:.2f}x of the outbox floor"
        load.passed = load.ratio >= OUTBOX_THROUGHPUT_TARGET and load.not_2xx == 0
        return load
    if load.connections == 1:
        load.ratio = load.p50_ms / order["sequential"]["p50_ms"]
        load.ratio_vs_phantom_floor = load.p50_ms / phantom["sequential"]["p50_ms"]
        load.target = f"p50 <= {P50_TARGET:.2f}x"
        load.passed = load.ratio <= P50_TARGET
    else:
        load.ratio = load.per_second / order["threaded"]["per_second"]
        load.ratio_vs_phantom_floor = load.per_second / phantom["threaded"]["per_second"]
        load.target = f"req/s >= {THROUGHPUT_TARGET:.2f}x"
        load.passed = load.ratio >= THROUGHPUT_TARGET
    # A load that answered errors is no measurement of the service's work.
    load.passed = load.passed and load.not_2xx == 0
    return load


def median_rounds(rounds: list[Round]) -> list[LoadResult]:
    """Return, per endpoint and connection count, the load of the round of the median ratio.

    Its ``round_ratios`` lists every round's ratio. A load passes only if no round of it
    answered errors.
    """
    chosen = []
    for first in rounds[0].loads:
        results = [one.load(first.scenario, first.connections) for one in rounds]
        ranked = sorted(range(len(results)), key=lambda number: results[number].ratio)
        number = ranked[len(ranked) // 2]
        median = results[number]
        median.round = number
        median.round_ratios = [result.ratio for result in results]
        median.passed = median.passed and all(result.not_2xx == 0 for result in results)
        chosen.append(median)
    return chosen


def all_targets_met(run: Run) -> bool:
    """Tell whether every load of the run passed its target."""
    return all(load.passed for load in run.loads)


def exit_status(run: Run) -> int:
    """Return 0 all good, 1 a target missed or a check failed, 2 no complete run."""
    if run.error or run.correctness is None or len(run.loads) < len(SCENARIOS) * len(CONNECTIONS):
        return 2
    ok = all_targets_met(run) and run.correctness.passed and run.service_exit == 0
    return 0 if ok else 1
