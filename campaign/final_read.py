"""The final read: what PostgreSQL and Kafka hold for the campaign's orders after the heal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DUAL_WRITE = "dual-write"
OUTBOX = "outbox"
MODES = (DUAL_WRITE, OUTBOX)


class FinalReadError(ValueError):
    """A final-read file that breaks the format's rules."""


@dataclass(frozen=True)
class Row:
    """One campaign order as PostgreSQL holds it."""

    order_id: str
    status: str
    created_at: str
    idempotency_key: str | None = None

    def created_at_ms(self) -> float:
        """Return ``created_at`` in milliseconds since the epoch (a naive time is read as UTC)."""
        moment = datetime.fromisoformat(self.created_at)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp() * 1000.0

    def to_json(self) -> dict[str, Any]:
        """Return the row's JSON object."""
        return {
            "orderId": self.order_id,
            "status": self.status,
            "createdAt": self.created_at,
            "idempotencyKey": self.idempotency_key,
        }


@dataclass(frozen=True)
class Event:
    """One ``order.created`` message read from the topic."""

    partition: int
    offset: int
    key: str | None
    order_id: str
    event_id: str
    timestamp_ms: int

    def to_json(self) -> dict[str, Any]:
        """Return the event's JSON object."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "orderId": self.order_id,
            "eventId": self.event_id,
            "timestampMs": self.timestamp_ms,
        }


@dataclass(frozen=True)
class ProcessedCancellation:
    """How often the consumer recorded one ``order.cancelled`` eventId (1 is exactly once)."""

    event_id: str
    order_id: str
    count: int

    def to_json(self) -> dict[str, Any]:
        """Return the entry's JSON object."""
        return {"eventId": self.event_id, "orderId": self.order_id, "count": self.count}


@dataclass(frozen=True)
class FinalRead:
    """Everything the checker compares the history against."""

    mode: str
    rows: list[Row] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    start_offsets: dict[int, int] = field(default_factory=dict)
    processed_cancellations: list[ProcessedCancellation] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the final read's JSON object (partitions as string keys, as JSON needs)."""
        return {
            "mode": self.mode,
            "rows": [row.to_json() for row in self.rows],
            "events": [event.to_json() for event in self.events],
            "startOffsets": {str(p): offset for p, offset in sorted(self.start_offsets.items())},
            "processedCancellations": [entry.to_json() for entry in self.processed_cancellations],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FinalRead:
        """Build a final read from its JSON object.

        Raises:
            FinalReadError: A field is missing or malformed, or the mode is unknown.
        """
        try:
            final = cls(
                mode=data["mode"],
                rows=[
                    Row(
                        order_id=str(row["orderId"]),
                        status=str(row["status"]),
                        created_at=str(row["createdAt"]),
                        idempotency_key=row.get("idempotencyKey"),
                    )
                    for row in data["rows"]
                ],
                events=[
                    Event(
                        partition=int(event["partition"]),
                        offset=int(event["offset"]),
                        key=event.get("key"),
                        order_id=str(event["orderId"]),
                        event_id=str(event["eventId"]),
                        timestamp_ms=int(event["timestampMs"]),
                    )
                    for event in data["events"]
                ],
                start_offsets={
                    int(partition): int(offset)
                    for partition, offset in data.get("startOffsets", {}).items()
                },
                processed_cancellations=[
                    ProcessedCancellation(
                        event_id=str(entry["eventId"]),
                        order_id=str(entry["orderId"]),
                        count=int(entry["count"]),
                    )
                    for entry in data.get("processedCancellations", [])
                ],
            )
        except KeyError as ex:
            raise FinalReadError(f"missing field {ex.args[0]!r}") from ex
        except (TypeError, ValueError, AttributeError) as ex:
            raise FinalReadError(f"bad value: {ex}") from ex
        if final.mode not in MODES:
            raise FinalReadError(f"mode {final.mode!r} is not one of {', '.join(MODES)}")
        for row in final.rows:
            try:
                row.created_at_ms()
            except ValueError as ex:
                raise FinalReadError(f"orderId={row.order_id}: bad createdAt: {ex}") from ex
        return final


def load_final_read(path: Path) -> FinalRead:
    """Read a final-read file.

    Raises:
        OSError: The file cannot be read.
        FinalReadError: It is not JSON or not a final read; the message names the file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise FinalReadError("not a JSON object")
        return FinalRead.from_json(data)
    except (json.JSONDecodeError, FinalReadError) as ex:
        raise FinalReadError(f"{path}: {ex}") from ex


def save_final_read(path: Path, final: FinalRead) -> None:
    """Write a final-read file, replacing it."""
    path.write_text(json.dumps(final.to_json(), indent=2) + "\n", encoding="utf-8")
