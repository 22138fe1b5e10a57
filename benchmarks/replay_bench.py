"""How fast `csms replay` rebuilds the read models: N realistic envelopes into a topic of their
own, then one timed replay.

    python -m benchmarks.replay_bench --frames 1000000 [--workers 2] [--stations 2500]
        [--store redis]

Half the stations speak 1.6, half 2.0.1. Each boots, reports its connector, then charges
session after session: Authorize, Preparing, Start (StartTransaction / TransactionEvent
Started), Charging, a meter value every minute for an hour (MeterValues / TransactionEvent
Updated), Stop (StopTransaction / Ended), Available - every CALL with its CALLRESULT, as the
gateway records them, stations interleaved. The frames go to a `bench-replay-<id>-` prefixed
topic with librdkafka (zstd); the replay runs in this process against Redis DB 7 (override with
--redis-url) with a consumer group of its own; topics, group and the Redis DB are removed at the
end (--keep keeps them). Targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
import uuid
from pathlib import Path

from redis import Redis

from csms.infra.kafka import ensure_topics
from csms.settings import LOCAL_STATE_DIR, Settings, Topics
from loadtests.corpus import cleanup, produce
from services.replay.main import replay


def disk_mb(prefix: str) -> str:
    """Bytes on disk of the run's topics, when the broker is the local stack's (stack.sh)."""
    data = LOCAL_STATE_DIR / "kafka" / "data"
    if not data.is_dir():
        return "n/a"
    sizes: dict[str, int] = {}
    for folder in data.iterdir():
        if folder.name.startswith(prefix):
            topic = folder.name.rsplit("-", 1)[0].removeprefix(prefix)
            size = sum(f.stat().st_size for f in folder.glob("*.log"))  # indexes are sparse
            sizes[topic] = sizes.get(topic, 0) + size
    return ", ".join(f"{t} {b / 1e6:.0f} MB" for t, b in sorted(sizes.items())) or "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=0, help="default: frames / 400")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--keep", action="store_true", help="keep topics, group and Redis DB")
    parser.add_argument("--json", type=Path, help="also write the figures here (make bench)")
    args = parser.parse_args()
    for url in (args.kafka, args.redis_url):
        if "127.0.0.1" not in url and "localhost" not in url:
            raise SystemExit(f"refusing a non-local target: {url}")
    run = uuid.uuid4().hex[:8]
    stations = args.stations or max(1, args.frames // 400)
    settings = Settings(
        kafka_bootstrap=args.kafka,
        topics=Topics(prefix=f"bench-replay-{run}-"),
        redis_url=args.redis_url,
        processors_app_id=f"bench-replay-{run}",
    )
    Redis.from_url(args.redis_url).flushdb()
    try:
        asyncio.run(ensure_topics(settings))
        size, produce_s = produce(settings, args.frames, stations, run)
        print(
            f"produced {args.frames} envelopes of {stations} stations "
            f"({size / args.frames:.0f} B each, {size / 1e6:.0f} MB) in {produce_s:.1f} s"
        )
        started = time.monotonic()
        code = asyncio.run(replay(settings, workers=args.workers, store=args.store))
        seconds = time.monotonic() - started
        peak_mb = (
            max(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            )
            / 1024
        )
        print(
            f"replay exit {code}: {args.frames} frames in {seconds:.1f} s = "
            f"{args.frames / seconds:,.0f} frames/s with {args.workers} worker(s), store "
            f"{args.store}, "
            f"on {os.cpu_count()} cores; peak RSS {peak_mb:.0f} MB"
        )
        if args.json:
            rate = args.frames / seconds
            figures = {"frames": args.frames, "workers": args.workers, "frames_per_s": round(rate)}
            args.json.write_text(json.dumps({**figures, "minutes_10m": round(1e7 / rate / 60, 1)}))
        keys = Redis.from_url(args.redis_url).dbsize()
        print(f"read model: {keys} Redis keys; Kafka on disk: {disk_mb(settings.topics.prefix)}")
    finally:
        if not args.keep:
            cleanup(settings, args.redis_url)


if __name__ == "__main__":
    main()
