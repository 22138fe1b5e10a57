"""2.1 GetCertificateChainStatus: status Failed for every certificate asked about, because the
CSMS has no OCSP/CRL access yet. The schema wants one entry per request with its hash data,
source and a nextUpdate; "now" tells the station it may ask again at any time."""

from typing import Any

from csms.handlers import CallContext, iso_time


async def handle(ctx: CallContext) -> dict[str, Any]:
    now = iso_time(ctx.now_ms)
    statuses = [
        {
            "certificateHashData": request["certificateHashData"],
            "source": request["source"],
            "status": "Failed",
            "nextUpdate": now,
        }
        for request in ctx.payload["certificateStatusRequests"]
    ]
    return {"certificateStatus": statuses}
