"""2.x GetCertificateStatus: Failed, because the CSMS has no OCSP access to relay the request
to (M06); the station then keeps using its cached OCSP response, if any."""

from typing import Any

from csms.handlers import CallContext, status_info
from csms.handlers.v201.certificates import NO_CA_INFO, NO_CA_REASON


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "Failed", "statusInfo": status_info(NO_CA_REASON, NO_CA_INFO)}
