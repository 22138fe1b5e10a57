"""Memory per connection of the gateway, with and without permessage-deflate.

    python -m benchmarks.rss_probe --connections 2000 --compression on
    python -m benchmarks.rss_probe --connections 2000 --compression off

A child process runs the real gateway server (sessions, handshake, validation) with Kafka and
Redis replaced by no-ops, so the figure is what each connection costs the gateway, not the
broker client's buffers. The parent opens N connections (offering deflate, as 2.0.1 stations
do), boots each one, and reads the child's VmRSS before and after. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from benchmarks.standins import AcceptAllDecisions, NullPublisher
from csms.handlers import routes
from csms.protocol.validation import warm
from csms.protocol.versions import OcppVersion
from csms.settings import Settings
from services.gateway.context import GatewayContext
from services.gateway.server import start_server

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


def _serve(settings: Settings, ready: Any) -> None:
    async def main() -> None:
        for version in OcppVersion:
            warm(version, routes(version))
        ctx = GatewayContext("gw-probe", NullPublisher(), AcceptAllDecisions(), lambda: 0, 16)
        await start_server(settings, ctx)
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _rss_kib(pid: int) -> int:
    with Path(f"/proc/{pid}/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _open(url: str, n: int, compression: str | None) -> list[ClientConnection]:
    conns: list[ClientConnection] = []
    for i in range(n):
        ws = await connect(
            f"{url}/PROBE-{i}",
            subprotocols=[Subprotocol("ocpp1.6")],
            compression=compression,
        )
        await ws.send(orjson.dumps(BOOT).decode())
        await ws.recv()
        conns.append(ws)
    return conns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--compression", choices=("on", "off"), default="on")
    parser.add_argument(
        "--window-bits", type=int, default=Settings().gateway_compression_window_bits
    )
    parser.add_argument("--mem-level", type=int, default=Settings().gateway_compression_mem_level)
    parser.add_argument("--port", type=int, default=19799)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.connections * 2 + 256), hard))
    settings = replace(
        Settings(),
        gateway_port=args.port,
        gateway_compression=args.compression == "on",
        gateway_compression_window_bits=args.window_bits,
        gateway_compression_mem_level=args.mem_level,
    )
    ready = multiprocessing.Event()
    child = multiprocessing.Process(target=_serve, args=(settings, ready), daemon=True)
    child.start()
    ready.wait(120)
    assert child.pid is not None

    async def measure() -> dict[str, Any]:
        url = f"ws://127.0.0.1:{args.port}/ocpp"
        warmup = await _open(url, 50, "deflate")  # import/JIT-like first-use costs out of the way
        for ws in warmup:
            await ws.close()
        await asyncio.sleep(0.5)
        before = _rss_kib(child.pid or 0)
        conns = await _open(url, args.connections, "deflate")
        await asyncio.sleep(1.0)
        after = _rss_kib(child.pid or 0)
        negotiated = (
            conns[0].response.headers.get("Sec-WebSocket-Extensions") if conns[0].response else None
        )
        for ws in conns:
            await ws.close()
        return {
            "connections": args.connections,
            "compression": args.compression,
            "negotiated": negotiated,
            "window_bits": args.window_bits,
            "mem_level": args.mem_level,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_connection": round((after - before) / args.connections, 1),
        }

    try:
        print(orjson.dumps(asyncio.run(measure())).decode())
    finally:
        child.terminate()
        child.join(10)


if __name__ == "__main__":
    main()
