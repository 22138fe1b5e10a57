"""One live connection per station, on one gateway and across two gateways sharing Redis."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from csms.infra import redis_keys
from services.gateway.connections import REPLACED_CODE, REPLACED_REASON, Connections
from tests.unit.gateway.fakes import RecordingPublisher
from tests.unit.gateway.helpers import make_context, redis_db7, running, ws_connect

PORT_A, PORT_B = 19783, 19784


async def _until_closed(ws: object) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10)  # type: ignore[attr-defined]
    return ws.close_code, ws.close_reason  # type: ignore[attr-defined]


async def test_second_connection_replaces_the_first_on_the_same_gateway() -> None:
    publisher = RecordingPublisher()
    ctx = make_context(publisher, connections=Connections("gw-test"))
    async with running(ctx, PORT_A):
        async with ws_connect(PORT_A, "CP-DUP") as old, ws_connect(PORT_A, "CP-DUP") as new:
            assert await _until_closed(old) == (REPLACED_CODE, REPLACED_REASON)
            await new.send(orjson.dumps([2, "h", "Heartbeat", {}]).decode())
            assert orjson.loads(await new.recv())[:2] == [3, "h"]
        await asyncio.sleep(0.05)
    events = [(e.kind, e.conn) for e in publisher.envelopes if e.kind in {"connect", "disconnect"}]
    conns = [conn for _, conn in events]
    old_conn, new_conn = conns[0], conns[1]
    assert old_conn != new_conn
    assert ("disconnect", old_conn) in events
    assert ("disconnect", new_conn) in events


async def test_station_moving_to_another_gateway_takes_the_route_and_evicts_the_old() -> None:
    async with redis_db7() as redis:
        conns_a, conns_b = Connections("gw-a", redis), Connections("gw-b", redis)
        pub_a, pub_b = RecordingPublisher(), RecordingPublisher()
        ctx_a = make_context(pub_a, gateway_id="gw-a", connections=conns_a)
        ctx_b = make_context(pub_b, gateway_id="gw-b", connections=conns_b)
        listeners = [asyncio.create_task(c.listen(sweep_every_s=60)) for c in (conns_a, conns_b)]
        try:
            await asyncio.sleep(0.1)  # subscribed
            async with running(ctx_a, PORT_A), running(ctx_b, PORT_B):
                async with ws_connect(PORT_A, "CP-MOVE") as on_a:
                    await on_a.send(orjson.dumps([2, "1", "Heartbeat", {}]).decode())
                    await on_a.recv()
                    route = await redis.hgetall(redis_keys.station_route("CP-MOVE"))
                    assert (route["gateway"], route["epoch"]) == ("gw-a", "1")
                    async with ws_connect(PORT_B, "CP-MOVE") as on_b:
                        assert await _until_closed(on_a) == (REPLACED_CODE, REPLACED_REASON)
                        await on_b.send(orjson.dumps([2, "2", "Heartbeat", {}]).decode())
                        assert orjson.loads(await on_b.recv())[:2] == [3, "2"]
                        route = await redis.hgetall(redis_keys.station_route("CP-MOVE"))
                        assert (route["gateway"], route["epoch"]) == ("gw-b", "2")
                await asyncio.sleep(0.05)
                # The last connection is gone: so is its route; the old one never deleted it.
                assert await redis.exists(redis_keys.station_route("CP-MOVE")) == 0
        finally:
            for task in listeners:
                task.cancel()
            await asyncio.gather(*listeners, return_exceptions=True)
    # Nothing lost: each gateway published its frames and both sessions' disconnects.
    assert [e.kind for e in pub_a.envelopes if e.kind != "result"] == [
        "connect",
        "call",
        "disconnect",
    ]
    assert ("in", "call", "Heartbeat") in pub_b.kinds()
    assert pub_b.kinds()[-1] == ("in", "disconnect", "")


async def test_sweep_closes_sessions_that_redis_says_are_stale() -> None:
    async with redis_db7() as redis:
        conns = Connections("gw-a", redis)
        ctx = make_context(RecordingPublisher(), gateway_id="gw-a", connections=conns)
        async with running(ctx, PORT_A), ws_connect(PORT_A, "CP-STALE") as ws:
            await ws.send(orjson.dumps([2, "1", "Heartbeat", {}]).decode())
            await ws.recv()
            assert await conns.sweep() == 0
            # Another gateway took the station while this one missed the pub/sub message.
            await redis.hset(redis_keys.station_route("CP-STALE"), "epoch", "99")
            assert await conns.sweep() == 1
            assert (await _until_closed(ws))[0] == REPLACED_CODE
