"""Paging over an ordered index with batch loads, with and without filters."""

from __future__ import annotations

from collections.abc import Sequence

from services.api.pagination import decode_cursor, encode_cursor, scan_page

KEYS = [f"k{i:03d}" for i in range(25)]


class Index:
    """An in-memory index; counts round trips to prove pages are read in batches."""

    def __init__(self, keys: list[str], missing: frozenset[str] = frozenset()) -> None:
        self.keys = keys
        self.missing = missing
        self.windows = 0
        self.loads = 0

    async def window(self, position: int, count: int) -> list[str]:
        self.windows += 1
        return self.keys[position : position + count]

    async def load(self, keys: Sequence[str]) -> list[int | None]:
        self.loads += 1
        return [None if k in self.missing else int(k[1:]) for k in keys]


def _even(value: int) -> bool:
    return value % 2 == 0


async def test_unfiltered_page_is_one_window_at_the_offset() -> None:
    index = Index(KEYS)
    page = await scan_page(index.window, index.load, keep=None, start=0, offset=10, limit=5)
    assert page.items == [10, 11, 12, 13, 14]
    assert page.has_more
    assert (index.windows, index.loads) == (1, 1)


async def test_last_page_has_no_more() -> None:
    index = Index(KEYS)
    page = await scan_page(index.window, index.load, keep=None, start=0, offset=20, limit=5)
    assert page.items == [20, 21, 22, 23, 24]
    assert not page.has_more
    page = await scan_page(index.window, index.load, keep=None, start=0, offset=30, limit=5)
    assert page.items == []
    assert not page.has_more


async def test_filtered_offset_counts_matching_items() -> None:
    index = Index(KEYS)
    page = await scan_page(index.window, index.load, keep=_even, start=0, offset=3, limit=4)
    assert page.items == [6, 8, 10, 12]
    assert page.has_more
    page = await scan_page(index.window, index.load, keep=_even, start=0, offset=10, limit=4)
    assert page.items == [20, 22, 24]
    assert not page.has_more


async def test_filtered_scan_from_a_start_position() -> None:
    index = Index(KEYS)
    page = await scan_page(index.window, index.load, keep=_even, start=15, offset=0, limit=2)
    assert page.items == [16, 18]
    assert page.has_more


async def test_vanished_values_are_skipped() -> None:
    index = Index(KEYS, missing=frozenset({"k001", "k002"}))
    page = await scan_page(
        index.window, index.load, keep=lambda _: True, start=0, offset=0, limit=3
    )
    assert page.items == [0, 3, 4]


async def test_filter_scans_in_chunks_not_per_item() -> None:
    keys = [f"k{i:04d}" for i in range(1200)]
    index = Index(keys)
    page = await scan_page(
        index.window, index.load, keep=lambda v: v >= 1100, start=0, offset=0, limit=10
    )
    assert page.items == list(range(1100, 1110))
    assert index.loads <= 3  # 1200 keys in chunks of 500


def test_cursor_round_trip() -> None:
    for station_id in ("CP-001", "Ladesäule/7", "a b?c=d&e", ""):
        cursor = encode_cursor(station_id)
        assert "=" not in cursor
        assert decode_cursor(cursor) == station_id


def test_bad_cursor_is_rejected() -> None:
    assert decode_cursor("\xff\xfe") is None
    assert decode_cursor("_w") is None  # decodes to the byte 0xff: not UTF-8
