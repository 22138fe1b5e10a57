"""The sink's unit of work: rows per table plus the Kafka offsets they cover. Pure, no I/O.

A batch closes when it holds `max_rows` rows or when its first event is `max_age_s` old,
whichever comes first; the clock is passed in so the policy is testable without sleeping.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from services.analytics.rows import Routed, Row


@dataclass(slots=True)
class Batch:
    max_rows: int
    max_age_s: float
    rows: dict[str, list[Row]] = field(default_factory=dict)
    # Next offset to commit per partition: the offset after the last event of the batch.
    offsets: dict[Hashable, int] = field(default_factory=dict)
    size: int = 0
    events: int = 0
    opened_at: float | None = None

    def add(self, routed: Routed, partition: Hashable, offset: int, now: float) -> None:
        """Account one consumed event (even one that produced no rows: its offset still moves)."""
        if self.opened_at is None:
            self.opened_at = now
        for table, rows in routed.rows.items():
            self.rows.setdefault(table, []).extend(rows)
            self.size += len(rows)
        self.offsets[partition] = offset + 1
        self.events += 1

    @property
    def empty(self) -> bool:
        return self.events == 0

    def full(self) -> bool:
        return self.size >= self.max_rows

    def due(self, now: float) -> bool:
        return self.opened_at is not None and now - self.opened_at >= self.max_age_s

    def ready(self, now: float) -> bool:
        return self.full() or self.due(now)

    def wait_s(self, now: float) -> float:
        """How long the consumer may wait for more events before this batch must close."""
        if self.opened_at is None:
            return self.max_age_s
        return max(0.0, self.opened_at + self.max_age_s - now)


def to_columns(rows: list[Row]) -> list[list[Any]]:
    """Row tuples -> one list per column (clickhouse_connect's column-oriented insert)."""
    return [list(column) for column in zip(*rows, strict=True)]
