"""1.6 actions whose confirmation is empty (StatusNotification, MeterValues, notifications)."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {}
