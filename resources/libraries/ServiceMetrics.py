"""Robot Framework keywords that read the service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from robot.api.deco import keyword, library


@library(scope="GLOBAL", version="1.0")
class ServiceMetrics:
    """Read values out of the Prometheus text that ``GET /metrics`` answers.

    Parsing is left to ``prometheus_client``'s own parser; a sample with labels is found by
    its name alone when it is the only one, else give ``labels`` as ``name=value`` pairs.
    The library takes no import arguments.

    %TOC%

    = Example =

    | Library | libraries/ServiceMetrics.py |
    | ${response}= | GET On Session | order-service | /metrics |
    | ${passes}= | Metric Value | ${response.text} | outbox_relay_passes_total |
    """

    @keyword("Metric Value")
    def metric_value(self, text: str, name: str, **labels: str) -> float:
        """Return the value of the sample ``name`` (with ``labels``); fail if it is absent.

        Example:
        | ${passes}= | Metric Value | ${response.text} | outbox_relay_passes_total |
        | ${info}= | Metric Value | ${response.text} | python_info | implementation=CPython |
        """
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        raise AssertionError(f"no metric {name} {labels or ''} in the answer of /metrics")
