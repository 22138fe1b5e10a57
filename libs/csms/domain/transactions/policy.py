"""The zombie policy: when the CSMS closes a transaction the station never closed
(`zombie_reason`, `life_ms`), and the `csms.policy` envelope that does it (`policy_close`)."""

from __future__ import annotations

import orjson

from csms.domain.model import Transaction
from csms.domain.transactions.facts import ACTIVE
from csms.envelope import FrameEnvelope

# The action of the `csms.policy` envelope that closes a transaction (see `policy_close`).
POLICY_CLOSE = "CloseTransaction"


def policy_close(tx: Transaction, reason: str, now_ms: int, event_id: str) -> FrameEnvelope:
    """The `csms.policy` envelope that closes a transaction the station never closed."""
    payload = {"transaction_id": tx.transaction_id, "reason": reason}
    return FrameEnvelope(
        id=event_id,
        ts=now_ms,
        station=tx.station,
        gw="csms-policy",
        conn="",
        proto=tx.proto,
        dir="out",
        kind="policy",
        uid=event_id,
        action=POLICY_CLOSE,
        frame=orjson.dumps(payload).decode(),
    )


def life_ms(tx: Transaction) -> int:
    """The last sign of life of an active transaction (gateway clock): its own last frame, or
    the station's reboot, which starts the reboot grace."""
    return max(tx.activity_ms, tx.boot_ms, tx.updated_ms if tx.activity_ms == 0 else 0)


def zombie_reason(tx: Transaction, now_ms: int, *, idle_after_ms: int, reboot_grace_ms: int) -> str:
    """Why the policy should close this transaction now ("" = leave it): the station rebooted
    and the session never showed up again, or nothing of it was heard for too long."""
    if tx.state != ACTIVE or tx.policy_reason:
        return ""
    if tx.boot_ms > tx.activity_ms and now_ms - tx.boot_ms >= reboot_grace_ms:
        return "StationRebooted"
    if now_ms - life_ms(tx) >= idle_after_ms:
        return "Timeout"
    return ""
