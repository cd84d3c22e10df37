"""The campaign's history: every operation's invoke and completion, one JSON object a line.

As in Jepsen, a completion is ``ok`` (it happened), ``fail`` (it did not happen) or ``info``
(unknown: a timeout, a 5xx, a dropped connection); an ``info`` may still have taken effect and
is resolved by the final read. The nemesis is one more process in the same file.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

INVOKE = "invoke"
OK = "ok"
FAIL = "fail"
INFO = "info"
TYPES = (INVOKE, OK, FAIL, INFO)

CREATE = "create"
PHANTOM = "phantom"
CANCEL = "cancel"
FAULT_START = "fault-start"
FAULT_STOP = "fault-stop"
FUNCTIONS = (CREATE, PHANTOM, CANCEL, FAULT_START, FAULT_STOP)

# Optional fields: attribute name -> JSON name (the JSON spells them as the API does).
_OPTIONAL = {
    "order_id": "orderId",
    "idempotency_key": "idempotencyKey",
    "status": "status",
    "error": "error",
    "fault": "fault",
    "event_id": "eventId",
}


class HistoryError(ValueError):
    """A history file or a history that breaks the format's rules."""


@dataclass(frozen=True)
class Operation:
    """One line of the history: an invoke or a completion of one process's operation."""

    process: str
    type: str
    f: str
    index: int
    time: float
    wall: str
    order_id: str | None = None
    idempotency_key: str | None = None
    status: int | None = None
    error: str | None = None
    fault: str | None = None
    event_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of this operation, leaving out optional fields that are unset."""
        data: dict[str, Any] = {
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "index": self.index,
            "time": self.time,
            "wall": self.wall,
        }
        for attribute, name in _OPTIONAL.items():
            value = getattr(self, attribute)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Operation:
        """Build an operation from its JSON object.

        Raises:
            HistoryError: A required field is missing or a value is not one the format allows.
        """
        try:
            operation = cls(
                process=str(data["process"]),
                type=data["type"],
                f=data["f"],
                index=int(data["index"]),
                time=float(data["time"]),
                wall=str(data["wall"]),
                **{attribute: data.get(name) for attribute, name in _OPTIONAL.items()},
            )
        except KeyError as ex:
            raise HistoryError(f"missing field {ex.args[0]!r}") from ex
        except (TypeError, ValueError) as ex:
            raise HistoryError(f"bad value: {ex}") from ex
        if operation.type not in TYPES:
            raise HistoryError(f"type {operation.type!r} is not one of {', '.join(TYPES)}")
        if operation.f not in FUNCTIONS:
            raise HistoryError(f"f {operation.f!r} is not one of {', '.join(FUNCTIONS)}")
        return operation


@dataclass(frozen=True)
class Pair:
    """An invoke and its completion; ``completion`` is None if the process never answered."""

    invoke: Operation
    completion: Operation | None

    @property
    def outcome(self) -> str:
        """Return ok, fail or info; an invoke that never completed is indeterminate (info)."""
        return self.completion.type if self.completion is not None else INFO

    @property
    def order_id(self) -> str | None:
        """Return the orderId known from the completion, else from the invoke."""
        if self.completion is not None and self.completion.order_id is not None:
            return self.completion.order_id
        return self.invoke.order_id

    @property
    def idempotency_key(self) -> str | None:
        """Return the idempotency key the invoke sent (or the completion echoed)."""
        if self.invoke.idempotency_key is not None:
            return self.invoke.idempotency_key
        return self.completion.idempotency_key if self.completion is not None else None

    @property
    def event_id(self) -> str | None:
        """Return the eventId the completion reported (cancel ops)."""
        return self.completion.event_id if self.completion is not None else None

    def evidence(self) -> list[dict[str, Any]]:
        """Return the invoke and completion as evidence for a report."""
        return [_op_evidence(op) for op in (self.invoke, self.completion) if op is not None]


def _op_evidence(op: Operation) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "index": op.index,
        "process": op.process,
        "type": op.type,
        "f": op.f,
        "status": op.status,
    }
    if op.error is not None:
        evidence["error"] = op.error
    return evidence


def pair_operations(history: Iterable[Operation]) -> list[Pair]:
    """Pair every completion with the latest invoke of the same process, in invoke order.

    A process has at most one operation in flight, as in Jepsen; an invoke left without a
    completion at the end of the history is kept as indeterminate.

    Raises:
        HistoryError: A completion has no invoke in flight, names another ``f`` than its
            invoke, or a process invokes while an operation of its own is still in flight.
    """
    in_flight: dict[str, int] = {}
    invokes: list[Operation] = []
    completions: list[Operation | None] = []
    for op in history:
        if op.type == INVOKE:
            if op.process in in_flight:
                raise HistoryError(
                    f"index {op.index}: {op.process} invokes while an operation is in flight"
                )
            in_flight[op.process] = len(invokes)
            invokes.append(op)
            completions.append(None)
            continue
        position = in_flight.pop(op.process, None)
        if position is None:
            raise HistoryError(f"index {op.index}: {op.process} completes without an invoke")
        if invokes[position].f != op.f:
            raise HistoryError(
                f"index {op.index}: completion f {op.f!r} does not match its invoke's "
                f"{invokes[position].f!r}"
            )
        completions[position] = op
    return [
        Pair(invoke, completion) for invoke, completion in zip(invokes, completions, strict=True)
    ]


def read_history(path: Path) -> list[Operation]:
    """Read a history file, one operation a line (blank lines are skipped).

    Raises:
        OSError: The file cannot be read.
        HistoryError: A line is not JSON or not an operation; the message names the line.
    """
    operations = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise HistoryError("not a JSON object")
                operations.append(Operation.from_json(data))
            except (json.JSONDecodeError, HistoryError) as ex:
                raise HistoryError(f"{path}:{number}: {ex}") from ex
    return operations


def write_history(path: Path, operations: Iterable[Operation]) -> None:
    """Write operations to a history file, replacing it."""
    with path.open("w", encoding="utf-8") as stream:
        for op in operations:
            stream.write(_line(op))


def _line(op: Operation) -> str:
    return json.dumps(op.to_json(), separators=(",", ":")) + "\n"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


class HistoryWriter:
    """Append operations to a history file, one flushed line per call, from many threads.

    The writer gives each operation its index (its position in the file) and its times under
    one lock, so the file's order, the indexes and the monotonic times agree.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Any = time.monotonic,
        wall_clock: Any = _utc_now,
    ) -> None:
        """Open ``path`` for appending; indexes continue after the lines already in it.

        Args:
            path: The history file.
            clock: Returns monotonic seconds (injected so tests can fix it).
            wall_clock: Returns the wall time as an ISO-8601 UTC string.
        """
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._next_index = _count_lines(path)
        self._stream: TextIO = path.open("a", encoding="utf-8")

    def record(self, process: str, type_: str, f: str, **fields: Any) -> Operation:
        """Append one operation and return it as written.

        Args:
            process: The process ("client-3", "nemesis").
            type_: invoke, ok, fail or info.
            f: The operation's function (create, phantom, cancel, fault-start, fault-stop).
            **fields: The optional fields by attribute name (``order_id=...``, ``status=...``).
        """
        with self._lock:
            op = Operation(
                process=process,
                type=type_,
                f=f,
                index=self._next_index,
                time=self._clock(),
                wall=self._wall_clock(),
                **fields,
            )
            self._stream.write(_line(op))
            # Flushed per line so that a crashed run still leaves every completed line behind.
            self._stream.flush()
            self._next_index += 1
        return op

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._stream.close()

    def __enter__(self) -> HistoryWriter:
        """Return the writer itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the file."""
        self.close()


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as stream:
        return sum(1 for line in stream if line.strip())
