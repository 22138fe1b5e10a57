"""The local ClickHouse endpoint against an analyst (a readonly user), over real HTTP on the real
embedded engine: no write, no schema or system change, no settings change (SET, URL parameters,
SETTINGS clauses), no file, URL, remote server or process reached through functions or table
functions — however the statement is spelled (comments, quoted names, several statements in one
request) — each answered with a ClickHouse error and nothing executed; SELECTs still work.

What "nothing executed" means is checked: the rows, tables and settings as before, a TCP
listener that no statement connected to, a secret file whose content never comes back, and no
file written."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from csms.infra.clickhouse import ClickHouse, chdb_path
from csms.infra.migrate import migrate
from services.analytics.http_endpoint import (
    LocalEngine,
    Users,
    bind_socket,
    make_app,
    make_server,
    password_sha256,
)
from services.analytics.http_endpoint.readonly_guard import check_canonical, forbidden_functions

ANALYST = ("analyst", "an4lyst-pw")
WRITER = ("writer", "wr1ter-pw")
SECRET = "TOPSECRET-4711"


def _basic(user: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(":".join(user).encode()).decode()}


class Listener:
    """A TCP port that counts connections: what url(), s3(), remote() … would connect to."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@dataclass
class Endpoint:
    client: httpx.AsyncClient
    listener: Listener
    secret: Path
    out: Path  # where INTO OUTFILE / file() writes would land

    async def post(
        self, sql: str, user: tuple[str, str] = ANALYST, params: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            "/", params=params, headers=_basic(user), content=sql.encode()
        )

    async def scalar(self, sql: str, user: tuple[str, str] = WRITER) -> str:
        answer = await self.post(sql, user)
        assert answer.status_code == 200, answer.text
        return answer.text.strip()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.sock.close()


@pytest.fixture(scope="module")
async def endpoint(
    tmp_path_factory: pytest.TempPathFactory, listener: Listener
) -> AsyncIterator[Endpoint]:
    folder = tmp_path_factory.mktemp("readonly")
    secret = folder / "secret.txt"
    secret.write_text(SECRET + "\n")
    ch = await ClickHouse.open(f"chdb://{folder / 'clickhouse'}")
    engine = None
    try:
        await ch.run(migrate, ch.client)
        engine = await ch.run(LocalEngine, chdb_path(ch.url))
        users = Users.from_dict({
            ANALYST[0]: {"password_sha256": password_sha256(ANALYST[1]), "readonly": True},
            WRITER[0]: {"password_sha256": password_sha256(WRITER[1]), "readonly": False},
        })  # fmt: skip
        sock = bind_socket("127.0.0.1", 0)
        sock.listen(16)
        server = make_server(make_app(ch, engine, users), "127.0.0.1", 0)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                seeded = Endpoint(client, listener, secret, folder / "out")
                insert = "INSERT INTO status_events (station) VALUES ('CP-1')"
                assert (await seeded.post(insert, WRITER)).status_code == 200
                yield seeded
        finally:
            server.should_exit = True
            await task
    finally:
        if engine is not None:
            await ch.run(engine.close)
        await ch.close()


async def _state(endpoint: Endpoint) -> tuple[str, ...]:
    """What no analyst statement may change, read by the writer."""
    return (
        await endpoint.scalar("SELECT count() FROM status_events"),
        await endpoint.scalar("SHOW TABLES"),
        await endpoint.scalar("SHOW DATABASES"),
        await endpoint.scalar("SELECT name, value FROM system.settings WHERE changed"),
        await endpoint.scalar("SELECT getSetting('readonly')", ANALYST),
    )


async def _refused(
    endpoint: Endpoint, sql: str, params: dict[str, str] | None = None
) -> str | None:
    """None when refused with a ClickHouse error leaking nothing; else what went wrong."""
    answer = await endpoint.post(sql, params=params)
    code = answer.headers.get("X-ClickHouse-Exception-Code")
    if answer.status_code < 400 or code is None or not answer.text.startswith(f"Code: {code}."):
        return f"{answer.status_code} {code} {answer.text[:120]!r}"
    if SECRET in answer.text:
        return "the secret came back"
    return None


