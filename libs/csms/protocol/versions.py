"""The OCPP versions the CSMS speaks, named by their WebSocket subprotocol."""

from __future__ import annotations

from enum import StrEnum


class OcppVersion(StrEnum):
    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"
    V21 = "ocpp2.1"

    @property
    def is_2x(self) -> bool:
        return self is not OcppVersion.V16


# Server preference when a client offers several: the newest version it supports.
SUBPROTOCOLS: tuple[str, ...] = (OcppVersion.V21, OcppVersion.V201, OcppVersion.V16)


def negotiate(offered: list[str]) -> OcppVersion | None:
    """Pick the newest version both sides speak; None when the client offers none of ours."""
    offered_set = {p.strip() for p in offered}
    for proto in SUBPROTOCOLS:
        if proto in offered_set:
            return OcppVersion(proto)
    return None
