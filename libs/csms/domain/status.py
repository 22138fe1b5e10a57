"""Station and connector status, projected from frames of every version (pure).

* connect / disconnect envelopes -> online, connected_ts / disconnected_ts, gateway, conn.
  A station that reconnects to another gateway may have its new `connect` published before the
  old gateway notices the dead socket, so a `disconnect` only counts for the current connection
  and a `connect` older than the current one is ignored.
* every inbound frame -> last_seen (the latest gateway receive time).
* BootNotification (1.6 chargePoint*; 2.x chargingStation.*) -> vendor, model, firmware,
  serial, boot_ts, protocol.
* StatusNotification -> ConnectorStatus: 1.6 connectorId N is EVSE N / connector 1 and 0 is the
  station (0/0); 2.x gives evseId / connectorId. The reported status is kept verbatim (2.x
  has no error code: ""); the timestamp is the station's, else the envelope's.

Every merge is monotone, keyed by the connection id or ordered by the gateway's receive time, so
re-applying a frame (or a whole replay over the read model) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from csms.domain.frames import OCPP2X, as_dict, as_int, as_str, inbound_call, parse_ts
from csms.domain.model import ConnectorStatus
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion
from csms.text import as_text


@dataclass(frozen=True, slots=True)
class StationState:
    """The facts about one station that its frames tell (the Redis station hash)."""

    station: str
    protocol: str = ""
    online: bool = False
    last_seen: int = 0
    gateway: str = ""
    conn: str = ""
    vendor: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    boot_ts: int = 0
    connected_ts: int = 0
    disconnected_ts: int = 0

    def to_fields(self) -> dict[str, str]:
        """Hash fields as strings: online is "1"/"0", times are epoch ms (0 = never)."""
        out: dict[str, str] = {}
        for name in _HASH_FIELDS:
            value = getattr(self, name)
            out[name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def from_fields(cls, station: str, hash_fields: Mapping[Any, Any]) -> StationState:
        """Parse a Redis hash (str or bytes keys/values); missing or bad fields take defaults."""
        raw = {as_text(k): as_text(v) for k, v in hash_fields.items()}
        values: dict[str, Any] = {}
        for name, is_int in _HASH_TYPES.items():
            if name not in raw:
                continue
            if name == "online":
                values[name] = raw[name] == "1"
            elif is_int:
                values[name] = int(raw[name]) if raw[name].lstrip("-").isdigit() else 0
            else:
                values[name] = raw[name]
        return cls(station=station, **values)

    def changed_fields(self, before: StationState | None) -> dict[str, str]:
        """The hash fields that differ from `before` (all of them for a new station)."""
        if before is None:
            return self.to_fields()
        # Compared as values, converted only when they differ (usually last_seen alone).
        out: dict[str, str] = {}
        for name in _HASH_FIELDS:
            value = getattr(self, name)
            if value != getattr(before, name):
                out[name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


# Computed once: dataclasses.fields() per frame was a measurable share of the processors' CPU.
_HASH_TYPES = {f.name: f.type in ("int", int) for f in fields(StationState) if f.name != "station"}
_HASH_FIELDS = tuple(_HASH_TYPES)
_CONNECTOR_FIELDS = tuple(f.name for f in fields(ConnectorStatus))


def apply_station(state: StationState | None, env: FrameEnvelope) -> StationState:
    """Fold one envelope into the station's facts; returns a new object."""
    st = state if state is not None else StationState(station=env.station)
    if env.kind == "connect":
        return _connect(st, env)
    if env.kind == "disconnect":
        return _disconnect(st, env)
    if env.dir != "in":
        return st
    if env.ts > st.last_seen:  # a copy only when it moves (a replay of old frames: never)
        st = replace(st, last_seen=env.ts)
    call = inbound_call(env)
    if call is not None and call[0] == "BootNotification" and env.ts >= st.boot_ts:
        return _boot(st, env, call[1])
    return st