async def test_an_analyst_still_reads(endpoint: Endpoint) -> None:
    for sql, expected in [
        ("SELECT count() FROM status_events", "1"),
        ("SELECT station FROM status_events FORMAT JSONEachRow", '{"station":"CP-1"}'),
        ("SELECT sum(number) FROM numbers(4)", "6"),
        ("SELECT format('{}-{}', 'a', 'b'), 'file(' AS not_a_call", "a-b\tfile("),
        ("WITH 2 AS x SELECT x * {y:UInt8}", "6"),
        ("EXISTS TABLE meter_values", "1"),
    ]:
        answer = await endpoint.post(sql, params={"param_y": "3"})
        assert (answer.status_code, answer.text.strip()) == (200, expected), sql
    for sql in ["SHOW TABLES", "DESCRIBE TABLE meter_values", "EXPLAIN SELECT 1"]:
        assert (await endpoint.post(sql)).status_code == 200, sql


WRITES = [
    "INSERT INTO status_events (station) VALUES ('CP-X')",
    "INSERT INTO status_events SELECT * FROM status_events",
    "CREATE TABLE t (x UInt8) ENGINE = Memory",
    "CREATE DATABASE evil",
    "CREATE VIEW v AS SELECT 1",
    "CREATE USER mallory IDENTIFIED WITH no_password",
    "DROP TABLE status_events",
    "DROP DATABASE default",
    "ALTER TABLE status_events ADD COLUMN x UInt8",
    "ALTER TABLE status_events DELETE WHERE 1",
    "ALTER TABLE status_events MODIFY TTL toDateTime(ts) + INTERVAL 1 DAY",
    "DELETE FROM status_events WHERE 1",
    "UPDATE status_events SET status = 'x' WHERE 1",
    "TRUNCATE TABLE status_events",
    "OPTIMIZE TABLE status_events FINAL",
    "RENAME TABLE status_events TO gone",
    "EXCHANGE TABLES status_events AND meter_values",
    "DETACH TABLE status_events",
    "ATTACH TABLE status_events",
    "GRANT ALL ON *.* TO analyst",
    "REVOKE SELECT ON *.* FROM writer",
    "KILL QUERY WHERE 1",
    "BACKUP TABLE status_events TO File('b')",
    "SYSTEM STOP MERGES",
    "SYSTEM DROP DNS CACHE",
    "SYSTEM RELOAD CONFIG",
    "SYSTEM FLUSH LOGS",
    "SET readonly = 0",
    "SET max_memory_usage = 1",
    "SET allow_ddl = 1",
    "USE system",
    "/* SELECT */ DROP TABLE status_events",
    "-- SELECT\nTRUNCATE TABLE status_events",
    "(DROP TABLE status_events)",
    "SELECT 1; DROP TABLE status_events",
    "SELECT 1;\nINSERT INTO status_events (station) VALUES ('CP-Y')",
    "WITH 1 AS x INSERT INTO status_events (station) VALUES ('CP-Z')",
]


async def test_no_write_schema_system_or_set_statement_runs(endpoint: Endpoint) -> None:
    before = await _state(endpoint)
    faults = {sql: fault for sql in WRITES if (fault := await _refused(endpoint, sql))}
    assert faults == {}
    assert await _state(endpoint) == before


async def test_no_setting_changes_however_it_is_sent(endpoint: Endpoint) -> None:
    before = await _state(endpoint)
    attempts: list[tuple[str, dict[str, str]]] = [
        ("SELECT 1", {"readonly": "0"}),
        ("SELECT 1", {"readonly": "2"}),
        ("SELECT 1", {"max_memory_usage": "1"}),
        ("SELECT 1", {"max_threads": "64"}),
        ("SELECT 1", {"max_result_rows": "1"}),
        ("SELECT 1", {"allow_ddl": "0"}),
        ("SELECT 1", {"no_such_setting": "1"}),
        ("SELECT 1 SETTINGS readonly = 0", {}),
        ("SELECT 1 SETTINGS max_memory_usage = 1", {}),
        ("SELECT 1 SETTINGS max_execution_time = 3600", {}),
        ("SELECT * FROM status_events SETTINGS max_threads = 64", {}),
    ]
    faults = {f"{sql} {p}": f for sql, p in attempts if (f := await _refused(endpoint, sql, p))}
    assert faults == {}
    # What tools send on their own is accepted (and not applied), as a server's analyst profile;
    # so is a setting's current value, which is no change (ClickHouse's rule).
    for params in ({"readonly": "1"}, {"max_execution_time": "30"}, {"max_result_rows": "0"}):
        assert (await endpoint.post("SELECT 1", params=params)).status_code == 200
    assert await _state(endpoint) == before


