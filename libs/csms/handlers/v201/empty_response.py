"""2.0.1 actions whose response is empty (StatusNotification, MeterValues, NotifyReport, …)."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {}
