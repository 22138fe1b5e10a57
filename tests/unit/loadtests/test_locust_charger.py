"""The Locust charger's state machine, driven through a fake link and a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from loadtests import ocpp_payloads as m
from loadtests.locust_ocpp.answers import CallErrorAnswer
from loadtests.locust_ocpp.charger import (
    REBOOT_NAME,
    STORM_TYPE,
    Charger,
    ChargerConfig,
    backoff_delay,
)
from loadtests.locust_ocpp.transport import CallHandler, ConnectionLost
from loadtests.ocpp_payloads import Payload


class Stop(Exception):
    """Ends a test run once the script has seen enough."""


class FakeRuntime:
    def __init__(self) -> None:
        self.t = 0.0
        self.waits: list[float] = []
        self.sleeps: list[float] = []
        self.woken = False
        self.spawned: list[Callable[[], None]] = []
        self.on_wait: Callable[[float], None] = lambda s: None

    def now(self) -> float:
        return self.t

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.on_wait(seconds)
        if self.woken:
            self.woken = False
            return
        self.t += seconds

    def wake(self) -> None:
        self.woken = True

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def spawn(self, fn: Callable[[], None]) -> Any:
        self.spawned.append(fn)
        return self

    def kill(self, block: bool = False) -> None:
        pass

    def random(self) -> float:
        return 1.0


class FakeLink:
    """Answers like the CSMS; every call is checked against its request schema."""

    def __init__(self, proto: str, boots: list[Payload] | None = None) -> None:
        self.proto = proto
        self.on_call: CallHandler = lambda a, p: CallErrorAnswer("NotImplemented")
        self.on_lost: Callable[[], None] = lambda: None
        self.connected = False
        self.sent: list[tuple[str, Payload]] = []
        self.boots = boots or []
        self.connects = 0
        self.fail_connects = 0
        self.stop_after: Callable[[list[tuple[str, Payload]]], bool] = lambda sent: False
        self.hook: Callable[[str, Payload], None] = lambda a, p: None

    def connect(self) -> None:
        self.connects += 1
        if self.fail_connects:
            self.fail_connects -= 1
            raise OSError("refused")
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def call(self, action: str, payload: Payload) -> Payload:
        if not self.connected:
            raise ConnectionLost("closed")
        validator(OcppVersion(self.proto), action)(payload)
        self.sent.append((action, payload))
        self.hook(action, payload)
        if self.stop_after(self.sent):
            raise Stop
        return self.answer(action, payload)

    def answer(self, action: str, payload: Payload) -> Payload:
        v16 = self.proto == m.V16
        accepted = {"status": "Accepted"}
        if action == "BootNotification":
            boot = self.boots.pop(0) if self.boots else {"status": "Accepted", "interval": 120}
            return {"currentTime": m.now_iso(), **boot}
        if action == "Authorize":
            return {"idTagInfo": accepted} if v16 else {"idTokenInfo": accepted}
        if action == "StartTransaction":
            return {"transactionId": 42, "idTagInfo": accepted}
        if action == "Heartbeat":
            return {"currentTime": m.now_iso()}
        return {}


def make(proto: str, **config: Any) -> tuple[Charger, FakeLink, FakeRuntime]:
    link = FakeLink(proto)
    rt = FakeRuntime()
    reports: list[tuple[str, str, float]] = []
    cfg = ChargerConfig(
        station="CP-1",
        proto=proto,
        meter_interval_s=config.pop("meter_interval_s", 10.0),
        session_s=config.pop("session_s", 35.0),
        idle_s=config.pop("idle_s", 5.0),
        **config,
    )
    charger = Charger(cfg, link, rt, lambda t, n, ms, ln, exc: reports.append((t, n, ms)))
    charger.reports = reports  # type: ignore[attr-defined]
    return charger, link, rt


def actions(link: FakeLink) -> list[str]:
    out = []
    for action, payload in link.sent:
        out.append(f"{action}:{payload['eventType']}" if action == "TransactionEvent" else action)
    return out


def stop_at_second_authorize(sent: list[tuple[str, Payload]]) -> bool:
    return [a for a, _ in sent].count("Authorize") == 2


@pytest.mark.parametrize("proto", [m.V16, m.V201, m.V21])
def test_boot_then_a_full_session(proto: str) -> None:
    charger, link, rt = make(proto)
    link.stop_after = stop_at_second_authorize
    with pytest.raises(Stop):
        charger.run(rounds=1)
    if proto == m.V16:
        session = ["StartTransaction", "StatusNotification"] + ["MeterValues"] * 4
        end = ["StatusNotification", "StopTransaction", "StatusNotification"]
    else:
        session = ["TransactionEvent:Started", "StatusNotification"]
        session += ["TransactionEvent:Updated"] * 4
        end = ["TransactionEvent:Ended", "StatusNotification"]
    assert actions(link) == [
        "BootNotification",
        "StatusNotification",
        "Authorize",
        "StatusNotification",
        *session,
        *end,
        "Authorize",
    ]
    # 35 s session at 10 s: samples at 10, 20, 30 and 35 s, then the 5 s idle.
    assert rt.waits == [10.0, 10.0, 10.0, 5.0, 5.0]
    assert charger.heartbeat_s == 120.0  # the CSMS's interval
    assert len(rt.spawned) == 1  # the heartbeat greenlet
    meters = [p for a, p in link.sent if a in ("MeterValues", "TransactionEvent")]
    if proto == m.V16:
        assert [p["transactionId"] for p in meters[1:]] == [42, 42, 42]
        assert len(meters) == 4
        stop = next(p for a, p in link.sent if a == "StopTransaction")
        assert stop["meterStop"] == 1000 + 3 * round(7400 * 10 / 3600) + round(7400 * 5 / 3600)
    else:
        assert [p["seqNo"] for p in meters] == [0, 1, 2, 3, 4, 5]
        assert len({p["transactionInfo"]["transactionId"] for p in meters}) == 1


def test_pending_boot_waits_the_interval_the_csms_gave() -> None:
    charger, link, rt = make(m.V201, heartbeat_s=30.0)
    link.boots = [{"status": "Pending", "interval": 7}, {"status": "Rejected", "interval": 9}]
    link.stop_after = lambda sent: len(sent) == 4
    with pytest.raises(Stop):
        charger.run(rounds=1)
    assert actions(link)[:3] == ["BootNotification"] * 3
    assert rt.waits[:2] == [7.0, 9.0]
    assert charger.boots == 1 and charger.heartbeat_s == 30.0  # the override wins


def test_reconnects_with_exponential_backoff() -> None:
    charger, link, rt = make(m.V16, backoff_initial_s=1.0, backoff_max_s=5.0)
    link.fail_connects = 4
    link.stop_after = lambda sent: True
    with pytest.raises(Stop):
        charger.run(rounds=5)
    assert link.connects == 5
    assert rt.sleeps == [1.0, 2.0, 4.0, 5.0]  # random() = 1: the top of each jitter range
    assert backoff_delay(3, 1.0, 60.0, 0.0) == 4.0  # jitter floor: half of 8


def test_lost_connection_mid_session_reconnects_and_boots_again() -> None:
    charger, link, rt = make(m.V16)

    def drop_on_first_meter(action: str, payload: Payload) -> None:
        if action == "MeterValues" and link.connects == 1:
            link.connected = False
            raise ConnectionLost("gone")

    link.hook = drop_on_first_meter
    link.stop_after = lambda sent: link.connects == 2 and sent[-1][0] == "Authorize"
    with pytest.raises(Stop):
        charger.run(rounds=2)
    assert actions(link).count("BootNotification") == 2
    assert rt.sleeps == [1.0]  # the backoff before the second connection
    assert charger.boots == 2
    # After the re-boot the interrupted session is closed, not left open at the CSMS.
    reboot = [a for a, _ in link.sent].index("BootNotification", 1)
    after = link.sent[reboot + 1 : reboot + 4]
    assert [a for a, _ in after] == ["StatusNotification", "StopTransaction", "StatusNotification"]
    assert after[1][1]["transactionId"] == 42 and after[1][1]["reason"] == "Other"


def test_remote_start_and_remote_stop_drive_a_session() -> None:
    charger, link, rt = make(m.V201, idle_s=100.0, session_s=1000.0)
    charger.config = ChargerConfig(**{**charger.config.__dict__, "id_tag": "NOT-USED"})
    state = {"phase": 0}

    def on_wait(seconds: float) -> None:
        if state["phase"] == 0 and seconds == 100.0:  # idle after a refused authorization
            state["phase"] = 1
            req = {"idToken": {"idToken": "REMOTE", "type": "ISO14443"}, "remoteStartId": 5}
            assert charger.on_call("RequestStartTransaction", req) == {"status": "Accepted"}
            assert charger.on_call("RequestStartTransaction", req) == {"status": "Rejected"}
        elif state["phase"] == 1 and charger.tx is not None:
            state["phase"] = 2
            wrong = charger.on_call("RequestStopTransaction", {"transactionId": "nope"})
            assert wrong == {"status": "Rejected"}
            tx_id = charger.tx.transaction_id
            ok = charger.on_call("RequestStopTransaction", {"transactionId": tx_id})
            assert ok == {"status": "Accepted"}

    rt.on_wait = on_wait
    original = link.answer

    def refuse_local(action: str, payload: Payload) -> Payload:
        if action == "Authorize":
            return {"idTokenInfo": {"status": "Invalid"}}
        return original(action, payload)

    link.answer = refuse_local  # type: ignore[method-assign]
    link.stop_after = lambda sent: state["phase"] == 2 and sent[-1][0] == "Authorize"
    with pytest.raises(Stop):
        charger.run(rounds=1)
    events = [p for a, p in link.sent if a == "TransactionEvent"]
    assert [e["eventType"] for e in events] == ["Started", "Ended"]
    assert events[0]["triggerReason"] == "RemoteStart"
    assert events[0]["transactionInfo"]["remoteStartId"] == 5
    assert events[0]["idToken"]["idToken"] == "REMOTE"
    assert events[1]["transactionInfo"]["stoppedReason"] == "Remote"
    assert events[1]["triggerReason"] == "RemoteStop"


def test_reset_ends_the_session_and_reboots_at_once() -> None:
    charger, link, rt = make(m.V16)

    def reset_on_first_meter(action: str, payload: Payload) -> None:
        if action == "MeterValues" and link.connects == 1:
            assert charger.on_call("Reset", {"type": "Hard"}) == {"status": "Accepted"}

    link.hook = reset_on_first_meter
    link.stop_after = lambda sent: link.connects == 2 and sent[-1][0] == "StatusNotification"
    with pytest.raises(Stop):
        charger.run(rounds=2)
    stop = next(p for a, p in link.sent if a == "StopTransaction")
    assert stop["reason"] == "HardReset"
    assert actions(link)[-2:] == ["BootNotification", "StatusNotification"]
    assert rt.sleeps == []  # no backoff after a reset


def test_triggered_messages_are_sent_after_the_answer() -> None:
    charger, link, rt = make(m.V16, idle_s=50.0)
    fired = {"done": False}

    def on_wait(seconds: float) -> None:
        if not fired["done"]:
            fired["done"] = True
            answer = charger.on_call("TriggerMessage", {"requestedMessage": "Heartbeat"})
            assert answer == {"status": "Accepted"}
            assert [a for a, _ in link.sent].count("Heartbeat") == 0  # not from the reader

    rt.on_wait = on_wait
    link.stop_after = lambda sent: sent[-1][0] == "Heartbeat"
    with pytest.raises(Stop):
        charger.run(rounds=1)
    assert link.sent[-1][0] == "Heartbeat"


def test_storm_drop_reports_the_time_to_reboot() -> None:
    charger, link, _ = make(m.V201)

    def drop_on_first_meter(action: str, payload: Payload) -> None:
        updated = action == "TransactionEvent" and payload["eventType"] == "Updated"
        if updated and link.connects == 1:
            charger.drop()

    link.hook = drop_on_first_meter
    link.stop_after = lambda sent: link.connects == 2 and sent[-1][0] == "StatusNotification"
    with pytest.raises(Stop):
        charger.run(rounds=2)
    reboots = [r for r in charger.reports if r[:2] == (STORM_TYPE, REBOOT_NAME)]  # type: ignore[attr-defined]
    assert len(reboots) == 1
    assert reboots[0][2] == 1000.0  # the 1 s backoff (random() = 1), in ms


def test_unknown_csms_call_is_not_implemented() -> None:
    charger, _, _ = make(m.V16)
    answer = charger.on_call("UpdateFirmware", {})
    assert isinstance(answer, CallErrorAnswer) and answer.code == "NotImplemented"
