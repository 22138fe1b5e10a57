"""Users of the local endpoint: credentials as ClickHouse takes them, readonly=1 analysts."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import clickhouse_connect
import httpx
import pytest

from csms.infra.clickhouse import ClickHouse
from services import cli
from services.analytics.http_endpoint import (
    EndpointError,
    LocalEngine,
    Users,
    UsersConfigError,
    bind_socket,
    check_bind,
    credentials,
    make_app,
    make_server,
    password_sha256,
)

ANALYST_PW = "an4lyst"
WRITER_PW = "wr1ter"
USERS = {
    "analyst": {"password_sha256": password_sha256(ANALYST_PW), "readonly": True},
    "writer": {"password_sha256": password_sha256(WRITER_PW), "readonly": False},
}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- pure ---------------------------------------------------------------------------------------


def test_users_file_is_validated(tmp_path: Path) -> None:
    good = Users.from_dict({"a": {"password_sha256": "AB" * 32}})
    assert good.by_name["a"].readonly is True  # readonly unless said otherwise
    assert good.by_name["a"].password_sha256 == "ab" * 32
    assert "ab" not in repr(good.by_name["a"])  # never in logs
    bad = [
        ({}, "non-empty JSON object"),
        ({"a": {"password_sha256": "xyz"}}, "64 hex digits"),
        ({"a": {"password_sha256": "ab" * 32, "readonly": "yes"}}, "true or false"),
        ({"a": {"password_sha256": "ab" * 32, "password": "p"}}, "unknown keys"),
        ({"a b": {"password_sha256": "ab" * 32}}, "names are"),
        ({"a": "secret"}, "expected an object"),
    ]
    for raw, message in bad:
        with pytest.raises(UsersConfigError, match=message):
            Users.from_dict(raw)
    with pytest.raises(UsersConfigError, match="cannot read users file"):
        Users.load(str(tmp_path / "missing.json"))
    broken = tmp_path / "users.json"
    broken.write_text("{")
    with pytest.raises(UsersConfigError, match="not valid JSON"):
        Users.load(str(broken))
    assert not Users.load("").configured


def test_credentials_like_clickhouse() -> None:
    assert credentials({}, {}) == ("default", "")
    assert credentials({k.lower(): v for k, v in basic("a", "p:q").items()}, {}) == ("a", "p:q")
    assert credentials({"x-clickhouse-user": "a", "x-clickhouse-key": "k"}, {}) == ("a", "k")
    assert credentials({}, {"user": "a", "password": "k"}) == ("a", "k")
    with pytest.raises(EndpointError) as both:
        credentials({"x-clickhouse-user": "a"}, {"user": "a"})
    assert both.value.code == 516
    with pytest.raises(EndpointError):
        credentials({"authorization": "Bearer t"}, {})


def test_authenticate() -> None:
    users = Users.from_dict(USERS)
    assert users.authenticate("analyst", ANALYST_PW).readonly
    for name, password in [("analyst", "wrong"), ("analyst", ""), ("nobody", ANALYST_PW)]:
        with pytest.raises(EndpointError) as failed:
            users.authenticate(name, password)
        assert failed.value.code == 516
    assert not Users.open().authenticate("default", "").readonly
    with pytest.raises(EndpointError):
        Users.open().authenticate("default", "some password")


def test_no_users_means_loopback_only() -> None:
    check_bind("127.0.0.1", Users.open())
    check_bind("::1", Users.open())
    check_bind("localhost", Users.open())
    with pytest.raises(UsersConfigError, match="ANALYTICS_HTTP_USERS"):
        check_bind("0.0.0.0", Users.open())
    check_bind("0.0.0.0", Users.from_dict(USERS))


# -- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
async def http(clickhouse: ClickHouse, engine: LocalEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(clickhouse, engine, Users.from_dict(USERS))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ch.test") as client:
        yield client


async def test_authentication_failures(http: httpx.AsyncClient) -> None:
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),  # `default` is not configured
        (basic("analyst", "wrong"), {}),
        ({"X-ClickHouse-User": "nobody", "X-ClickHouse-Key": "x"}, {}),
    ]
    for headers, params in attempts:
        response = await http.post("/", params=params, headers=headers, content=b"SELECT 1")
        assert response.status_code == 403  # ClickHouse's status for 516
        assert response.headers["X-ClickHouse-Exception-Code"] == "516"
        assert "AUTHENTICATION_FAILED" in response.text
        assert "wrong" not in response.text
    assert (await http.get("/ping")).status_code == 200


async def test_three_ways_to_log_in(http: httpx.AsyncClient) -> None:
    ways: list[tuple[dict[str, str], dict[str, str]]] = [
        (basic("analyst", ANALYST_PW), {}),
        ({"X-ClickHouse-User": "analyst", "X-ClickHouse-Key": ANALYST_PW}, {}),
        ({}, {"user": "analyst", "password": ANALYST_PW}),
    ]
    for headers, params in ways:
        response = await http.post("/", params=params, headers=headers, content=b"SELECT 1")
        assert (response.status_code, response.text) == (200, "1\n")


async def test_readonly_user(http: httpx.AsyncClient) -> None:
    auth = basic("analyst", ANALYST_PW)

    async def code(sql: str, **params: str) -> str:
        response = await http.post("/", params=params, headers=auth, content=sql.encode())
        return str(response.headers.get("X-ClickHouse-Exception-Code", "ok"))

    assert await code("SELECT count() FROM meter_values") == "ok"
    assert await code("SHOW TABLES") == "ok"
    assert await code("DESCRIBE TABLE meter_values") == "ok"
    assert await code("EXISTS TABLE meter_values") == "ok"
    assert await code("EXPLAIN SELECT 1") == "ok"
    assert await code("INSERT INTO status_events (station) VALUES ('x')") == "164"
    assert await code("CREATE TABLE t (x UInt8) ENGINE = Memory") == "164"
    assert await code("SET max_threads = 1") == "164"
    # Settings: a change is refused, the current value and the tools' allowances are not.
    assert await code("SELECT 1", max_threads="3") == "164"
    assert await code("SELECT 1", max_execution_time="35") == "ok"
    assert await code("SELECT 1", readonly="1") == "ok"
    assert await code("SELECT 1", date_time_input_format="best_effort") == "ok"
    # The engine's own readonly=1: no table functions that reach outside, no SETTINGS escape.
    assert await code("SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')") == "164"
    assert await code("SELECT 1 SETTINGS readonly = 0") == "164"
    assert await code("SELECT file('/etc/hostname')") == "164"
    assert await code("SELECT 1 INTO OUTFILE '/tmp/x.tsv'") == "164"


async def test_readonly_does_not_leak_to_writers(http: httpx.AsyncClient) -> None:
    ro = await http.post("/", headers=basic("analyst", ANALYST_PW), content=b"SELECT 1")
    assert ro.status_code == 200
    writer = basic("writer", WRITER_PW)
    insert = b"INSERT INTO status_events (station) VALUES ('CP-9')"
    assert (await http.post("/", headers=writer, content=insert)).status_code == 200
    count = await http.post(
        "/", headers=basic("analyst", ANALYST_PW), content=b"SELECT count() FROM status_events"
    )
    assert count.text == "1\n"
    setting = await http.post("/", params={"max_threads": "3"}, headers=writer, content=b"SELECT 1")
    assert setting.status_code == 200


async def test_clickhouse_connect_as_readonly_user(
    clickhouse: ClickHouse, engine: LocalEngine
) -> None:
    sock = bind_socket("127.0.0.1", 0)
    sock.listen(16)
    port = sock.getsockname()[1]
    server = make_server(make_app(clickhouse, engine, Users.from_dict(USERS)), "127.0.0.1", 0)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    def analyst() -> tuple[object, ...]:
        client = clickhouse_connect.get_client(
            host="127.0.0.1", port=port, username="analyst", password=ANALYST_PW
        )
        try:
            sql = (
                "SELECT toLowCardinality('a') AS lc, [1, 2] AS arr, map('k', 1) AS m, "
                "toDateTime64('2025-03-01 08:00:00.250', 3, 'UTC') AS ts, "
                "toNullable(1.5) AS n FROM numbers(2)"
            )
            rows = client.query(sql).result_rows
            frame = client.query_df(sql)
            table = client.query_arrow(sql)
            return client.protocol_version, rows, len(frame), table.num_rows
        finally:
            client.close()

    try:
        version, rows, frame_rows, arrow_rows = await asyncio.to_thread(analyst)
    finally:
        server.should_exit = True
        await task
    assert version == 54405  # its client_protocol_version probe now succeeds
    assert isinstance(rows, list) and len(rows) == 2
    assert rows[0][:3] == ("a", [1, 2], {"k": 1})
    assert (frame_rows, arrow_rows) == (2, 2)


def test_cli_prints_a_users_file_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("pw of grafana\n"))
    assert cli.main(["analytics-user", "add", "grafana"]) == 0
    entry = json.loads(capsys.readouterr().out)
    users = Users.from_dict(entry)
    assert users.authenticate("grafana", "pw of grafana").readonly
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert cli.main(["analytics-user", "add", "bad name"]) == 2
