"""Outbox mode in the benchmark: the delay from an order's creation to its event.

Two views of the same delay:

- per event, from the topic: the record's timestamp (set by the producer when it sends the
  message, so without the broker's acknowledgement) minus the event's ``occurredAt`` (the
  order's creation, before its transaction). In Dual Write mode the same figure is the
  request's commit plus produce; in outbox mode it adds the relay's wait.
- from ``GET /metrics``: the relay's ``outbox_relay_delay_seconds`` histogram (creation to
  delivery report), with quantiles interpolated inside buckets as Prometheus's
  ``histogram_quantile`` does, so only as fine as the buckets.
"""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Iterable, Sequence
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from embedded_stack.polling import wait_until
from evidence.quantiles import nearest_rank
from evidence.topic_reader import Record

DELAY_HISTOGRAM = "outbox_relay_delay_seconds"


def event_delays_ms(records: Iterable[Record]) -> list[float]:
    """Return, per event with a timestamp, milliseconds from ``occurredAt`` to the record."""
    delays = []
    for record in records:
        if record.timestamp_ms is None or not isinstance(record.value, dict):
            continue
        try:
            occurred = datetime.fromisoformat(record.value["occurredAt"]).timestamp()
        except (KeyError, TypeError, ValueError):
            continue
        delays.append(record.timestamp_ms - occurred * 1000)
    return delays


def percentiles_ms(values: Sequence[float]) -> dict[str, float | int | None]:
    """Return count, p50 and p95 (nearest rank, as wrk and raw_limit.py compute them)."""
    ordered = sorted(values)

    def rank(percent: float) -> float | None:
        return round(nearest_rank(ordered, percent), 3) if ordered else None

    return {"n": len(ordered), "p50_ms": rank(50), "p95_ms": rank(95)}


def scrape(base: str) -> str:
    """Return the service's ``/metrics`` page."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str) -> float | None:
    """Return the unlabelled sample ``name`` of a metrics page."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and not found.labels:
                return found.value
    return None


def histogram_ms(text: str, name: str = DELAY_HISTOGRAM) -> dict[str, float | int | None]:
    """Return count, p50 and p95 in ms of a histogram, interpolated within its buckets."""
    buckets = sorted(
        (float(found.labels["le"]), found.value)
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == f"{name}_bucket"
    )
    total = buckets[-1][1] if buckets else 0

    def quantile(q: float) -> float | None:
        if not total:
            return None
        wanted, lower, below = q * total, 0.0, 0.0
        for upper, cumulative in buckets:
            if cumulative >= wanted:
                if math.isinf(upper):
                    return round(lower * 1000, 3)
                share = (wanted - below) / (cumulative - below) if cumulative > below else 1
                return round((lower + (upper - lower) * share) * 1000, 3)
            lower, below = upper, cumulative
        return None

    return {"n": int(total), "p50_ms": quantile(0.5), "p95_ms": quantile(0.95)}


def wait_for_empty_outbox(base: str, timeout: float) -> None:
    """Poll ``outbox_backlog`` on ``GET /metrics`` until it is 0.

    Args:
        base: The service's URL.
        timeout: Seconds to wait.

    Raises:
        WaitTimedOut: The backlog was not 0 within ``timeout``.
    """
    wait_until(
        lambda: sample(scrape(base), "outbox_backlog") == 0,
        timeout=timeout,
        what=f"outbox_backlog reaching 0 on {base}/metrics",
    )


def describe(label: str, figures: dict) -> str:
    """Return one line: label, count, p50 and p95."""
    return f"  {label}: n={figures['n']}, p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms"
