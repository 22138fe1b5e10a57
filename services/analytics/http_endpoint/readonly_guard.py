"""What a readonly user's statement may reach, judged on the engine's own parse of it.

The readonly engine handle (readonly=1) refuses writes, settings changes and table functions in
a SELECT, but chDB is clickhouse-local, and some ways to the host stay open to such a user: the
`file()` function reads any file the process can read, `INTO OUTFILE` writes one, `DESCRIBE` of
a table function (url(), s3(), remote(), …) connects out to infer its structure, and several
statements in one request all run. A pattern over the raw text cannot close them: `file/**/(`,
`` `file`( `` and `INTO/**/OUTFILE` are what the parser reads as `file(` and `INTO OUTFILE`.

So the engine formats the statement first (`formatQuery`: exactly one statement or error 62;
comments dropped, identifiers unquoted, literals re-quoted) and the canonical text, string
literals blanked, is checked: no call of a table function outside the local ones (ALLOWED),
which also covers the `file()` function, and no INTO OUTFILE. Table function names come from
the engine (`system.table_functions`), so one added by a chDB upgrade is refused until allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Final

from services.analytics.http_endpoint.protocol import READONLY, EndpointError, engine_error

# Table functions over the engine's own tables or computed values only.
ALLOWED_TABLE_FUNCTIONS: Final = frozenset(
    {
        "numbers", "numbers_mt", "zeros", "zeros_mt", "generaterandom", "generateseries",
        "generate_series", "primes", "values", "null", "view", "merge", "loop", "format",
    }
)  # fmt: skip
TABLE_FUNCTIONS_QUERY: Final = "SELECT name FROM system.table_functions"
FORMAT_QUERY: Final = "SELECT formatQuery({q:String})"

_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'", re.S)
_QUOTED_IDENTIFIER = re.compile(r"`((?:[^`\\]|\\.)*)`", re.S)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.I)
# formatQuery's own text in the engine's error message, which would echo the wrapper.
_IN_SCOPE = re.compile(r"[.:\s]*In scope SELECT formatQuery.*$", re.S)


def forbidden_functions(table_functions: Iterable[str]) -> frozenset[str]:
    """The engine's table functions (lowercase) a readonly user may not call."""
    return frozenset(name.lower() for name in table_functions) - ALLOWED_TABLE_FUNCTIONS


def tsv_escaped(text: str) -> str:
    """`text` as a query parameter's value (parameters are read in the escaped TSV format)."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _unquoted(quoted: re.Match[str]) -> str:
    # `file` is file; `my url` is no name a function could have, and must not read as `url`.
    return quoted[1] if _NAME.fullmatch(quoted[1]) else "_quoted_"


def check_canonical(canonical: str, forbidden: frozenset[str]) -> None:
    """EndpointError READONLY when the formatted statement reaches beyond the tables."""
    text = _QUOTED_IDENTIFIER.sub(_unquoted, _STRING_LITERAL.sub("''", canonical))
    if _OUTFILE.search(text):
        raise EndpointError(READONLY, "INTO OUTFILE is not allowed in readonly mode")
    for call in _CALL.finditer(text):
        if call[1].lower() in forbidden:
            raise EndpointError(
                READONLY, f"{call[1]}() reaches outside the database: not allowed in readonly mode"
            )


def check_statement(
    sql: str, format_query: Callable[[str], str], forbidden: frozenset[str]
) -> None:
    """Format `sql` with the engine (`format_query` runs FORMAT_QUERY with the escaped text)
    and check it; the engine's parse errors come back as EndpointError with their code."""
    try:
        canonical = format_query(tsv_escaped(sql))
    except Exception as exc:  # chDB raises plain RuntimeErrors; re-raised as the endpoint's
        code, message = engine_error(exc)
        raise EndpointError(code, _IN_SCOPE.sub("", message)) from exc
    check_canonical(canonical, forbidden)
