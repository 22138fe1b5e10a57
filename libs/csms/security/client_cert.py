"""Security profile 3 behind a TLS-terminating proxy: the subject DN the proxy forwards.

The proxy (ingress-nginx, Envoy, HAProxy) verifies the station's client certificate and passes
its subject DN in a header. nginx's `$ssl_client_s_dn` is RFC 2253 (`CN=CP-001,O=Example CPO`,
most specific first); older setups forward OpenSSL's one-line form (`/O=Example CPO/CN=CP-001`).
Both are accepted. OCPP (2.0.1 Part 2 A00, 1.6 security whitepaper) puts the station identity
in the certificate's CN, so the CN is all the gateway needs.
"""

from __future__ import annotations

from typing import Literal

ClientCertMode = Literal["off", "optional", "required"]
CLIENT_CERT_MODES: tuple[ClientCertMode, ...] = ("off", "optional", "required")

# Attribute type spellings of the common name: short and long names and its OID (RFC 4514 §3).
_CN_TYPES = frozenset({"cn", "commonname", "2.5.4.3", "oid.2.5.4.3"})
_HEX = frozenset("0123456789abcdefABCDEF")


class InvalidDN(ValueError):
    """The DN cannot be read (dangling escape, unterminated quote)."""


def parse_dn(dn: str) -> list[tuple[str, str]]:
    """The (type, value) pairs of a DN in RFC 2253 or slash form, in the order written.

    Lenient where proxies differ: whitespace around types and values is dropped, `;` separates
    like `,`, multi-valued RDNs (`+`) are flattened, and a piece without `=` (an unescaped
    separator inside a value) is glued back onto the value before it."""
    text = _strip(dn)
    if not text:
        return []
    if text.startswith("/"):
        return _pairs(_split(text[1:], "/", quotes=False), rfc2253=False)
    return _pairs(_split(text, ",;+", quotes=True), rfc2253=True)


def common_names(dn: str) -> list[str]:
    """Every CN value of `dn` (usually one)."""
    return [value for kind, value in parse_dn(dn) if kind.lower() in _CN_TYPES]


def _split(text: str, separators: str, *, quotes: bool) -> list[tuple[str, str]]:
    """Split at unescaped (and, in RFC 2253, unquoted) separators; each piece is (raw text,
    separator before it), the raw text keeping its escapes so that an escaped `=` or separator
    stays part of its value."""
    pieces: list[tuple[str, str]] = []
    start, sep_before, quoted, i = 0, "", False, 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise InvalidDN("dangling escape")
            i += 2
            continue
        if char == '"' and quotes:
            quoted = not quoted
        elif char in separators and not quoted:
            pieces.append((text[start:i], sep_before))
            start, sep_before = i + 1, char
        i += 1
    if quoted:
        raise InvalidDN("unterminated quote")
    pieces.append((text[start:], sep_before))
    return pieces


def _pairs(pieces: list[tuple[str, str]], *, rfc2253: bool) -> list[tuple[str, str]]:
    raw: list[tuple[str, str]] = []
    for piece, sep_before in pieces:
        kind, eq, value = _partition_unescaped(piece)
        if eq:
            raw.append((kind.strip(), value))
        elif raw:
            # No `=`: a separator the producer did not escape (`/O=A/B/CN=x`, `O=A, Inc.`).
            last_kind, last_value = raw[-1]
            raw[-1] = (last_kind, last_value + sep_before + piece)
        elif piece.strip():
            raise InvalidDN("attribute without type")
    return [(kind, _unescape(_strip(value), rfc2253=rfc2253)) for kind, value in raw]


def _strip(value: str) -> str:
    """Drop surrounding whitespace, but not an escaped trailing space (`CN=a\\ `)."""
    stripped = value.strip()
    trailing = len(stripped) - len(stripped.rstrip("\\"))
    if trailing % 2:
        end = value.index(stripped) + len(stripped)
        stripped += value[end : end + 1]
    return stripped


def _partition_unescaped(piece: str) -> tuple[str, str, str]:
    i = 0
    while i < len(piece):
        if piece[i] == "\\":
            i += 2
            continue
        if piece[i] == "=":
            return piece[:i], "=", piece[i + 1 :]
        i += 1
    return piece, "", ""


def _unescape(value: str, *, rfc2253: bool) -> str:
    """`\\c` is c; in RFC 2253 also `\\HH` is a UTF-8 byte and `"…"` quotes a value."""
    if rfc2253 and len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    out = bytearray()
    i = 0
    while i < len(value):
        pair = value[i + 1 : i + 3]
        if value[i] == "\\" and rfc2253 and len(pair) == 2 and set(pair) <= _HEX:
            out.append(int(pair, 16))
            i += 3
        elif value[i] == "\\":
            out.extend(value[i + 1].encode())
            i += 2
        else:
            out.extend(value[i].encode())
            i += 1
    return out.decode("utf-8", errors="replace")
