"""2.0.1 DataTransfer: no vendor extension is registered yet."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "UnknownVendorId"}
