"""Shared helpers for the command translation tests."""

from __future__ import annotations

from typing import Any

from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion

from .samples import MINIMAL, V16_OVERRIDES


def body_for(command: str, version: OcppVersion) -> dict[str, Any]:
    if version is OcppVersion.V16 and command in V16_OVERRIDES:
        return V16_OVERRIDES[command]
    return MINIMAL[command]


def check_response(version: OcppVersion, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Make sure a canned station answer is one the version's schema allows, then return it."""
    validator(version, action, response=True)(payload)
    return payload
