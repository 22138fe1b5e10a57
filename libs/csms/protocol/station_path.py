"""The station id of a WebSocket URL: `/ocpp/{station_id}`, percent-decoded and checked.

OCPP-J puts the station identity as the last path segment. It must be rejected before it reaches
logs, Redis keys or Kafka keys when it could be a path trick or is absurdly long.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MAX_STATION_ID_LENGTH = 48  # OCPP 2.0.1 identity: at most 48 characters
_ALLOWED = re.compile(r"[A-Za-z0-9._:*+\-|@]+")


class InvalidStationPath(ValueError):
    """The request path names no acceptable station id (the message never echoes input)."""


def station_id_from_path(path: str, prefix: str = "/ocpp/") -> str:
    """Return the station id of `path` (query string ignored) or raise InvalidStationPath."""
    raw_path = urlsplit(path).path
    if not raw_path.startswith(prefix):
        raise InvalidStationPath(f"path must be {prefix}<station id>")
    segment = raw_path[len(prefix) :]
    if "/" in segment:
        raise InvalidStationPath("station id must be a single path segment")
    station_id = unquote(segment)
    if not station_id:
        raise InvalidStationPath("station id is empty")
    if len(station_id) > MAX_STATION_ID_LENGTH:
        raise InvalidStationPath(f"station id longer than {MAX_STATION_ID_LENGTH} characters")
    if station_id in {".", ".."} or not _ALLOWED.fullmatch(station_id):
        raise InvalidStationPath("station id has characters outside [A-Za-z0-9._:*+-|@]")
    return station_id
