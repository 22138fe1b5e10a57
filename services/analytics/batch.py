"""The sink's unit of work: column lists per table plus the Kafka offsets they cover. Pure, no I/O.

A batch closes when it holds `max_rows` rows or when its first event is `max_age_s` old,
whichever comes first; the clock is passed in so the policy is testable without sleeping.

Rows are kept column by column, as clickhouse_connect's column-oriented insert takes them: the
frames fast path (services.analytics.fast_frames) appends each value straight to its column,
so a meter sample never becomes a tuple, and nothing is pivoted at insert time.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from services.analytics.rows import Routed, Row, Table


@dataclass(slots=True)
class Columns:
    """One table's rows: `data` holds one list per column in the table's column order (what
    the frames fast path appends to, value by value), `rows` whole row tuples (the other
    routes, and the archive row of a frame: one tuple is cheaper than 13 appends). `insert()`
    folds the tuples into the columns once, in C (zip), for the column-oriented insert."""

    data: list[list[Any]]
    rows: list[Row] = field(default_factory=list)

    @classmethod
    def of_width(cls, width: int) -> Columns:
        return cls([[] for _ in range(width)])

    def __len__(self) -> int:
        return len(self.data[0]) + len(self.rows)

    def append_row(self, row: Row) -> None:
        self.rows.append(row)

    def truncate(self, length: int) -> None:
        """Drop the column values from `length` on (a fast path that gave up half way)."""
        for column in self.data:
            del column[length:]

    def insert(self) -> list[list[Any]]:
        """Every row, column by column (the tuples appended to the columns' ends)."""
        if self.rows:
            for column, values in zip(self.data, zip(*self.rows, strict=True), strict=True):
                column.extend(values)
            self.rows = []
        return self.data

    def all_rows(self) -> list[Row]:
        """Back to row tuples (tests, logs); the sink never needs this."""
        return list(zip(*self.insert(), strict=True))


@dataclass(slots=True)
class Batch:
    max_rows: int
    max_age_s: float
    tables: dict[str, Columns] = field(default_factory=dict)
    # Next offset to commit per partition: the offset after the last event of the batch.
    offsets: dict[Hashable, int] = field(default_factory=dict)
    events: int = 0
    opened_at: float | None = None

    def columns(self, table: Table) -> Columns:
        """The columns of `table`, created empty on first use (what a fast path appends to)."""
        found = self.tables.get(table.name)
        if found is None:
            found = self.tables[table.name] = Columns.of_width(len(table.columns))
        return found

    def add(self, routed: Routed, partition: Hashable, offset: int, now: float) -> None:
        """Account one consumed event (even one that produced no rows: its offset still moves)."""
        for table, rows in routed.rows.items():
            if not rows:
                continue
            columns = self.tables.get(table)
            if columns is None:
                columns = self.tables[table] = Columns.of_width(len(rows[0]))
            columns.rows.extend(rows)
        self.note(partition, offset, now)

    def note(self, partition: Hashable, offset: int, now: float) -> None:
        """Account one consumed event whose rows were appended to `columns()` directly."""
        if self.opened_at is None:
            self.opened_at = now
        self.offsets[partition] = offset + 1
        self.events += 1

    @property
    def size(self) -> int:
        """Rows in all tables (summed on demand: the fast path appends without counting)."""
        return sum(len(columns) for columns in self.tables.values())

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
