"""2.1 VatNumberValidation: Rejected with a reason, because no VAT validation service is
configured; the answer echoes the number (and EVSE) it is about, as the schema requires, and
carries no company data, so the station issues its receipt without a validated VAT number."""

from typing import Any

from csms.handlers import CallContext, status_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "vatNumber": ctx.payload["vatNumber"],
        "status": "Rejected",
        "statusInfo": status_info("NoVatValidator"),
    }
    if "evseId" in ctx.payload:
        answer["evseId"] = ctx.payload["evseId"]
    return answer
