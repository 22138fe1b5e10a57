"""Native blocks for clients that send client_protocol_version (clickhouse-go, clickhouse-connect).

The oracle: chDB's revision-0 output of each column alone, whose data is everything after its
type; the reframed multi-column block must be those pieces with BlockInfo and flag bytes added.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import chdb
import httpx
import pytest

from csms.infra.clickhouse import ClickHouse, chdb_path
from services.analytics.http_endpoint import LocalEngine, make_app
from services.analytics.native import (
    BLOCK_INFO,
    DataType,
    UnsupportedType,
    parse_type,
    reframe,
)

COLUMNS = {
    "u8": "toUInt8(number)",
    "s": "concat('row-', toString(number))",
    "lc_null": "toLowCardinality(if(number = 1, NULL, toNullable(toString(number))))",
    "arr_lc": "[toLowCardinality('a'), toLowCardinality(toString(number))]",
    "m": "map('k', number, 'j', number * 2)",
    "nf": "if(number = 0, NULL, toFloat64(number) / 3)",
    "ts": "toDateTime64(1740816000.25 + number, 3, 'UTC')",
    "tup": "CAST((number, 'x'), 'Tuple(a UInt64, b String)')",
    "dec": "toDecimal64(number, 2)",
    "dec_p": "CAST(number, 'Decimal(40, 3)')",
    "fs": "toFixedString('abc', 3)",
    "enum": "CAST('b', 'Enum8(\\'a\\' = 1, \\'b\\' = 2)')",
    "uuid": "toUUID('61f0c404-5cb3-11e7-907b-a6006ad3dba0')",
    "ip6": "toIPv6('::1')",
    "point": "CAST((1.5, 2.5), 'Point')",
    "nested_arr": "[[number], [number, number + 1]]",
    "date": "toDate('2025-03-01')",
    "i128": "toInt128(-number)",
}


def native(sql: str) -> bytes:
    data: bytes = chdb.query(sql, "Native").bytes()
    return data


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_reframe_inserts_block_info_and_serialization_flags() -> None:
    rows = 3
    select = ", ".join(f"{expr} AS {name}" for name, expr in COLUMNS.items())
    whole = native(f"SELECT {select} FROM numbers({rows})")
    expected = [BLOCK_INFO, varint(len(COLUMNS)) + varint(rows)]
    for name, expr in COLUMNS.items():
        alone = native(f"SELECT {expr} AS {name} FROM numbers({rows})")
        counts = varint(1) + varint(rows)
        head = counts + varint(len(name)) + name.encode()
        assert alone.startswith(head)
        type_len = alone[len(head)]  # every type name here is shorter than 128 bytes
        data_at = len(head) + 1 + type_len
        expected += [alone[len(counts) : data_at], b"\x00", alone[data_at:]]
    assert reframe(whole, 54515) == b"".join(expected)
    # Before revision 54454 there is no flag byte, only BlockInfo.
    assert reframe(whole, 54405) == BLOCK_INFO + whole
    assert reframe(whole, 0) == whole


def test_reframe_every_block_and_empty_results() -> None:
    blocks = native(
        "SELECT number, toString(number) AS s FROM numbers(10) SETTINGS max_block_size=3"
    )
    reframed = reframe(blocks, 54405)
    assert reframed.count(BLOCK_INFO) == 4
    assert reframed.replace(BLOCK_INFO, b"") == blocks
    assert reframe(b"", 54515) == b""


def test_unsupported_types_are_refused() -> None:
    data = native("SELECT CAST(1, 'Dynamic') AS d")
    with pytest.raises(UnsupportedType):
        reframe(data, 54515)


def test_parse_type() -> None:
    assert parse_type("LowCardinality(Nullable(String))") == DataType(
        "LowCardinality", (DataType("Nullable", (DataType("String"),)),)
    )
    assert parse_type("DateTime64(3, 'UTC')") == DataType("DateTime64", ("3", "'UTC'"))
    assert parse_type("Tuple(a UInt8, `b` String)").args[0] == DataType("UInt8")
    assert parse_type("Map(String, Array(UInt64))").args[1] == DataType(
        "Array", (DataType("UInt64"),)
    )
    assert parse_type("Point") == DataType("Tuple", (DataType("Float64"), DataType("Float64")))


# -- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
async def http(clickhouse: ClickHouse) -> AsyncIterator[httpx.AsyncClient]:
    engine = await clickhouse.run(LocalEngine, chdb_path(clickhouse.url))
    transport = httpx.ASGITransport(app=make_app(clickhouse, engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://ch.test") as client:
        yield client
    await clickhouse.run(engine.close)


async def test_client_protocol_version_frames_native(http: httpx.AsyncClient) -> None:
    params = {"default_format": "Native", "client_protocol_version": "54405"}
    # clickhouse-connect's probe: BlockInfo, then 1 column, 1 row, name `check`.
    probe = await http.post("/", params=params, content=b"SELECT 1 AS check")
    assert probe.content[:8] == BLOCK_INFO
    assert probe.content[8:16] == b"\x01\x01\x05check"
    plain = await http.post("/", params={"default_format": "Native"}, content=b"SELECT 1 AS c")
    assert plain.content == b"\x01\x01\x01c\x05UInt8\x01"
    text = await http.post("/", params={**params, "default_format": "TSV"}, content=b"SELECT 1")
    assert text.text == "1\n"
    bad = await http.post("/", params={"client_protocol_version": "x"}, content=b"SELECT 1")
    assert bad.headers["X-ClickHouse-Exception-Code"] == "36"
    dynamic = await http.post("/", params=params, content=b"SELECT CAST(1, 'Dynamic') AS d")
    assert (dynamic.status_code, dynamic.headers["X-ClickHouse-Exception-Code"]) == (501, "48")
