"""``/metrics``: the service's metrics in the Prometheus text format."""

from __future__ import annotations

import falcon
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest


class Metrics:
    """Render every metric of the registry at each scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200 with the text exposition format 0.0.4, which every Prometheus reads."""
        resp.content_type = CONTENT_TYPE_PLAIN_0_0_4
        resp.data = generate_latest(self._registry)