def connector_statuses(env: FrameEnvelope) -> list[ConnectorStatus]:
    """The connector status a StatusNotification reports ([] for any other frame)."""
    call = inbound_call(env)
    if call is None or call[0] != "StatusNotification":
        return []
    payload = call[1]
    if env.proto == OcppVersion.V16:
        connector_id = as_int(payload.get("connectorId"))
        if connector_id is None or connector_id < 0:
            return []
        evse, connector = connector_id, 1 if connector_id > 0 else 0
        status, error_code = as_str(payload.get("status")), as_str(payload.get("errorCode"))
    elif env.proto in OCPP2X:
        evse_id, connector_id = as_int(payload.get("evseId")), as_int(payload.get("connectorId"))
        if evse_id is None or connector_id is None or evse_id < 0 or connector_id < 0:
            return []
        evse, connector = evse_id, connector_id
        status, error_code = as_str(payload.get("connectorStatus")), ""
    else:
        return []
    if not status:
        return []
    return [
        ConnectorStatus(
            station=env.station,
            evse=evse,
            connector=connector,
            status=status,
            error_code=error_code,
            ts_ms=parse_ts(payload.get("timestamp"), env.ts),
            proto=env.proto,
            event_id=env.id,
        )
    ]


def connector_field(status: ConnectorStatus) -> str:
    """The field of the station's connectors hash: "<evse>/<connector>"."""
    return f"{status.evse}/{status.connector}"


def connector_json(status: ConnectorStatus, received_ms: int) -> dict[str, Any]:
    """The value stored under connector_field: the whole ConnectorStatus (the same shape as the
    `csms.status` topic's values; the timestamp is `ts_ms`) plus the gateway's receive time."""
    # A flat dataclass: read its fields directly (asdict's recursive copy cost ≈ 30 µs).
    out = {name: getattr(status, name) for name in _CONNECTOR_FIELDS}
    out["received_ms"] = received_ms
    return out


Verdict = Literal["apply", "republish", "skip"]


def status_verdict(
    status: ConnectorStatus, received_ms: int, stored: Mapping[str, Any] | None
) -> Verdict:
    """What the edge does with a notification, given the stored one (see connector_json).

    "apply" (save and publish) when it is newer by the gateway's receive time - the order of the
    station's partition, not the station's clock, which is wrong after many reboots - so a
    redelivered older notification neither regresses the read model nor is published again.
    "republish" when it is the stored notification itself: a crash between the Redis write and
    Kafka having the message redelivers exactly that frame. "skip" otherwise.
    """
    if stored is None:
        return "apply"
    if stored.get("event_id") == status.event_id:
        return "republish"
    previous = stored.get("received_ms")
    if isinstance(previous, bool) or not isinstance(previous, int):
        return "apply"  # written by someone else: ours is the better-known fact
    return "apply" if received_ms >= previous else "skip"


def _connect(st: StationState, env: FrameEnvelope) -> StationState:
    if env.conn == st.conn or env.ts < st.connected_ts:
        return st  # a redelivered or an overtaken connect
    return replace(
        st,
        online=True,
        conn=env.conn,
        gateway=env.gw,
        protocol=env.proto or st.protocol,
        connected_ts=env.ts,
        last_seen=max(st.last_seen, env.ts),
    )


def _disconnect(st: StationState, env: FrameEnvelope) -> StationState:
    if st.conn and env.conn != st.conn:
        return st  # the end of a connection the station already replaced
    return replace(
        st,
        online=False,
        conn=env.conn,
        gateway=st.gateway or env.gw,
        disconnected_ts=max(st.disconnected_ts, env.ts),
    )


def _boot(st: StationState, env: FrameEnvelope, payload: dict[str, Any]) -> StationState:
    if env.proto == OcppVersion.V16:
        vendor = as_str(payload.get("chargePointVendor"))
        model = as_str(payload.get("chargePointModel"))
        firmware = as_str(payload.get("firmwareVersion"))
        # chargeBoxSerialNumber is the deprecated spelling some firmware still sends.
        serial = as_str(payload.get("chargePointSerialNumber")) or as_str(
            payload.get("chargeBoxSerialNumber")
        )
    elif env.proto in OCPP2X:
        station = as_dict(payload.get("chargingStation"))
        vendor = as_str(station.get("vendorName"))
        model = as_str(station.get("model"))
        firmware = as_str(station.get("firmwareVersion"))
        serial = as_str(station.get("serialNumber"))
    else:
        return st
    return replace(
        st,
        protocol=env.proto,
        vendor=vendor,
        model=model,
        firmware=firmware,
        serial=serial,
        boot_ts=env.ts,
    )
