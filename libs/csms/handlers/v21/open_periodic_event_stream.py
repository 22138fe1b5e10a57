"""2.1 OpenPeriodicEventStream: Rejected. A stream's data comes as NotifyPeriodicEventStream
SEND frames (MessageTypeId 6), which this CSMS does not take yet; rejecting the stream makes the
station report through NotifyEvent instead of streaming into the void."""

from typing import Any

from csms.handlers import CallContext, status_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": status_info("NotSupported")}
