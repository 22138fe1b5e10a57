"""The Locust chargers' transport: message-id matching, reporting, CSMS calls (fake socket)."""

from __future__ import annotations

import json
from typing import Any

import gevent
import pytest

from loadtests.locust_ocpp.answers import CallErrorAnswer
from loadtests.locust_ocpp.transport import (
    CallFailed,
    CallTimeout,
    ConnectionLost,
    Transport,
    basic_auth,
    request_type,
)
from loadtests.ocpp_payloads import Payload

Report = tuple[str, str, float, int, BaseException | None]


class FakeWs:
    """Answers each CALL through the transport's own dispatch, after a scheduler turn."""

    def __init__(self, transport: Transport, answer: Any) -> None:
        self.connected = True
        self.sent: list[Any] = []
        self.transport = transport
        self.answer = answer  # frame tail after [kind, uid], or None for silence

    def send(self, text: str) -> None:
        frame = json.loads(text)
        self.sent.append(frame)
        if frame[0] == 2 and self.answer is not None:
            reply = json.dumps([self.answer[0], frame[1], *self.answer[1:]])
            gevent.spawn(self.transport._dispatch, self, reply)


def make(answer: Any, timeout: float = 5.0) -> tuple[Transport, FakeWs, list[Report]]:
    reports: list[Report] = []
    t = Transport(
        "ws://127.0.0.1:1/ocpp/CP-9",
        "ocpp2.0.1",
        lambda *r: reports.append(r),
        call_timeout_s=timeout,
    )
    ws = FakeWs(t, answer)
    t._ws = ws  # type: ignore[assignment]
    return t, ws, reports


def test_result_is_matched_and_reported_under_the_action() -> None:
    t, ws, reports = make([3, {"status": "Accepted", "interval": 60}])
    assert t.call("BootNotification", {"reason": "PowerUp"})["interval"] == 60
    assert ws.sent[0][:3] == [2, ws.sent[0][1], "BootNotification"]
    [(kind, name, ms, length, exc)] = reports
    assert (kind, name, exc) == ("OCPP2.0.1", "BootNotification", None)
    assert ms >= 0 and length > 0


def test_callerror_and_timeout_are_failures() -> None:
    t, _, reports = make([4, "SecurityError", "no", {}])
    with pytest.raises(CallFailed) as failed:
        t.call("Authorize", {})
    assert failed.value.code == "SecurityError"
    assert isinstance(reports[-1][4], CallFailed) and reports[-1][1] == "Authorize"
    t, _, reports = make(None, timeout=0.05)
    with pytest.raises(CallTimeout):
        t.call("Heartbeat", {})
    assert isinstance(reports[-1][4], CallTimeout)


def test_deliberate_close_fails_waiting_calls_unreported() -> None:
    t, _, reports = make(None)
    waiting = gevent.spawn(t.call, "Heartbeat", {})
    gevent.sleep(0)
    t.close()
    with pytest.raises(ConnectionLost):
        waiting.get(timeout=1)
    assert reports == []
    with pytest.raises(ConnectionLost):
        t.call("Heartbeat", {})


def test_csms_calls_are_answered_and_reported() -> None:
    t, ws, reports = make(None)

    def handler(action: str, payload: Payload) -> Payload | CallErrorAnswer:
        return {"status": "Accepted"} if action == "Reset" else CallErrorAnswer("NotImplemented")

    t.on_call = handler
    t._dispatch(ws, json.dumps([2, "u1", "Reset", {"type": "Immediate"}]))  # type: ignore[arg-type]
    t._dispatch(ws, json.dumps([2, "u2", "GetLog", {}]))  # type: ignore[arg-type]
    assert ws.sent[0] == [3, "u1", {"status": "Accepted"}]
    assert ws.sent[1][:3] == [4, "u2", "NotImplemented"]
    assert [(r[0], r[1], r[4]) for r in reports] == [
        ("CSMS-OCPP2.0.1", "Reset", None),
        ("CSMS-OCPP2.0.1", "GetLog (NotImplemented)", None),
    ]


def test_helpers() -> None:
    assert request_type("ocpp2.1") == "OCPP2.1"
    assert basic_auth("CP-1", "secret") == "Authorization: Basic Q1AtMTpzZWNyZXQ="
    assert Transport("ws://h/ocpp/CP-7", "ocpp1.6", lambda *r: None).station == "CP-7"
