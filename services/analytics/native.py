"""ClickHouse's Native format as a server sends it to a client that names its protocol version.

chDB writes Native as clickhouse-local does, for protocol revision 0: a block is
`columns rows (name type data)*`. A ClickHouse server answering an HTTP request with
`client_protocol_version=R` writes what its TCP clients read instead: each block starts with
the BlockInfo fields when R > 0, and from revision 54454 each column's type is followed by a
"has custom serialization" byte. clickhouse-go (Grafana's ClickHouse plugin) and
clickhouse-connect both send `client_protocol_version` and decode accordingly.

`reframe(data, revision)` walks the revision-0 blocks and inserts those bytes. To find where a
column's data ends it must know the byte layout of its type: every type an analyst's table or
result uses here is covered (numbers, dates, strings, UUID/IP, enums, decimals, Nullable,
LowCardinality, Array, Tuple, Map, the geo types); the others (JSON, Dynamic, Variant,
AggregateFunction states) raise UnsupportedType. Data bytes are copied untouched: for these
types a server writes the same data at every revision, always without custom (sparse)
serialization when it says so in the flag byte.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

# Revisions of ClickHouse's TCP protocol that change a Native block's framing.
MIN_REVISION_WITH_BLOCK_INFO: Final = 1
MIN_REVISION_WITH_CUSTOM_SERIALIZATION: Final = 54454
# BlockInfo with its defaults: field 1 is_overflows=false, field 2 bucket_num=-1, end marker.
BLOCK_INFO: Final = b"\x01\x00\x02\xff\xff\xff\xff\x00"

_FIXED_SIZES: Final = {
    **dict.fromkeys(("UInt8", "Int8", "Bool", "Enum8", "Nothing"), 1),
    **dict.fromkeys(("UInt16", "Int16", "Date", "Enum16", "BFloat16"), 2),
    **dict.fromkeys(("UInt32", "Int32", "Float32", "Date32", "DateTime", "IPv4", "Time"), 4),
    **dict.fromkeys(("UInt64", "Int64", "Float64", "DateTime64", "Time64", "Decimal64"), 8),
    **dict.fromkeys(("UInt128", "Int128", "UUID", "IPv6", "Decimal128"), 16),
    **dict.fromkeys(("UInt256", "Int256", "Decimal256"), 32),
    "Decimal32": 4,
}
# Geo types are aliases of compositions of Float64 tuples and arrays.
_ALIASES: Final = {
    "Point": "Tuple(Float64, Float64)",
    "Ring": "Array(Tuple(Float64, Float64))",
    "LineString": "Array(Tuple(Float64, Float64))",
    "Polygon": "Array(Array(Tuple(Float64, Float64)))",
    "MultiLineString": "Array(Array(Tuple(Float64, Float64)))",
    "MultiPolygon": "Array(Array(Array(Tuple(Float64, Float64))))",
}
_LC_INDEX_WIDTHS: Final = (1, 2, 4, 8)
_LC_HAS_ADDITIONAL_KEYS: Final = 1 << 9
_LC_NEEDS_GLOBAL_DICTIONARY: Final = 1 << 8
_NAMED_ELEMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s+(?=[A-Za-z])")


class UnsupportedType(ValueError):
    """A column type whose Native layout this module does not know."""


class Truncated(ValueError):
    """The Native data ends inside a block."""


@dataclass(frozen=True, slots=True)
class DataType:
    name: str
    args: tuple[DataType | str, ...] = ()

    def arg(self, i: int) -> DataType:
        value = self.args[i]
        if isinstance(value, str):
            raise UnsupportedType(f"{self.name}: expected a type argument, got {value!r}")
        return value


def parse_type(text: str) -> DataType:
    """Parse a ClickHouse type name; arguments that are not types stay strings."""
    text = text.strip()
    text = _ALIASES.get(text, text)
    open_at = text.find("(")
    if open_at < 0 or not text.endswith(")"):
        return DataType(text)
    name = text[:open_at]
    args: list[DataType | str] = []
    for element in _split_args(text[open_at + 1 : -1]):
        raw = element
        if name in ("Tuple", "Nested"):
            raw = _NAMED_ELEMENT.sub("", element, count=1)  # `Tuple(a UInt8)` -> UInt8
        plain = raw[:1] in ("'", '"') or raw[:1].isdigit() or raw[:1] == "-"
        args.append(
            raw if plain or name in ("DateTime64", "DateTime", "Decimal") else parse_type(raw)
        )
    return DataType(name, tuple(args))


def _split_args(text: str) -> list[str]:
    parts: list[str] = []
    depth, start, quote = 0, 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote and text[i - 1] != "\\" else quote
        elif ch in ("'", '"', "`"):
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    return [*parts, tail] if tail else parts


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise Truncated(f"Native data ends at {len(self.data)}, needed {end}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def skip(self, n: int) -> None:
        self.take(n)

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.take(1)[0]
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    def string(self) -> bytes:
        return self.take(self.varint())

    def uint64(self) -> int:
        value: int = struct.unpack("<Q", self.take(8))[0]
        return value


def _skip_prefix(reader: _Reader, t: DataType) -> None:
    """serializeBinaryBulkStatePrefix: only LowCardinality writes one (its key version)."""
    if t.name == "LowCardinality":
        reader.skip(8)
    elif t.name in ("Nullable", "Array", "Map", "Tuple", "Nested"):
        for arg in t.args:
            if isinstance(arg, DataType):
                _skip_prefix(reader, arg)


def _skip_data(reader: _Reader, t: DataType, rows: int) -> None:
    name = t.name
    if rows == 0:
        return
    if name in _FIXED_SIZES:
        reader.skip(_FIXED_SIZES[name] * rows)
    elif name == "Decimal":
        precision = int(str(t.args[0]))
        reader.skip(
            (4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32)
            * rows
        )
    elif name in ("String", "JSONString"):
        for _ in range(rows):
            reader.skip(reader.varint())
    elif name == "FixedString":
        reader.skip(int(str(t.args[0])) * rows)
    elif name == "Nullable":
        reader.skip(rows)
        _skip_data(reader, t.arg(0), rows)
    elif name in ("Array", "Map", "Nested"):
        reader.skip(8 * (rows - 1))
        nested_rows = reader.uint64()
        inner = t.arg(0) if name == "Array" else DataType("Tuple", t.args)
        _skip_data(reader, inner, nested_rows)
    elif name == "Tuple":
        for i in range(len(t.args)):
            _skip_data(reader, t.arg(i), rows)
    elif name == "LowCardinality":
        _skip_low_cardinality(reader, t.arg(0), rows)
    elif name in ("Enum8", "Enum16") or name.startswith("Interval"):
        reader.skip((1 if name == "Enum8" else 2 if name == "Enum16" else 8) * rows)
    elif name == "SimpleAggregateFunction":
        _skip_data(reader, t.arg(1), rows)
    else:
        raise UnsupportedType(f"Native framing of type {name} is not supported here")


def _skip_low_cardinality(reader: _Reader, inner: DataType, rows: int) -> None:
    # Dictionary keys are written without their Nullable wrapper (NULL is key 0).
    keys_type = inner.arg(0) if inner.name == "Nullable" else inner
    done = 0
    while done < rows:
        flags = reader.uint64()
        if flags & _LC_NEEDS_GLOBAL_DICTIONARY:
            raise UnsupportedType("LowCardinality with a global dictionary")
        if flags & _LC_HAS_ADDITIONAL_KEYS:
            _skip_data(reader, keys_type, reader.uint64())
        count = reader.uint64()
        reader.skip(_LC_INDEX_WIDTHS[flags & 0xFF] * count)
        done += count
        if count == 0:
            raise Truncated("LowCardinality granule without rows")


def reframe(data: bytes, revision: int) -> bytes:
    """Revision-0 Native blocks (chDB's output) as a server writes them for `revision`."""
    if revision < MIN_REVISION_WITH_BLOCK_INFO or not data:
        return data
    custom_flag = revision >= MIN_REVISION_WITH_CUSTOM_SERIALIZATION
    reader = _Reader(data)
    out: list[bytes] = []
    while reader.pos < len(data):
        out.append(BLOCK_INFO)
        start = reader.pos
        columns = reader.varint()
        rows = reader.varint()
        for _ in range(columns):
            reader.string()  # name
            type_name = reader.string().decode()
            if custom_flag:
                out.append(data[start : reader.pos])
                out.append(b"\x00")
                start = reader.pos
            if rows:
                column_type = parse_type(type_name)
                _skip_prefix(reader, column_type)
                _skip_data(reader, column_type, rows)
        out.append(data[start : reader.pos])
    return b"".join(out)
