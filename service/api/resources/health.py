"""``/actuator/health``, in the shape of Spring Boot's actuator."""

from __future__ import annotations

import falcon

from service.health import HealthCheck


class Health:
    """Report UP only when every dependency answers."""

    def __init__(self, check: HealthCheck) -> None:
        self._check = check

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200 and UP, or 503 and DOWN naming the component that failed."""
        components = self._check()
        up = all(status.up for status in components.values())
        resp.status = falcon.HTTP_200 if up else falcon.HTTP_503
        resp.media = {
            "status": "UP" if up else "DOWN",
            "components": {
                name: {"status": "UP" if status.up else "DOWN", "details": dict(status.details)}
                for name, status in components.items()
            },
        }
