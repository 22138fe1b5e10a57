"""1.6 security extension SignCertificate: Rejected, because the CSMS has no certificate
authority yet. The white paper lets the Central System reject a CSR it cannot sign; the
station keeps its current certificate and may retry later. No CertificateSigned.req follows."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "Rejected"}
