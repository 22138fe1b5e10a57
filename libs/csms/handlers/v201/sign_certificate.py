"""2.x SignCertificate: Rejected with a reason, because the CSMS has no certificate authority
yet. A02/A03 let the CSMS reject a CSR; the station keeps its current certificate and no
CertificateSigned request follows."""

from typing import Any

from csms.handlers import CallContext, status_info
from csms.handlers.v201.certificates import NO_CA_INFO, NO_CA_REASON


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": status_info(NO_CA_REASON, NO_CA_INFO)}
