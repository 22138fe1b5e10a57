"""The local ClickHouse HTTP endpoint over chDB, in-process through ASGI (no socket)."""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import lz4.frame
import pytest
import zstandard

from csms.infra.clickhouse import ClickHouse
from services.analytics.http_endpoint import (
    EndpointError,
    LocalEngine,
    compose_query,
    decode_body,
    error_reply,
    make_app,
    output_format,
    split_insert,
    statement_keyword,
)


@pytest.fixture
async def http(clickhouse: ClickHouse, engine: LocalEngine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(clickhouse, engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://ch.test") as client:
        yield client


# -- pure helpers --------------------------------------------------------------------------------


def test_compose_query_follows_clickhouse() -> None:
    assert compose_query("INSERT INTO t FORMAT CSV", b"1,2") == b"INSERT INTO t FORMAT CSV\n1,2"
    assert compose_query("", b"SELECT 1") == b"SELECT 1"
    assert compose_query("SELECT 1", b"") == b"SELECT 1"


def test_statement_keyword_skips_comments_and_parentheses() -> None:
    assert statement_keyword(b"  -- hi\n/* x */ (select 1)") == "SELECT"
    assert statement_keyword(b"insert into t values (1)") == "INSERT"
    assert statement_keyword(b"  \n ") == ""


def test_output_format() -> None:
    assert output_format(b"SELECT 1 FORMAT JSONEachRow;\n", "TabSeparated") == "JSONEachRow"
    assert output_format(b"SELECT 'FORMAT CSV' AS x", "TabSeparated") == "TabSeparated"


def test_split_insert_keeps_binary_data_intact() -> None:
    data = b"\x00\x01FORMAT Native\n\xff"
    split = split_insert(b"INSERT INTO db.t (a, `b`) FORMAT RowBinary\n" + data)
    assert split is not None
    assert (split.head, split.settings, split.fmt, split.data) == (
        b"INSERT INTO db.t (a, `b`)", b"", "RowBinary", data,
    )  # fmt: skip
    assert split.statement("/tmp/x'y") == (
        "INSERT INTO db.t (a, `b`) FROM INFILE '/tmp/x\\'y' FORMAT RowBinary"
    )


def test_split_insert_moves_settings_after_infile() -> None:
    split = split_insert(b"insert into t SETTINGS async_insert=0 format CSV\r\n1,2\n")
    assert split is not None
    assert (
        split.statement("/f") == "insert into t FROM INFILE '/f' SETTINGS async_insert=0 FORMAT CSV"
    )
    assert split.data == b"1,2\n"


def test_split_insert_leaves_values_and_select_alone() -> None:
    assert split_insert(b"INSERT INTO t VALUES (1)") is None
    assert split_insert(b"INSERT INTO t SELECT 1") is None


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", lambda b: pytest.importorskip("brotli").compress(b)),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("lz4", lz4.frame.compress),
        ("identity", lambda b: b),
    ],
)
def test_decode_body(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    payload = b"SELECT 1\n" * 100
    assert decode_body(encode(payload), encoding) == payload


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("lz4", lz4.frame.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("gzip", gzip.compress),
    ],
)
def test_a_body_of_several_frames_is_decoded_whole(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    """A streaming client compresses chunk by chunk: every frame counts, not only the first
    (lz4 dropped all but the first, losing the rest of large inserts silently)."""
    chunks = [bytes([65 + n]) * 70_000 for n in range(5)]
    body = b"".join(encode(chunk) for chunk in chunks)
    assert decode_body(body, encoding) == b"".join(chunks)


def test_a_cut_lz4_body_is_an_error_not_a_shorter_insert() -> None:
    whole = lz4.frame.compress(b"x" * 100_000) + lz4.frame.compress(b"y" * 100_000)
    with pytest.raises(EndpointError) as cut:
        decode_body(whole[:-10], "lz4")
    assert cut.value.code == 271


def test_decode_body_errors() -> None:
    with pytest.raises(EndpointError) as unknown:
        decode_body(b"x", "snappy")
    assert unknown.value.code == 89
    with pytest.raises(EndpointError) as corrupt:
        decode_body(b"not gzip", "gzip")
    assert corrupt.value.code == 271


def test_error_reply_is_shaped_like_clickhouse() -> None:
    reply = error_reply(62, "Empty query")
    assert reply.status == 400
    assert reply.body == b"Code: 62. DB::Exception: Empty query (SYNTAX_ERROR)\n"
    assert reply.headers["X-ClickHouse-Exception-Code"] == "62"
    assert error_reply(60, "Code: 60. DB::Exception: x. (UNKNOWN_TABLE)").status == 404
    assert error_reply(241, "Code: 241. DB::Exception: memory").status == 500


# -- over HTTP -----------------------------------------------------------------------------------


async def test_ping_and_root(http: httpx.AsyncClient) -> None:
    for path in ("/ping", "/"):
        response = await http.get(path)
        assert (response.status_code, response.text) == (200, "Ok.\n")


async def test_get_query_defaults_to_tab_separated(http: httpx.AsyncClient) -> None:
    response = await http.get("/", params={"query": "SELECT count() FROM meter_values"})
    assert response.status_code == 200
    assert response.text == "0\n"
    assert response.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert response.headers["X-ClickHouse-Timezone"]
    assert "X-ClickHouse-Exception-Code" not in response.headers


async def test_post_body_with_format_clause_and_default_format(http: httpx.AsyncClient) -> None:
    response = await http.post("/", content=b"SELECT number FROM numbers(2) FORMAT JSONEachRow")
    assert response.text == '{"number":0}\n{"number":1}\n'
    assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
    response = await http.post("/", params={"default_format": "CSV"}, content=b"SELECT 1, 'a'")
    assert (response.text, response.headers["Content-Type"]) == (
        '1,"a"\n', "text/csv; charset=UTF-8; header=absent",
    )  # fmt: skip


async def test_insert_with_query_param_and_body_data(http: httpx.AsyncClient) -> None:
    query = "INSERT INTO status_events (ts, station, evse, connector, status, error_code, " \
        "proto, event_id) FORMAT TabSeparated"  # fmt: skip
    body = b"1740816000000\tCP-1\t1\t1\tOccupied\tNoError\tocpp1.6\tev-1\n"
    response = await http.post("/", params={"query": query}, content=body)
    assert response.status_code == 200, response.text
    assert "X-ClickHouse-Format" not in response.headers
    # The row, and the row mv_status_daily writes for it into agg_status_daily (migration 0009).
    assert '"written_rows":"2"' in response.headers["X-ClickHouse-Summary"]
    check = await http.post(
        "/", content=b"SELECT toUnixTimestamp64Milli(ts), station, status FROM status_events"
    )
    assert check.text == "1740816000000\tCP-1\tOccupied\n"


@pytest.mark.parametrize("encoding", ["lz4", "zstd", "gzip"])
async def test_compressed_binary_insert(http: httpx.AsyncClient, encoding: str) -> None:
    # RowBinary of (evse UInt32, station String) with bytes that look like text and newlines.
    station = b"CP-\nFORMAT"
    row = struct.pack("<I", 7) + bytes([len(station)]) + station
    body = b"INSERT INTO status_events (evse, station) FORMAT RowBinary\n" + row
    compressed = {
        "lz4": lz4.frame.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "gzip": gzip.compress,
    }[encoding](body)
    response = await http.post("/", content=compressed, headers={"Content-Encoding": encoding})
    assert response.status_code == 200, response.text
    check = await http.post(
        "/", content=b"SELECT evse, station FROM status_events FORMAT JSONEachRow"
    )
    assert check.text == '{"evse":7,"station":"CP-\\nFORMAT"}\n'


async def test_errors_have_clickhouse_shape(http: httpx.AsyncClient) -> None:
    missing = await http.post("/", content=b"SELECT * FROM no_such_table")
    assert missing.status_code == 404
    assert missing.headers["X-ClickHouse-Exception-Code"] == "60"
    assert missing.text.startswith("Code: 60. DB::Exception: ")
    syntax = await http.post("/", content=b"SELEC 1")
    assert (syntax.status_code, syntax.headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    empty = await http.post("/", content=b"  ")
    assert empty.text == "Code: 62. DB::Exception: Empty query (SYNTAX_ERROR)\n"
    bad_encoding = await http.post("/", content=b"x", headers={"Content-Encoding": "snappy"})
    assert bad_encoding.headers["X-ClickHouse-Exception-Code"] == "89"


async def test_get_is_read_only(http: httpx.AsyncClient) -> None:
    response = await http.get("/", params={"query": "DROP TABLE meter_values"})
    assert response.headers["X-ClickHouse-Exception-Code"] == "164"
    assert (await http.post("/", content=b"EXISTS TABLE meter_values")).text == "1\n"
    readonly = await http.post("/", params={"readonly": "1"}, content=b"TRUNCATE meter_values")
    assert readonly.headers["X-ClickHouse-Exception-Code"] == "164"
    # The read-only request did not leave the shared handle read-only.
    select = await http.post("/", params={"readonly": "1"}, content=b"SELECT 1")
    assert select.text == "1\n"
    ddl = await http.post("/", content=b"CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory")
    assert ddl.status_code == 200


async def test_settings_apply_per_request_and_reset(http: httpx.AsyncClient) -> None:
    query = {"query": "SELECT getSetting('max_block_size')"}
    custom = await http.get("/", params={**query, "max_block_size": "1234", "query_id": "q-1"})
    assert custom.text == "1234\n"
    assert custom.headers["X-ClickHouse-Query-Id"] == "q-1"
    default = await http.get("/", params=query)
    assert default.status_code == 200 and default.text != "1234\n"
    unknown = await http.get("/", params={**query, "no_such_setting": "1"})
    assert (unknown.status_code, unknown.headers["X-ClickHouse-Exception-Code"]) == (404, "115")
    # Transport parameters a client sends are accepted and ignored.
    ok = await http.get("/", params={**query, "wait_end_of_query": "1", "session_id": "s"})
    assert ok.status_code == 200


async def test_query_parameters_and_database(http: httpx.AsyncClient) -> None:
    bound = await http.get("/", params={"query": "SELECT {x:UInt32} + 1", "param_x": "41"})
    assert bound.text == "42\n"
    system = await http.get("/", params={"query": "SELECT count() FROM one", "database": "system"})
    assert system.text == "1\n"
    back = await http.get("/", params={"query": "SELECT count() FROM meter_values"})
    assert back.text == "0\n"


async def test_metrics(http: httpx.AsyncClient) -> None:
    await http.get("/", params={"query": "SELECT 1"})
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert 'csms_analytics_http_queries_total{outcome="ok"}' in response.text


async def test_without_an_engine_only_health_and_metrics(clickhouse: ClickHouse) -> None:
    transport = httpx.ASGITransport(app=make_app(clickhouse, None))
    async with httpx.AsyncClient(transport=transport, base_url="http://ch.test") as client:
        assert (await client.get("/ping")).status_code == 200
        response = await client.post("/", content=b"SELECT 1")
        assert response.status_code == 501
