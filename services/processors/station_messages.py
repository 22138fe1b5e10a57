"""CSMS-initiated CALLs the processors send on their own (the billing's CostUpdated and cost
DataTransfer): fire and forget through the gateway that holds the station (csms.infra.call_bus).

Nobody waits for the answer: the gateway publishes the CALL and the station's answer on
`ocpp.frames` like every frame, and a station that is offline simply misses one cost update
(the next one, or the final bill, supersedes it)."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis

from csms.infra import redis_keys
from csms.infra.call_bus import CallRequest, new_call_id, route_of

log = logging.getLogger(__name__)

SENT = Counter(
    "csms_processor_station_calls_total",
    "CALLs the processors sent to stations, by action and outcome.",
    ["action", "outcome"],  # outcome: sent | offline | unreachable
)
# Where the gateway publishes the answers: a replies channel (the gateway answers nowhere else)
# that nobody listens to - the frames have the answers.
REPLIES = redis_keys.api_replies_channel("processors")
CALL_TIMEOUT_S = 30.0


class RedisStationMessages:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def send(self, station: str, action: str, payload: dict[str, Any]) -> bool:
        route = await route_of(self._redis, station)
        if route is None:
            SENT.labels(action, "offline").inc()
            return False
        request = CallRequest(
            id=new_call_id(),
            station=station,
            action=action,
            payload=payload,
            reply_to=REPLIES,
            timeout_s=CALL_TIMEOUT_S,
            conn=route.conn,
        )
        listeners = await self._redis.publish(
            redis_keys.gateway_calls_channel(route.gateway), request.encode()
        )
        SENT.labels(action, "sent" if listeners else "unreachable").inc()
        return bool(listeners)
