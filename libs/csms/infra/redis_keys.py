"""The Redis key layout: one place that names every key, so writers and readers agree.

The keys of the read models (stations, transactions, id tokens, device models, bills, tariffs)
are named by their own module in csms.readmodels, next to their codec; they are re-exported here
under their historical names for the code that addresses Redis as a whole (the replay's wipe,
dumps, tests). The keys named here are routing and infrastructure: the station registry, routes
and connection epochs, pub/sub channels, operator commands, API tokens, the 1.6 transactionId
counter, and the 1.6 inference step's working state.
"""

from __future__ import annotations

from csms.readmodels import bills, device_models, id_tokens, stations, tariffs, transactions
from csms.readmodels.base import PREFIX

# Integer counter: OCPP 1.6 transactionIds, unique across every gateway of the network.
TX16_SEQUENCE = f"{PREFIX}:seq:tx16"

# --- the read models' keys (csms.readmodels) --------------------------------------------------
STATIONS = stations.STATIONS_KEY
station = stations.station_key
station_connectors = stations.connectors_key
TRANSACTIONS = transactions.TRANSACTIONS_KEY
ACTIVE_TRANSACTIONS = transactions.ACTIVE_KEY
transaction = transactions.transaction_key
station_transactions = transactions.station_index_key
station_active_transactions = transactions.station_active_key
remote_start = transactions.remote_start_key
pending_call = transactions.pending_key
ID_TOKENS = id_tokens.ID_TOKENS_KEY
id_token = id_tokens.id_token_key
device_model = device_models.device_model_key
device_call = device_models.device_call_key
bill = bills.bill_key
cost_checkpoint = bills.checkpoint_key
TARIFFS = tariffs.TARIFFS_KEY
TARIFF_ASSIGNMENTS = tariffs.ASSIGNMENTS_KEY
tariff = tariffs.tariff_key

# --- routing and infrastructure -----------------------------------------------------------------


def inference16(station_id: str) -> str:
    """Hash: 1.6 event inference state: "<connectorId>" -> JSON of
    csms.domain.inference16.ConnectorState, "_model" -> "<vendor>\t<model>"."""
    return f"{PREFIX}:inf16:{station_id}"


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
    """Hash: name, role (analyst/operator/admin), created_ms, expires_ms ("0" = never) — one
    operator API bearer token, keyed by the SHA-256 hex of the token (the token itself is never
    stored)."""
    return f"{PREFIX}:apitoken:{digest}"


API_TOKEN_NAMES = f"{PREFIX}:apitokens"
"""Hash: API token name -> SHA-256 hex of the token (names are unique; revoke by name)."""

REGISTERED_STATIONS = f"{PREFIX}:registered"
"""Set: station ids an operator registered (API or CLI); with STATIONS, the station list (a station
registered before it ever connected is listed too)."""


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
