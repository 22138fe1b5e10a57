"""The Redis key layout: one place that names every key, so writers and readers agree.

Redis holds read models and routing only; everything here can be rebuilt from Kafka.
"""

from __future__ import annotations

PREFIX = "csms"

# Set of every station id the network has seen.
STATIONS = f"{PREFIX}:stations"
# Integer counter: OCPP 1.6 transactionIds, unique across every gateway of the network.
TX16_SEQUENCE = f"{PREFIX}:seq:tx16"


def station(station_id: str) -> str:
    """Hash: protocol, online ("1"/"0"), last_seen (epoch ms), gateway, conn, vendor, model,
    firmware, serial, boot_ts, connected_ts, disconnected_ts."""
    return f"{PREFIX}:station:{station_id}"


def station_connectors(station_id: str) -> str:
    """Hash: field "<evse>/<connector>" -> JSON of ConnectorStatus (+ received_ms).
    EVSE 0 / connector 0 is the station itself (1.6 connectorId 0)."""
    return f"{PREFIX}:station:{station_id}:connectors"


def station_transactions(station_id: str) -> str:
    """Sorted set: transaction key -> start time (epoch ms)."""
    return f"{PREFIX}:station:{station_id}:txs"


TRANSACTIONS = f"{PREFIX}:txs"
"""Sorted set over the whole network: transaction key -> start time (epoch ms)."""


def transaction(tx_key: str) -> str:
    """String: JSON of the neutral Transaction (see csms.domain.transactions)."""
    return f"{PREFIX}:tx:{tx_key}"


def pending_call(station_id: str, conn: str, uid: str) -> str:
    """String: JSON of a CALL awaiting its CALLRESULT (correlation by station, connection, id)."""
    return f"{PREFIX}:pending:{station_id}:{conn}:{uid}"


def id_token(token: str) -> str:
    """Hash: status (Accepted/Blocked/Expired/Invalid), group, expiry — the authorization cache."""
    return f"{PREFIX}:idtoken:{token}"


def registration(station_id: str) -> str:
    """Hash: status (Accepted/Pending/Rejected), password_hash, created_ms, updated_ms — the
    station registry the operator manages (admission and security profile 1)."""
    return f"{PREFIX}:registry:{station_id}"


def station_route(station_id: str) -> str:
    """Hash: gateway, conn, epoch, since_ms — which gateway holds the station's live connection."""
    return f"{PREFIX}:route:{station_id}"


def station_epoch(station_id: str) -> str:
    """Integer counter: connection epoch of a station; the newest connection has the highest."""
    return f"{PREFIX}:epoch:{station_id}"


def evict_channel(gateway_id: str) -> str:
    """Pub/sub channel on which other gateways tell `gateway_id` to close a stale connection
    (payload: JSON {station, epoch})."""
    return f"{PREFIX}:gw:{gateway_id}:evict"
