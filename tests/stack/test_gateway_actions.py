"""Every routed charger-initiated action of 1.6J, 2.0.1 and 2.1 through the real stack: one
charger per version sends one valid CALL of each action, gets a CALLRESULT that obeys the
version's response schema, and finds its CALL (and the answer) on Kafka."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
import websockets

from csms.handlers import routes
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from tests.stack.conftest import Stack
from tests.unit.handlers.requests import minimal_request

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:6]
STATIONS = {version: f"ACT-{version.value.removeprefix('ocpp')}-{RUN}" for version in OcppVersion}


def _actions(version: OcppVersion) -> list[str]:
    # BootNotification first, as a real station would; the rest in a stable order.
    rest = sorted(a for a in routes(version) if a != "BootNotification")
    return ["BootNotification", *rest]


async def _exchange(stack: Stack, version: OcppVersion) -> dict[str, tuple[str, Any]]:
    """uid -> (action, answer frame) for one CALL of every routed action, sent one at a time."""
    answers: dict[str, tuple[str, Any]] = {}
    url = stack.ws_url(STATIONS[version])
    async with websockets.connect(url, subprotocols=[version.value]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == version.value
        for n, action in enumerate(_actions(version)):
            uid = f"{RUN}-{n}"
            await ws.send(orjson.dumps([2, uid, action, minimal_request(version, action)]).decode())
            answers[uid] = (action, orjson.loads(await asyncio.wait_for(ws.recv(), 15)))
    return answers


@pytest.fixture(scope="module")
async def exchanges(stack: Stack) -> dict[OcppVersion, dict[str, tuple[str, Any]]]:
    results = await asyncio.gather(*(_exchange(stack, v) for v in OcppVersion))
    return dict(zip(OcppVersion, results, strict=True))


@pytest.mark.parametrize("version", list(OcppVersion))
async def test_every_action_gets_a_schema_valid_callresult(
    exchanges: dict[OcppVersion, dict[str, tuple[str, Any]]], version: OcppVersion
) -> None:
    answered = exchanges[version]
    assert sorted(action for action, _ in answered.values()) == sorted(routes(version))
    for uid, (action, frame) in answered.items():
        assert frame[:2] == [3, uid], f"{version} {action} answered {frame}"
        validator(version, action, response=True)(frame[2])
    boot = next(frame for action, frame in answered.values() if action == "BootNotification")
    assert boot[2]["status"] == "Accepted"  # the stack runs with open admission


async def test_every_call_and_its_answer_are_on_kafka(
    stack: Stack, exchanges: dict[OcppVersion, dict[str, tuple[str, Any]]]
) -> None:
    # One call and one result per action, plus connect/disconnect per station.
    expected = sum(2 * len(answered) for answered in exchanges.values())
    frames = await stack.read_frames(set(STATIONS.values()), expected)
    for version, answered in exchanges.items():
        mine = [f for f in frames if f.station == STATIONS[version]]
        assert {f.proto for f in mine} == {version.value}
        calls = {(f.uid, f.action) for f in mine if (f.dir, f.kind) == ("in", "call")}
        results = {(f.uid, f.action) for f in mine if (f.dir, f.kind) == ("out", "result")}
        sent = {(uid, action) for uid, (action, _) in answered.items()}
        assert calls == sent
        assert results == sent
        assert not [f for f in mine if f.err], "no CALL was rejected"
