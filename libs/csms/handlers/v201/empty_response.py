"""2.x actions whose response is empty: status, meter values, reports and notifications. The
frame itself is the record: it is in Kafka before this answer is sent, and projections read it
from there."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {}
