"""1.6 IdTagInfo from the neutral token decision (shared by Authorize, Start/StopTransaction)."""

from typing import Any

from csms.handlers import TokenInfo, iso_time

# The 1.6 AuthorizationStatus vocabulary; 2.x-only refusals (NoCredit, NotAtThisLocation, …)
# have no 1.6 name, and a refusal must stay a refusal, so they become Invalid.
STATUSES = frozenset({"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"})
PARENT_ID_TAG_MAX = 20


def id_tag_info(info: TokenInfo) -> dict[str, Any]:
    status = info.status if info.status in STATUSES else "Invalid"
    result: dict[str, Any] = {"status": status}
    if info.expiry_ms is not None:
        result["expiryDate"] = iso_time(info.expiry_ms)
    # A group longer than 1.6 allows cannot be sent truncated (it would name another tag).
    if info.group and len(info.group) <= PARENT_ID_TAG_MAX:
        result["parentIdTag"] = info.group
    return result