def _reaching(listener: Listener, secret: Path, out: Path) -> list[str]:
    url = f"http://127.0.0.1:{listener.port}"
    host = f"127.0.0.1:{listener.port}"
    return [
        f"SELECT file('{secret}')",
        f"SELECT file/**/('{secret}')",
        f"SELECT `file`('{secret}')",
        f"SELECT \"file\"('{secret}')",
        f"SELECT FILE('{secret}')",
        f"SELECT * FROM file('{secret}', 'LineAsString')",
        f"DESCRIBE TABLE file('{secret}', 'LineAsString')",
        f"SELECT * FROM sqlite('{secret}', 't')",
        f"SELECT * FROM filesystem('{secret.parent}')",
        f"SELECT 1 INTO OUTFILE '{out}'",
        f"SELECT 1 INTO/**/OUTFILE '{out}' FORMAT CSV",
        f"INSERT INTO FUNCTION file('{out}') SELECT 1",
        f"SELECT 1; SELECT `file`('{secret}')",
        f"SELECT * FROM url('{url}/x', 'LineAsString')",
        f"SELECT * FROM `url`('{url}/x', 'LineAsString')",
        f"DESCRIBE TABLE url('{url}/x.csv')",
        f"DESC url('{url}/x.csv')",
        f"DESCRIBE (SELECT * FROM url('{url}/x.csv'))",
        f"EXPLAIN SELECT * FROM url('{url}/x.csv')",
        f"SELECT * FROM s3('{url}/bucket/x.csv', 'CSV', 'x String')",
        f"DESCRIBE s3('{url}/bucket/x.csv')",
        f"SELECT * FROM remote('{host}', system.one)",
        f"DESCRIBE TABLE remote('{host}', system.one)",
        f"SELECT * FROM remoteSecure('{host}', system.one)",
        f"SELECT * FROM mysql('{host}', 'db', 't', 'u', 'p')",
        f"SELECT * FROM postgresql('{host}', 'db', 't', 'u', 'p')",
        f"SELECT * FROM redis('{host}', 'k', 'k String, v String')",
        f"SELECT * FROM numbers(1) AS n, url('{url}/y', 'LineAsString') AS u",
        "SELECT * FROM executable('date', 'TSV', 'x String')",
        "DESCRIBE executable('date', 'TSV', 'x String')",
    ]


async def test_no_file_url_server_or_process_is_reached(endpoint: Endpoint) -> None:
    statements = _reaching(endpoint.listener, endpoint.secret, endpoint.out)
    faults = {sql: fault for sql in statements if (fault := await _refused(endpoint, sql))}
    get = await endpoint.client.get(
        "/", params={"query": f"SELECT `file`('{endpoint.secret}')"}, headers=_basic(ANALYST)
    )
    assert faults == {}
    assert get.status_code >= 400 and SECRET not in get.text
    assert endpoint.listener.connections == 0
    assert not endpoint.out.exists()


def test_the_guard_reads_the_canonical_text_not_the_strings() -> None:
    forbidden = forbidden_functions(["file", "url", "numbers", "format", "remote"])
    assert forbidden == {"file", "url", "remote"}
    for allowed in [
        "SELECT 'file(\\'x\\')', 'INTO OUTFILE'",
        "SELECT * FROM numbers(3)",
        "SELECT format('{}', 1), CAST(x AS Nullable(String)) AS url",
        "SELECT `my url`(1)",
    ]:
        check_canonical(allowed, forbidden)
    for refused in ["SELECT `file`('x')", "SELECT x\nINTO OUTFILE 'o'", "SELECT Remote ('h')"]:
        with pytest.raises(Exception, match="readonly"):
            check_canonical(refused, forbidden)
