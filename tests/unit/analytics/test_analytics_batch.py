"""The batch policy: size, age, offsets (pure, clock passed in)."""

from __future__ import annotations

import pytest

from services.analytics.batch import Batch, to_columns
from services.analytics.rows import Routed


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
    assert batch.rows == {"meter_values": [(0, "r0"), (1, "r1")], "ocpp_frames": [(0, "r0")]}


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


def test_to_columns_pivots_rows() -> None:
    assert to_columns([(1, "a", 1.5), (2, "b", 2.5)]) == [[1, 2], ["a", "b"], [1.5, 2.5]]
    assert to_columns([]) == []
