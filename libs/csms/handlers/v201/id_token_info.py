"""2.x IdTokenInfo from the neutral token decision (shared by Authorize and TransactionEvent)."""

from typing import Any

from csms.handlers import TokenInfo, iso_time
from csms.protocol.enums import AUTHORIZATION_STATUSES

# A status outside AuthorizationStatusEnumType from the read model is a data error, and a
# refusal is the safe reading of it.
# 2.0.1 allows 36 characters in an idToken (2.1 allows 255): the stricter bound serves both.
GROUP_ID_TOKEN_MAX = 36
# The group is a token the CSMS itself defines, hence type Central (valid in 2.0.1 and 2.1).
GROUP_TOKEN_TYPE = "Central"  # noqa: S105 - an OCPP token type, not a secret


def id_token_info(info: TokenInfo) -> dict[str, Any]:
    status = info.status if info.status in AUTHORIZATION_STATUSES else "Invalid"
    result: dict[str, Any] = {"status": status}
    if info.expiry_ms is not None:
        result["cacheExpiryDateTime"] = iso_time(info.expiry_ms)
    if info.group and len(info.group) <= GROUP_ID_TOKEN_MAX:
        result["groupIdToken"] = {"idToken": info.group, "type": GROUP_TOKEN_TYPE}
    return result
