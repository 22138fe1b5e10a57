"""The station id of a WebSocket URL: `/ocpp/{station_id}`, percent-decoded and checked.

OCPP-J puts the station identity as the last path segment. It must be rejected before it reaches
logs, Redis keys or Kafka keys when it could be a path trick or is absurdly long.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MAX_STATION_ID_LENGTH = 48  # OCPP 2.0.1 identity: at most 48 characters
# The characters of a station id (a regular expression; the API's schemas anchor it).
STATION_ID_CHARACTERS = r"[A-Za-z0-9._:*+\-|@]+"
_ALLOWED = re.compile(STATION_ID_CHARACTERS)
# The read models keep a station's sub-keys under its own key (csms.readmodels: `csms:station:<id>`
# is its hash, `csms:station:<id>:connectors`, `:txs` and `:active_txs` its connectors and
# transaction indexes). An id ending in one of these would name another station's sub-key
# (`CP-1:txs` is CP-1's transaction index): read as that station's data, or failing on the
# key's type in every reader and writer of it. tests/unit/api/test_api_station_keys.py checks
# that every such sub-key is listed here.
RESERVED_SUFFIXES = (":connectors", ":txs", ":active_txs")


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
    return check_station_id(unquote(segment))


def check_station_id(station_id: str) -> str:
    """`station_id` when it may be a station's id (the WebSocket path's rule, and what the API
    accepts wherever an id names a station); else InvalidStationPath."""
    if not station_id:
        raise InvalidStationPath("station id is empty")
    if len(station_id) > MAX_STATION_ID_LENGTH:
        raise InvalidStationPath(f"station id longer than {MAX_STATION_ID_LENGTH} characters")
    if station_id in {".", ".."} or not _ALLOWED.fullmatch(station_id):
        raise InvalidStationPath("station id has characters outside [A-Za-z0-9._:*+-|@]")
    if station_id.endswith(RESERVED_SUFFIXES):
        raise InvalidStationPath(f"station id ends with one of {', '.join(RESERVED_SUFFIXES)}")
    return station_id
