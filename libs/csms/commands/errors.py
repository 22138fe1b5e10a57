"""Why a neutral command cannot become an OCPP call for a station's version.

Both errors carry the command, the version and a reason written for the operator; the API answers
them with 422 and `{"error": err.code, "detail": str(err)}`, which always names the version.
"""

from __future__ import annotations

from csms.protocol.versions import OcppVersion


class CommandError(ValueError):
    """Base of the translation errors: a client mistake, never a server failure."""

    code = "invalid_command"

    def __init__(self, command: str, version: OcppVersion | None, reason: str) -> None:
        self.command = command
        self.version = version
        self.reason = reason
        where = f" for OCPP {version.value.removeprefix('ocpp')}" if version else ""
        super().__init__(f"{command}{where}: {reason}")


class UnsupportedCommand(CommandError):
    """The station's version has no equivalent of the command (or of the requested variant)."""

    code = "unsupported_command"

    def __init__(self, command: str, version: OcppVersion, reason: str) -> None:
        super().__init__(command, version, reason)


class InvalidCommand(CommandError):
    """A value cannot be expressed in the version, or the payload breaks the version's schema."""

    code = "invalid_command"
