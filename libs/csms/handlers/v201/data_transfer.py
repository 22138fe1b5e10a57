"""2.x DataTransfer: no vendor extension is registered yet, so every vendor id is unknown."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "UnknownVendorId"}
