"""``POST /chaos/phantom-event``."""

from __future__ import annotations

import falcon

from service.api.hooks import require_json_body
from service.api.validation import create_order_command
from service.chaos.service import ChaosService, PhantomEventReport


class PhantomEvent:
    """Trigger the phantom event and report what was observed."""

    def __init__(self, chaos_service: ChaosService, max_body_bytes: int) -> None:
        self._chaos_service = chaos_service
        self.max_body_bytes = max_body_bytes

    @falcon.before(require_json_body)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """200 with the observed report, whatever the outcome."""
        report = self._chaos_service.attempt_phantom_order(create_order_command(req))
        resp.media = report_json(report)


def report_json(report: PhantomEventReport) -> dict:
    """Return the JSON form of a phantom-event report (camelCase, as in the seed)."""
    delivery = report.result.delivery
    return {
        "orderId": str(report.result.order_id),
        "eventId": str(report.result.event.event_id),
        "existsInDb": report.exists_in_db,
        "eventSentToKafka": report.result.event_sent,
        "dbRolledBack": report.db_rolled_back,
        "phantomEventProduced": report.phantom_event_produced,
        "explanation": report.explanation,
        "kafkaTopic": delivery.topic if delivery else None,
        "kafkaPartition": delivery.partition if delivery else None,
        "kafkaOffset": delivery.offset if delivery else None,
        "kafkaError": report.result.publish_error,
        "dbQuery": report.query,
        "dbRowsFound": report.rows_found,
        "mode": report.result.mode.value,
        "outboxRowsFound": report.outbox_rows_found,
    }
