"""The batch policy: size, age, offsets (pure, clock passed in); rows kept by column."""

from __future__ import annotations

import pytest

from services.analytics.batch import Batch, Columns
from services.analytics.rows import METER_VALUES, Routed


def _routed(n: int, table: str = "meter_values") -> Routed:
    return Routed(rows={table: [(i, f"r{i}") for i in range(n)]})


def test_empty_batch_waits_the_full_age() -> None:
    batch = Batch(max_rows=10, max_age_s=0.5)
    assert batch.empty
    assert not batch.ready(now=1000.0)
    assert batch.wait_s(now=1000.0) == 0.5


def test_closes_by_size() -> None:
    batch = Batch(max_rows=3, max_age_s=60)
    batch.add(_routed(2), "p0", 10, now=0.0)
    assert not batch.full()
    batch.add(_routed(1, "ocpp_frames"), "p0", 11, now=0.1)
    assert batch.full() and batch.ready(now=0.1)
    assert batch.size == 3
    assert {name: cols.all_rows() for name, cols in batch.tables.items()} == {
        "meter_values": [(0, "r0"), (1, "r1")],
        "ocpp_frames": [(0, "r0")],
    }


def test_closes_by_age_of_its_first_event() -> None:
    batch = Batch(max_rows=1000, max_age_s=0.5)
    batch.add(_routed(1), "p0", 0, now=10.0)
    batch.add(_routed(1), "p0", 1, now=10.4)
    assert batch.wait_s(now=10.4) == pytest.approx(0.1)
    assert not batch.due(now=10.49)
    assert batch.due(now=10.5)
    assert batch.wait_s(now=11.0) == 0.0


def test_offsets_are_next_offset_per_partition_even_without_rows() -> None:
    batch = Batch(max_rows=10, max_age_s=1)
    batch.add(_routed(1), "p0", 5, now=0)
    batch.add(Routed(problem="bad_envelope"), "p1", 7, now=0)
    batch.add(_routed(1), "p0", 6, now=0)
    assert batch.offsets == {"p0": 7, "p1": 8}
    assert batch.events == 3
    assert batch.size == 2
    assert not batch.empty


def test_columns_take_values_and_whole_rows_and_insert_by_column() -> None:
    columns = Columns.of_width(3)
    for column, value in zip(columns.data, (1, "a", 1.5), strict=True):
        column.append(value)
    columns.append_row((2, "b", 2.5))
    assert len(columns) == 2
    assert columns.insert() == [[1, 2], ["a", "b"], [1.5, 2.5]]
    assert columns.rows == [] and len(columns) == 2  # folded once
    columns.truncate(1)
    assert columns.all_rows() == [(1, "a", 1.5)]
    assert Columns.of_width(2).insert() == [[], []]


def test_a_fast_path_appends_to_the_table_columns_and_notes_the_event() -> None:
    batch = Batch(max_rows=2, max_age_s=60)
    meter = batch.columns(METER_VALUES)
    assert batch.columns(METER_VALUES) is meter
    assert len(meter.data) == len(METER_VALUES.columns)
    for column in meter.data:
        column.extend([0, 1])
    batch.note("p0", 41, now=3.0)
    assert (batch.size, batch.events, batch.offsets, batch.opened_at) == (2, 1, {"p0": 42}, 3.0)
    assert batch.full()
