"""The `csms up` the fault runner kills: its own ports, topic prefix, Redis database and state
folder, and its children's pids, health endpoints and API client."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from loadtests.processes import ServiceProcess, csms_argv

SERVICES = ("gateway", "processors", "analytics", "api")
DEADLINE_S = 180.0  # any single wait: recovery, catch-up, replay


class LocalStack:
    """A `csms up` with an environment of its own, killed and inspected from outside.

    With `clickhouse_server`, the analytics sink writes over HTTP (`CLICKHOUSE_URL=http://…`,
    as in production) to a ClickHouse of its own process - an analytics service serving its
    embedded engine's HTTP interface on `port_base + 4`, consuming nothing of the run - so
    that ClickHouse itself can be made unreachable while the sink runs."""

    def __init__(
        self,
        base: Path,
        kafka: str,
        redis_url: str,
        port_base: int,
        *,
        clickhouse_server: bool = False,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        run = uuid.uuid4().hex[:8]
        self.state = base / f"faults-{run}"
        self.state.mkdir(parents=True, exist_ok=True)
        self.ports = {
            "gateway": port_base,
            "api": port_base + 1,
            "analytics": port_base + 2,
            "processors": port_base + 3,
            "clickhouse": port_base + 4,
        }
        self.redis_url = redis_url
        self.kafka = kafka
        self.prefix = f"faults-{run}."
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": kafka,
            "REDIS_URL": redis_url,
            "CSMS_TOPIC_PREFIX": self.prefix,
            "CLICKHOUSE_URL": f"chdb://{self.state / 'clickhouse'}",
            "CLICKHOUSE_HTTP_PORT": str(self.ports["analytics"]),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "GATEWAY_ID": f"gw-faults-{run}",
            "GATEWAY_PROCESSES": "1",  # `kill -9` of "the gateway": all its stations reconnect
            "API_PORT": str(self.ports["api"]),
            "PROCESSORS_APP_ID": f"csms-processors-faults-{run}",
            "PROCESSORS_WEB_PORT": str(self.ports["processors"]),
            "ANALYTICS_GROUP_ID": f"csms-analytics-faults-{run}",
            "ANALYTICS_BATCH_SECONDS": "0.2",
            "CSMS_LOCAL_DIR": str(self.state),
            "CSMS_API_TOKEN": f"faults-admin-{uuid.uuid4().hex}",
            "GATEWAY_RATE_LIMIT_PER_S": "0",
        }
        self.env.update(extra_env or {})
        self.log_path = self.state / "csms.log"
        self.clickhouse_server: ServiceProcess | None = None
        if clickhouse_server:
            self.clickhouse_server = self._clickhouse_server(run)
            self.env["CLICKHOUSE_URL"] = f"http://127.0.0.1:{self.ports['clickhouse']}"
        self.process = ServiceProcess(csms_argv("up"), self.env, self.log_path, append=True)

    def _clickhouse_server(self, run: str) -> ServiceProcess:
        env = {
            **self.env,
            "CSMS_TOPIC_PREFIX": f"faults-{run}-clickhouse.",  # no traffic there
            "ANALYTICS_GROUP_ID": f"csms-analytics-faults-{run}-clickhouse",
            "CLICKHOUSE_HTTP_PORT": str(self.ports["clickhouse"]),
            "CSMS_LOG_LEVEL": "WARNING",
        }
        log = self.state / "clickhouse-server.log"
        return ServiceProcess(csms_argv("analytics"), env, log, self.clickhouse_ping_url)

    @property
    def clickhouse_ping_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['clickhouse']}/ping"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports['gateway']}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def clickhouse_url(self) -> str:
        """Where the frames are queried: the ClickHouse server, or the embedded engine's HTTP
        interface on the analytics service."""
        port = self.ports["clickhouse" if self.clickhouse_server else "analytics"]
        return f"http://127.0.0.1:{port}"

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['CSMS_API_TOKEN']}"}

    def health_url(self, service: str) -> str:
        path = {"gateway": "/health", "api": "/health", "analytics": "/ping"}.get(
            service, "/metrics"
        )
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    async def start(self) -> None:
        """`csms up`, once every service answers its health URL (the ClickHouse server first)."""
        if self.clickhouse_server is not None:
            self.clickhouse_server.start()
            await self.clickhouse_server.wait_healthy_async(DEADLINE_S)
        self.process.start()
        urls = [self.health_url(service) for service in SERVICES]
        await self.process.wait_healthy_async(DEADLINE_S, *urls)

    async def stop(self) -> None:
        """SIGTERM (`csms up` stops its children), then SIGKILL to its group after 60 s; the
        ClickHouse server last."""
        await self.process.stop_async(60)
        if self.clickhouse_server is not None:
            await self.clickhouse_server.stop_async(60)

    def child_pid(self, service: str) -> int | None:
        path = self.state / "run" / "csms-children.json"
        try:
            children = json.loads(path.read_text(encoding="utf-8"))["children"]
        except (FileNotFoundError, ValueError, KeyError):
            return None
        pid = children.get(service, {}).get("pid")
        return int(pid) if pid else None

    async def healthy(self, service: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(self.health_url(service))).status_code == 200
        except httpx.HTTPError:
            return False

    async def until(self, probe: Any, what: str, within_s: float = DEADLINE_S) -> float:
        """Seconds until `await probe()` is true; raises with the log tail after `within_s`."""
        start = time.monotonic()
        while time.monotonic() - start < within_s:
            if self.process.returncode is not None:
                raise RuntimeError(f"csms up exited:\n{self.log_tail()}")
            if await probe():
                return time.monotonic() - start
            await asyncio.sleep(0.1)
        raise TimeoutError(f"never: {what}\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.process.log_tail(6000)


def api_client(stack: LocalStack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.api_url, headers=stack.api_headers, timeout=10)
