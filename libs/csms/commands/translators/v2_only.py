"""Commands OCPP 1.6 has no equivalent for: customer information, display messages and
cost updates (refused on 1.6)."""

from __future__ import annotations

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.translators.shapes import (
    V16,
    _call,
    _compact,
    _opt_dt,
    _opt_id_token,
    _unsupported_if,
)
from csms.protocol.versions import OcppVersion


def _only_2x(command: str, v: OcppVersion) -> None:
    _unsupported_if(v is V16, command, v, "OCPP 1.6 has no equivalent")


def customer_information(p: m.CustomerInformationCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("customer-information", v)
    cert = p.customer_certificate
    certificate = (
        None
        if cert is None
        else {
            "hashAlgorithm": cert.hash_algorithm,
            "issuerNameHash": cert.issuer_name_hash,
            "issuerKeyHash": cert.issuer_key_hash,
            "serialNumber": cert.serial_number,
        }
    )
    return _call(
        "CustomerInformation",
        requestId=p.request_id,
        report=p.report,
        clear=p.clear,
        customerIdentifier=p.customer_identifier,
        idToken=_opt_id_token(p.id_token),
        customerCertificate=certificate,
    )


def set_display_message(p: m.SetDisplayMessageCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("set-display-message", v)
    message = _compact(
        id=p.id,
        priority=p.priority,
        state=p.state,
        startDateTime=_opt_dt(p.starts_at),
        endDateTime=_opt_dt(p.ends_at),
        transactionId=p.transaction_id,
        message=_compact(format=p.format, language=p.language, content=p.content),
    )
    return _call("SetDisplayMessage", message=message)


def get_display_messages(p: m.GetDisplayMessagesCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("get-display-messages", v)
    return _call(
        "GetDisplayMessages",
        requestId=p.request_id,
        id=list(p.ids) or None,
        priority=p.priority,
        state=p.state,
    )


def clear_display_message(p: m.ClearDisplayMessageCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("clear-display-message", v)
    return _call("ClearDisplayMessage", id=p.id)


def cost_updated(p: m.CostUpdatedCommand, v: OcppVersion) -> list[OcppCall]:
    _only_2x("cost-updated", v)
    return _call("CostUpdated", totalCost=p.total_cost, transactionId=p.transaction_id)
