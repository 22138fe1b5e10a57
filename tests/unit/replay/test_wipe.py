"""Wiping the read model removes the projection keys and nothing an operator decided."""

from __future__ import annotations

from redis.asyncio import Redis

from csms.infra import redis_keys as keys
from csms.infra.redis_dump import snapshot
from services.replay.wipe import read_model_keys, wipe_read_model
from tests.unit.replay.corpus import corpus
from tests.unit.replay.folding import fold_into

KEPT = {
    keys.TX16_SEQUENCE: "string",
    keys.registration("CP16-wipe-0"): "hash",
    keys.REGISTERED_STATIONS: "set",
    keys.id_token("04E1F2A3"): "hash",
    keys.ID_TOKENS: "zset",
    keys.api_token("ab" * 32): "hash",
    keys.API_TOKEN_NAMES: "hash",
    keys.station_route("CP16-wipe-0"): "hash",
    keys.station_epoch("CP16-wipe-0"): "string",
    keys.command("cmd-1"): "hash",
}


async def keep_these(redis: Redis) -> None:
    for key, kind in KEPT.items():
        if kind == "string":
            await redis.set(key, "41")
        elif kind == "hash":
            await redis.hset(key, mapping={"status": "Accepted"})
        elif kind == "set":
            await redis.sadd(key, "CP16-wipe-0")
        else:
            await redis.zadd(key, {"04E1F2A3": 0})


async def test_wipe_keeps_every_key_that_is_not_a_projection(redis: Redis) -> None:
    await keep_these(redis)
    await fold_into(redis, corpus("wipe", stations=2))
    projections = await snapshot(redis)
    assert len(projections) > 20
    assert await read_model_keys(redis) == len(projections)

    assert await wipe_read_model(redis, batch=3) == len(projections)

    remaining = {k: await redis.type(k) async for k in redis.scan_iter()}
    assert remaining == KEPT
    assert await redis.get(keys.TX16_SEQUENCE) == "41"
    assert await wipe_read_model(redis) == 0
