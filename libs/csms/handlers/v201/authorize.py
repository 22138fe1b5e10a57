"""2.x Authorize: idTokenInfo from the authorization read model.

The optional certificateStatus (ISO 15118 contract certificates) is left out: without a
certificate authority or OCSP access the CSMS can vouch for no certificate."""

from typing import Any

from csms.handlers import CallContext, token_info
from csms.handlers.v201.id_token_info import id_token_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    info = await token_info(ctx, ctx.payload["idToken"]["idToken"])
    return {"idTokenInfo": id_token_info(info)}
