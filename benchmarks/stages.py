"""Cost per frame of each stage of the gateway's hot path, measured in isolation.

    python -m benchmarks.stages [--frames 20000] [--kafka 127.0.0.1:9092]

Stages, on the MeterValues-heavy mix of `loadtests.burst` (8/10 MeterValues with 4 samples):
parse (orjson + OCPP-J framing), validate (precompiled schema), handle (route table + answer),
envelope (build + encode the Kafka value), produce (the gateway's FramePublisher on librdkafka,
acks=all, zstd, many frames in flight: CPU of the whole process per frame, librdkafka's threads
included), answer (CALLRESULT text). WebSocket I/O is what remains of the
gateway's CPU per CALL in `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks.standins import AcceptAllDecisions
from csms.envelope import FrameEnvelope, new_event_id
from csms.handlers import CallContext, routes
from csms.protocol import framing
from csms.protocol.validation import validate_call, warm
from csms.protocol.versions import OcppVersion
from csms.settings import Settings
from loadtests.burst import mixed_frame
from services.gateway.kafka_sink import LibrdkafkaSink
from services.gateway.publisher import FramePublisher

V16 = OcppVersion.V16


def _per_frame_us(fn: Callable[[], Any], frames: int) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) / frames * 1e6


def _envelope(text: str, call: framing.Call) -> FrameEnvelope:
    ts = 1_764_000_000_000
    return FrameEnvelope(
        id=new_event_id(ts),
        ts=ts,
        station="CP-1",
        gw="gw",
        conn="c",
        proto="ocpp1.6",
        dir="in",
        kind="call",
        uid=call.uid,
        action=call.action,
        frame=text,
    )


async def _produce_us(settings: Settings, envelopes: list[FrameEnvelope]) -> float:
    topic = f"stages-{uuid.uuid4().hex[:8]}"
    sink = LibrdkafkaSink(settings, topic, client_id="stages")
    await sink.start()
    publisher = FramePublisher(sink, max_inflight=len(envelopes) + 1)
    try:
        await (await publisher.publish(envelopes[0]))  # warm-up: topic created, connections up
        start = time.process_time()
        acks = [await publisher.publish(env) for env in envelopes]
        await asyncio.gather(*acks)
        return (time.process_time() - start) / len(envelopes) * 1e6
    finally:
        await sink.stop()
        await publisher.close()


def measure(frames: int, kafka: str | None) -> dict[str, float]:
    texts = [mixed_frame(i, 1) for i in range(frames)]
    calls = [framing.parse(t) for t in texts]
    assert all(isinstance(c, framing.Call) for c in calls)
    table = routes(V16)
    warm(V16, table)
    decisions = AcceptAllDecisions()

    def parse() -> None:
        for t in texts:
            framing.parse(t)

    def validate() -> None:
        for c in calls:
            assert isinstance(c, framing.Call)
            validate_call(V16, c.uid, c.action, c.payload)

    async def handle_all() -> list[dict[str, Any]]:
        out = []
        for c in calls:
            assert isinstance(c, framing.Call)
            out.append(await table[c.action](CallContext("CP-1", V16, c.payload, 0, decisions)))
        return out

    def envelope() -> None:
        for t, c in zip(texts, calls, strict=True):
            assert isinstance(c, framing.Call)
            env = _envelope(t, c)
            env.encode()
            env.key()
            env.headers()

    def answer() -> None:
        for c in calls:
            framing.call_result_text(c.uid, {})

    result = {
        "parse": _per_frame_us(parse, frames),
        "validate": _per_frame_us(validate, frames),
        "handle": _per_frame_us(lambda: asyncio.run(handle_all()), frames),
        "envelope (in + out frame)": 2 * _per_frame_us(envelope, frames),
        "answer text": _per_frame_us(answer, frames),
    }
    if kafka:
        envelopes = [
            _envelope(t, c)
            for t, c in zip(texts, calls, strict=True)
            if isinstance(c, framing.Call)
        ]
        settings = Settings(kafka_bootstrap=kafka)
        result["produce (in + out frame)"] = 2 * asyncio.run(_produce_us(settings, envelopes))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--kafka", default="127.0.0.1:9092", help="empty to skip the produce stage")
    args = parser.parse_args()
    stages = measure(args.frames, args.kafka or None)
    print("| stage (CPU per CALL) | µs |\n|---|---|")
    for name, us in stages.items():
        print(f"| {name} | {us:.1f} |")
    print(f"| **sum** | **{sum(stages.values()):.1f}** |")
    print(json.dumps(stages))


if __name__ == "__main__":
    main()
