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


def station_active_transactions(station_id: str) -> str:
    """Set: keys of the station's active transactions (what a reboot or a status touches)."""
    return f"{PREFIX}:station:{station_id}:active_txs"


ACTIVE_TRANSACTIONS = f"{PREFIX}:txs:active"
"""Sorted set: active transaction key -> last sign of life (epoch ms, gateway clock: the
latest of its own frames and a station reboot); the zombie policy scans its low end."""


def inference16(station_id: str) -> str:
    """Hash: 1.6 event inference state: "<connectorId>" -> JSON of
    csms.domain.inference16.ConnectorState, "_model" -> "<vendor>\t<model>"."""
    return f"{PREFIX}:inf16:{station_id}"


def remote_start(station_id: str, ref: str) -> str:
    """String, TTL: JSON of a CSMS remote start awaiting its transaction (ref: 2.x remoteStartId,
    1.6 `tag:<idTag>`)."""
    return f"{PREFIX}:pending:remote:{station_id}:{ref}"


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
    """Hash: gateway, conn, epoch, since_ms, proto — which gateway holds the station's live
    connection, and the OCPP version it speaks (what operator commands are translated for)."""
    return f"{PREFIX}:route:{station_id}"


def station_epoch(station_id: str) -> str:
    """Integer counter: connection epoch of a station; the newest connection has the highest."""
    return f"{PREFIX}:epoch:{station_id}"


def evict_channel(gateway_id: str) -> str:
    """Pub/sub channel on which other gateways tell `gateway_id` to close a stale connection
    (payload: JSON {station, epoch})."""
    return f"{PREFIX}:gw:{gateway_id}:evict"


def gateway_calls_channel(gateway_id: str) -> str:
    """Pub/sub channel on which the API hands `gateway_id` a CSMS-initiated CALL for one of its
    stations (payload: csms.infra.call_bus.CallRequest as JSON)."""
    return f"{PREFIX}:gw:{gateway_id}:calls"


def api_replies_channel(api_id: str) -> str:
    """Pub/sub channel on which gateways answer one API process (payload: CallReply as JSON)."""
    return f"{PREFIX}:api:{api_id}:replies"


def command(command_id: str) -> str:
    """Hash: one operator command and its outcome (state, station, command, actor, created_ms,
    finished_ms, result JSON, error JSON) — what `GET /api/v1/commands/{id}` serves; expires."""
    return f"{PREFIX}:cmd:{command_id}"


def api_token(digest: str) -> str:
    """Hash: name, role (analyst/operator/admin), created_ms — one operator API bearer token,
    keyed by the SHA-256 hex of the token (the token itself is never stored)."""
    return f"{PREFIX}:apitoken:{digest}"


API_TOKEN_NAMES = f"{PREFIX}:apitokens"
"""Hash: API token name -> SHA-256 hex of the token (names are unique; revoke by name)."""

ID_TOKENS = f"{PREFIX}:idtokens"
"""Sorted set: every id token listed through the API (score 0, so ordered by token) — the
listing index over the `id_token` hashes."""

REGISTERED_STATIONS = f"{PREFIX}:registered"
"""Set: station ids an operator registered (API or CLI); with STATIONS, the station list (a station
registered before it ever connected is listed too)."""


def device_model(station_id: str) -> str:
    """String: JSON of the station's device model (csms.domain.device_model.DeviceModel.to_dict:
    Station -> EVSE -> Connector tree, variables, metrics, report progress). Its info fields
    online/last_seen may lag: the station hash is the live source of those."""
    return f"{PREFIX}:dm:{station_id}"


def device_call(station_id: str, conn: str, uid: str) -> str:
    """String, expires: JSON {action, payload} of a CSMS CALL whose answer the device model folds
    (GetConfiguration, ChangeConfiguration, GetVariables, SetVariables), until it is answered."""
    return f"{PREFIX}:dmcall:{station_id}:{conn}:{uid}"


# --- tariffs and billing --------------------------------------------------------------------
TARIFFS = f"{PREFIX}:tariffs"
"""Set of every tariff id (operator configuration: never wiped by a replay)."""
TARIFF_ASSIGNMENTS = f"{PREFIX}:tariff:assignments"
"""Hash: scope key ("default", "station:<id>", "evse:<id>:<n>", "group:<g>", see
csms.domain.tariffs.assignment_key) -> JSON list of [valid_from_ms, tariff_id or null]."""


def tariff(tariff_id: str) -> str:
    """Hash: version number -> JSON of that immutable tariff version (Tariff.to_dict)."""
    return f"{PREFIX}:tariff:v:{tariff_id}"


def bill(tx_key: str) -> str:
    """String: JSON of the billing projection's state of one transaction (csms.domain.
    session_bill): the tariff version it is priced with, readings, the running or final bill."""
    return f"{PREFIX}:bill:{tx_key}"


def cost_checkpoint(tx_key: str) -> str:
    """String: JSON {"tariff", "show", "state", "tx"} - the billing state and transaction so
    far of a running session of a station that can display cost, which the gateway folds the
    TransactionEvents it answers into (csms.domain.session_bill.Ledger, ADR 0019). Expires
    after the session."""
    return f"{PREFIX}:cost:{tx_key}"


READ_MODEL_PATTERNS = (
    f"{PREFIX}:tx:*",
    TRANSACTIONS,
    f"{PREFIX}:txs:*",  # ACTIVE_TRANSACTIONS
    f"{PREFIX}:station:*",  # the hash and its :txs, :active_txs, :connectors (processors only)
    f"{PREFIX}:pending:*",  # pending 1.6 starts and remote starts
    STATIONS,
    f"{PREFIX}:dm:*",
    f"{PREFIX}:dmcall:*",
    f"{PREFIX}:inf16:*",
    f"{PREFIX}:bill:*",
    f"{PREFIX}:cost:*",
)
"""Glob patterns of every key the processors' projections write: what `csms replay` wipes and
rebuilds from Kafka. Never the registry, id tokens, API tokens, routes, epochs, commands or
TX16_SEQUENCE - an operator's decisions and ids that must never repeat."""
