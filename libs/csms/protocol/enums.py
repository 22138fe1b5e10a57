"""OCPP enumerations shared by more than one part of the CSMS (one definition each)."""

from __future__ import annotations

from typing import Literal, get_args

# AuthorizationStatusEnumType of 2.0.1 and 2.1 (identical); 1.6's five values are a subset.
AuthorizationStatus = Literal[
    "Accepted",
    "Blocked",
    "ConcurrentTx",
    "Expired",
    "Invalid",
    "NoCredit",
    "NotAllowedTypeEVSE",
    "NotAtThisLocation",
    "NotAtThisTime",
    "Unknown",
]
AUTHORIZATION_STATUSES: frozenset[str] = frozenset(get_args(AuthorizationStatus))
