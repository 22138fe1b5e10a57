"""Paging over an ordered key index whose values are loaded in batches.

Without a filter a page is one window of the index (offset = index position). With a filter the
index is scanned in chunks from `start` and `offset` counts matching items, so offsets stay
meaningful to the client; cursors (an index position found by the caller) avoid that rescan.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query

# Items loaded per round trip while a filter scans: large enough that a sparse filter does not
# cost many round trips, small enough to bound one pipeline's memory.
FILTER_CHUNK = 500

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


async def scan_page(
    window: Callable[[int, int], Awaitable[Sequence[str]]],
    load: Callable[[Sequence[str]], Awaitable[Sequence[T | None]]],
    *,
    keep: Callable[[T], bool] | None,
    start: int,
    offset: int,
    limit: int,
) -> Page[T]:
    """Up to `limit` items after `start` + `offset`; `window(pos, n)` gives up to n keys from
    index position pos, `load(keys)` their values (None = vanished or unreadable, skipped)."""
    position = start if keep is not None else start + offset
    to_skip = offset if keep is not None else 0
    chunk = limit + 1 if keep is None else max(limit + 1, FILTER_CHUNK)
    items: list[T] = []
    while True:
        batch = await window(position, chunk)
        position += len(batch)
        for value in await load(batch):
            if value is None or (keep is not None and not keep(value)):
                continue
            if to_skip:
                to_skip -= 1
                continue
            if len(items) == limit:
                return Page(items, has_more=True)
            items.append(value)
        if len(batch) < chunk:
            return Page(items, has_more=False)


def encode_cursor(last_id: str) -> str:
    """An opaque cursor: the last id of a page, URL-safe."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The id inside a cursor, or None when the cursor was not made by `encode_cursor`: only
    the exact text it makes is accepted (urlsafe_b64decode alone would skip characters outside
    the alphabet, so `*` or `../` would decode to some id). A cursor is a position in a sorted
    list, never a Redis key or pattern."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        last_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    return last_id if encode_cursor(last_id) == cursor else None


Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
