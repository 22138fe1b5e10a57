"""Station ids wherever a request names a station to read or command (path, query or body).

A station id becomes part of Redis keys (`csms:station:<id>`, `csms:route:<id>`, …). Redis keys
are binary-safe and the API never turns an id into a SCAN/KEYS pattern, so `*`, `?`, `[a]`,
control characters or `../` are plain characters of a key that names no one else: such an id
is simply unknown (404). The one id that would name someone else's key is one ending in a
read-model sub-key suffix (`CP-1:txs` is CP-1's transaction index, csms.protocol.station_path
RESERVED_SUFFIXES): refused 422 here, as the gateway refuses it as a station identity. Reads
accept any other id up to 255 characters (registration applies the gateway's whole rule).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field

from csms.protocol.station_path import RESERVED_SUFFIXES, STATION_ID_CHARACTERS

STATION_ID_PATTERN = f"^{STATION_ID_CHARACTERS}$"  # what the gateway admits
_MAX = 255
_DESCRIPTION = f"station id (not ending in {', '.join(RESERVED_SUFFIXES)})"


def readable_station_id(value: str) -> str:
    """`value`, unless it would name another station's sub-key (ValueError, a 422)."""
    if value.endswith(RESERVED_SUFFIXES):
        raise ValueError(f"a station id never ends with {', '.join(RESERVED_SUFFIXES)}")
    return value


def _optional(value: str | None) -> str | None:
    return None if value is None else readable_station_id(value)


StationIdPath = Annotated[
    str,
    Path(min_length=1, max_length=_MAX, description=_DESCRIPTION),
    AfterValidator(readable_station_id),
]
StationIdFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=_MAX, description=f"only this station's; {_DESCRIPTION}"),
    AfterValidator(_optional),
]
StationIdBody = Annotated[
    str,
    Field(min_length=1, max_length=_MAX, description=_DESCRIPTION),
    AfterValidator(readable_station_id),
]
