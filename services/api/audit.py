"""The API's record on Kafka: every state-changing call with who made it (`csms.audit`), and
every operator command with its outcome (`ocpp.commands`).

Records are JSON, key = the station id (or the resource id), so one station's commands stay in
order in one partition. Secrets never reach a record: callers pass only what may be kept, and
`redact` blanks the fields known to carry credentials.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer

from csms.infra.kafka import make_producer
from csms.settings import Settings

log = logging.getLogger(__name__)

SECRET_FIELDS = frozenset(
    {"password", "password_hash", "token", "authorizationkey", "secret", "basicauthpassword"}
)
REDACTED = "***"


def redact(value: Any) -> Any:
    """A copy of `value` with every field named like a secret blanked (recursively)."""
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SECRET_FIELDS else redact(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class AuditSink(Protocol):
    async def record(self, topic: str, key: str, record: dict[str, Any]) -> None: ...


class KafkaAudit:
    """AuditSink on Kafka (acks=all): a state change is answered only once it is recorded."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # Created here, inside the server's event loop (not when the app object is built).
        self._producer = make_producer(self._settings, client_id="csms-api")
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def record(self, topic: str, key: str, record: dict[str, Any]) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaAudit.start() first")
        await self._producer.send_and_wait(topic, orjson.dumps(record), key=key.encode())


def audit_record(actor: str, role: str, action: str, **fields: Any) -> dict[str, Any]:
    """The common shape: id, ts (epoch ms), actor, role, action, then the action's fields."""
    return {
        "id": uuid.uuid4().hex,
        "ts": int(time.time() * 1000),
        "actor": actor,
        "role": role,
        "action": action,
        **redact(fields),
    }
