"""Firmware updates (1.6 plain or signed, 2.x) and log uploads (diagnostics, security and
data-collector logs)."""

from __future__ import annotations

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.translators.shapes import (
    V16,
    V21,
    _call,
    _compact,
    _opt_dt,
    _unsupported_if,
    ocpp_datetime,
)
from csms.protocol.versions import OcppVersion


def update_firmware(p: m.UpdateFirmwareCommand, v: OcppVersion) -> list[OcppCall]:
    signed = p.signature is not None or p.signing_certificate is not None
    firmware = _compact(
        location=p.location,
        retrieveDateTime=ocpp_datetime(p.retrieve_at),
        installDateTime=_opt_dt(p.install_at),
        signingCertificate=p.signing_certificate,
        signature=p.signature,
    )
    if v is V16 and not signed:
        _unsupported_if(
            p.install_at, "update-firmware", v, "install_at needs a signed update on 1.6"
        )
        return _call(
            "UpdateFirmware",
            location=p.location,
            retrieveDate=ocpp_datetime(p.retrieve_at),
            retries=p.retries,
            retryInterval=p.retry_interval,
        )
    # Signed 1.6 updates use SignedUpdateFirmware (Security Whitepaper): the 2.x shape.
    action = "SignedUpdateFirmware" if v is V16 else "UpdateFirmware"
    return _call(
        action,
        requestId=p.request_id,
        firmware=firmware,
        retries=p.retries,
        retryInterval=p.retry_interval,
    )


_LOG_TYPES = {
    "diagnostics": "DiagnosticsLog",
    "security": "SecurityLog",
    "data-collector": "DataCollectorLog",
}


def get_log(p: m.GetLogCommand, v: OcppVersion) -> list[OcppCall]:
    _unsupported_if(
        p.log_type == "data-collector" and v is not V21,
        "get-log",
        v,
        "data-collector logs are new in 2.1",
    )
    if v is V16 and p.log_type == "diagnostics":
        return _call(
            "GetDiagnostics",
            location=p.location,
            retries=p.retries,
            retryInterval=p.retry_interval,
            startTime=_opt_dt(p.oldest),
            stopTime=_opt_dt(p.latest),
        )
    # 2.x GetLog, and 1.6 security logs through the Security Whitepaper's GetLog (same shape).
    log = _compact(
        remoteLocation=p.location,
        oldestTimestamp=_opt_dt(p.oldest),
        latestTimestamp=_opt_dt(p.latest),
    )
    return _call(
        "GetLog",
        log=log,
        logType=_LOG_TYPES[p.log_type],
        requestId=p.request_id,
        retries=p.retries,
        retryInterval=p.retry_interval,
    )
