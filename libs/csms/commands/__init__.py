"""Operator commands in one neutral form, translated per OCPP version (pure, I/O-free).

    calls = translate("reset", {"type": "immediate"}, OcppVersion.V16)   # [OcppCall("Reset", ...)]
    ... send each call, collect the CALLRESULT payloads ...
    answer = neutral_result("reset", OcppVersion.V16, calls, payloads)  # {"status": ..., ...}

`COMMANDS` lists every command (model, versions, actions) for route generation and docs;
`validate_request` checks raw passthrough calls too.
"""

from csms.commands.actions import OcppCall, validate_request
from csms.commands.errors import CommandError, InvalidCommand, UnsupportedCommand
from csms.commands.registry import COMMANDS, CommandSpec, command_table_markdown
from csms.commands.translate import neutral_result, parse_params, translate
from csms.protocol.directions import CSMS_ACTIONS, is_csms_action

__all__ = [
    "COMMANDS",
    "CSMS_ACTIONS",
    "CommandError",
    "CommandSpec",
    "InvalidCommand",
    "OcppCall",
    "UnsupportedCommand",
    "command_table_markdown",
    "is_csms_action",
    "neutral_result",
    "parse_params",
    "translate",
    "validate_request",
]
