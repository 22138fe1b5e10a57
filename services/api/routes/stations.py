"""Stations: the network's chargers, their live state and their EVSE/connector tree."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.api.deps import Store
from services.api.errors import ApiError, error_responses
from services.api.pagination import decode_cursor, encode_cursor, scan_page
from services.api.schemas import Protocol, StationDetail, StationPage, StationSummary

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Offset = Annotated[int | None, Query(ge=0, description="items to skip (not with `cursor`)")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page")
]
Online = Annotated[bool | None, Query(description="only stations online (true) or offline")]
ProtocolFilter = Annotated[Protocol | None, Query(description="only stations speaking it")]
StationId = Annotated[str, Path(min_length=1, max_length=255)]


def station_filter(
    online: bool | None, protocol: str | None
) -> Callable[[StationSummary], bool] | None:
    """The predicate for the list's filters; None when nothing filters (pages by position)."""
    if online is None and protocol is None:
        return None

    def keep(station: StationSummary) -> bool:
        return (online is None or station.online == online) and (
            protocol is None or station.protocol == protocol
        )

    return keep


def _cursor_id(cursor: str) -> str:
    station_id = decode_cursor(cursor)
    if station_id is None:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned")
    return station_id


@router.get("", response_model=StationPage, responses=error_responses(422, 503))
async def list_stations(
    store: Store,
    limit: Limit = 100,
    offset: Offset = None,
    cursor: Cursor = None,
    online: Online = None,
    protocol: ProtocolFilter = None,
) -> StationPage:
    """Stations ordered by id. Page with `offset`, or with `cursor` (cheaper when filtering:
    it resumes where the previous page stopped instead of re-scanning from the start)."""
    if offset is not None and cursor is not None:
        raise ApiError(422, "invalid_request", "use either offset or cursor, not both")
    ids = await store.station_ids()
    start = bisect_right(ids, _cursor_id(cursor)) if cursor is not None else 0
    keep = station_filter(online, protocol)

    async def window(position: int, count: int) -> list[str]:
        return ids[position : position + count]

    page = await scan_page(
        window, store.station_summaries, keep=keep, start=start, offset=offset or 0, limit=limit
    )
    next_offset = None
    if page.has_more and cursor is None:
        next_offset = (offset or 0) + len(page.items)
    return StationPage(
        items=page.items,
        limit=limit,
        offset=None if cursor is not None else offset or 0,
        next_offset=next_offset,
        next_cursor=encode_cursor(page.items[-1].id) if page.has_more else None,
        total=len(ids) if keep is None else None,
    )


@router.get("/{station_id}", response_model=StationDetail, responses=error_responses(404, 422, 503))
async def get_station(store: Store, station_id: StationId) -> StationDetail:
    """A station with its EVSE -> connector tree and live statuses."""
    station = await store.station(station_id)
    if station is None:
        raise ApiError(404, "station_not_found", f"no station with id {station_id!r}")
    return station
