"""The session rules as pure functions."""

from __future__ import annotations

import pytest

from csms.protocol.errors import Failure, FrameRejected
from csms.protocol.framing import Call
from csms.protocol.versions import OcppVersion
from services.gateway.policy import (
    CLOSE_BINARY,
    CLOSE_FLOOD,
    CLOSE_IDLE,
    check_call,
)

HEARTBEAT = Call("1", "Heartbeat", {})
BOOT = Call("2", "BootNotification", {})


@pytest.mark.parametrize("status", ["Pending", "Rejected"])
def test_only_boot_notification_while_not_accepted(status: str) -> None:
    check_call(status, OcppVersion.V201, 0, True, BOOT)
    with pytest.raises(FrameRejected) as info:
        check_call(status, OcppVersion.V201, 0, True, HEARTBEAT)
    assert info.value.failure is Failure.SECURITY
    assert info.value.action == "Heartbeat"


@pytest.mark.parametrize("status", ["Accepted", ""])
def test_accepted_or_unknown_stations_may_send_anything(status: str) -> None:
    check_call(status, OcppVersion.V16, 0, True, HEARTBEAT)


def test_outstanding_call_rule_is_2x_only_and_switchable() -> None:
    check_call("Accepted", OcppVersion.V16, 3, True, HEARTBEAT)
    check_call("Accepted", OcppVersion.V201, 1, False, HEARTBEAT)
    for version in (OcppVersion.V201, OcppVersion.V21):
        with pytest.raises(FrameRejected) as info:
            check_call("Accepted", version, 1, True, HEARTBEAT)
        assert info.value.failure is Failure.RPC_FRAMEWORK


def test_close_reasons_are_short_fixed_texts() -> None:
    for code, reason in (CLOSE_BINARY, CLOSE_FLOOD, CLOSE_IDLE):
        assert 1000 <= code < 1016
        assert len(reason.encode()) <= 123
