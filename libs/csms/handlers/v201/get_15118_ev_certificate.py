"""2.x Get15118EVCertificate: Failed, because the CSMS has no certificate authority or contract
certificate pool to forward the EV's installation request to (M01/M02). exiResponse is required
by the schema and carries no EXI response in that case."""

from typing import Any

from csms.handlers import CallContext, status_info
from csms.handlers.v201.certificates import NO_CA_INFO, NO_CA_REASON


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {
        "status": "Failed",
        "statusInfo": status_info(NO_CA_REASON, NO_CA_INFO),
        "exiResponse": "",
    }
