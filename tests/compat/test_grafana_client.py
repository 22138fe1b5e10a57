"""Grafana's ClickHouse data source against the local endpoint: the Go client it is built on
(clickhouse-go/v2 over HTTP, tests/compat/grafana_go) run against a real socket on a temp chDB.

The Go module cache lives under the repo's git-ignored .local/, so a clean clone fetches
clickhouse-go through the machine's Go proxy the first time (a few minutes of building once).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from csms.infra.clickhouse import ClickHouse, chdb_path
from csms.settings import PROJECT_ROOT
from services.analytics.http_endpoint import (
    LocalEngine,
    Users,
    bind_socket,
    make_app,
    make_server,
    password_sha256,
)

pytestmark = pytest.mark.compat  # built with Go: `make compat`, not `make test`

GO_PROGRAM = PROJECT_ROOT / "tests" / "compat" / "grafana_go"
GO_CACHE = PROJECT_ROOT / ".local" / "go"
PASSWORD = "s3cret analyst"

# (ts, station, evse, measurand, value, sample_index); the program's expected answers follow.
ROWS = [
    ("2025-03-01 08:00:00.250", "CP-1", 1, "Power.Active.Import", 1000.0, 0),
    ("2025-03-01 08:00:30.000", "CP-1", 1, "Power.Active.Import", 2000.0, 1),
    ("2025-03-01 08:00:10.000", "CP-2", 2, "Power.Active.Import", 7000.0, 0),
    ("2025-03-01 08:00:40.000", "CP-1", 1, "Energy.Active.Import.Register", 5.0, 2),
    ("2025-03-01 08:01:05.000", "CP-1", 1, "Power.Active.Import", 3000.0, 3),
    ("2025-03-01 10:00:00.000", "CP-1", 1, "Power.Active.Import", 9000.0, 4),  # out of range
]


def go_env() -> dict[str, str]:
    return {
        **os.environ,
        "GOMODCACHE": str(GO_CACHE / "mod"),
        "GOCACHE": str(GO_CACHE / "cache"),
        # Deletable cache; no VCS stamping (the program sits inside the repo's work tree).
        "GOFLAGS": f"{os.environ.get('GOFLAGS', '')} -modcacherw -buildvcs=false".strip(),
        "GOTOOLCHAIN": "local",
    }


async def run(*argv: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    # Bounded, not timed: a cold module cache downloads and compiles clickhouse-go.
    output, _ = await asyncio.wait_for(process.communicate(), timeout=900)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.fixture(scope="module")
def go() -> str:
    path = shutil.which("go")
    if path is None:
        pytest.fail(
            "the Go toolchain is not on PATH: tests/compat/grafana_go (Grafana's ClickHouse "
            "client) needs it; install Go (CI has it)",
            pytrace=False,
        )
    return path


@pytest.fixture
async def endpoint(clickhouse: ClickHouse, tmp_path: Path) -> AsyncIterator[str]:
    await clickhouse.run(
        clickhouse.client.insert,
        "meter_values",
        [
            [datetime.fromisoformat(ts).replace(tzinfo=UTC), station, evse, m, v, i]
            for ts, station, evse, m, v, i in ROWS
        ],
        column_names=["ts", "station", "evse", "measurand", "value", "sample_index"],
    )
    engine = await clickhouse.run(LocalEngine, chdb_path(clickhouse.url))
    users = Users.from_dict({"analyst": {"password_sha256": password_sha256(PASSWORD)}})
    sock = bind_socket("127.0.0.1", 0)
    sock.listen(16)  # connections wait in the backlog until the server has started
    server = make_server(make_app(clickhouse, engine, users), "127.0.0.1", 0)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        await clickhouse.run(engine.close)


async def test_grafana_go_client(go: str, endpoint: str, tmp_path: Path) -> None:
    binary = tmp_path / "grafana_go"
    code, output = await run(go, "build", "-o", str(binary), ".", cwd=GO_PROGRAM, env=go_env())
    assert code == 0, f"go build failed:\n{output}"
    code, output = await run(
        str(binary), "-addr", endpoint, "-user", "analyst", "-password", PASSWORD,
        cwd=tmp_path, env=go_env(),
    )  # fmt: skip
    assert code == 0, output
    assert output.splitlines()[-1] == "OK"
    for check in ("ping", "time series", "types", "readonly", "wrong password"):
        assert f"ok {check}" in output
