"""The local authorization list: sending it (full or differential) and asking its version."""

from __future__ import annotations

from typing import Any

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.translators.shapes import (
    V16,
    _call,
    _compact,
    _id_token,
    _opt_dt,
    _opt_id_token,
)
from csms.protocol.versions import OcppVersion


def _v16_list_entry(e: m.LocalListEntry) -> dict[str, Any]:
    info = None
    if e.status is not None:
        parent = e.group_id_token.id if e.group_id_token else None
        info = _compact(status=e.status, expiryDate=_opt_dt(e.expires_at), parentIdTag=parent)
    return _compact(idTag=e.id_token.id, idTagInfo=info)


def _v2_list_entry(e: m.LocalListEntry) -> dict[str, Any]:
    info = None
    if e.status is not None:
        info = _compact(
            status=e.status,
            cacheExpiryDateTime=_opt_dt(e.expires_at),
            groupIdToken=_opt_id_token(e.group_id_token),
        )
    return _compact(idToken=_id_token(e.id_token), idTokenInfo=info)


def send_local_list(p: m.SendLocalListCommand, v: OcppVersion) -> list[OcppCall]:
    update = "Full" if p.update_type == "full" else "Differential"
    if v is V16:
        entries = [_v16_list_entry(e) for e in p.entries]
        # A full update with no entries clears the list: say so with an explicit empty list
        # (1.6 allows it; 2.x requires the field to be left out instead).
        return _call(
            "SendLocalList",
            listVersion=p.list_version,
            updateType=update,
            localAuthorizationList=entries if entries or update == "Full" else None,
        )
    entries = [_v2_list_entry(e) for e in p.entries]
    return _call(
        "SendLocalList",
        versionNumber=p.list_version,
        updateType=update,
        localAuthorizationList=entries or None,
    )


def get_local_list_version(_: m.GetLocalListVersionCommand, v: OcppVersion) -> list[OcppCall]:
    return _call("GetLocalListVersion")
