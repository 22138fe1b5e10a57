"""OCPP 1.6J route table: every Charge Point -> Central System action of 1.6 (core, firmware
management, local list, reservation and smart charging add none of their own in this direction)
and of the 1.6 security extension (the OCA "Improved security for OCPP 1.6-J" white paper)."""

from collections.abc import Mapping

from csms.handlers import Handler
from csms.handlers.v16 import (
    authorize,
    boot_notification,
    data_transfer,
    empty_response,
    heartbeat,
    sign_certificate,
    start_transaction,
    stop_transaction,
)

ROUTES: Mapping[str, Handler] = {
    "Authorize": authorize.handle,
    "BootNotification": boot_notification.handle,
    "DataTransfer": data_transfer.handle,
    "DiagnosticsStatusNotification": empty_response.handle,
    "FirmwareStatusNotification": empty_response.handle,
    "Heartbeat": heartbeat.handle,
    "MeterValues": empty_response.handle,
    "StartTransaction": start_transaction.handle,
    "StatusNotification": empty_response.handle,
    "StopTransaction": stop_transaction.handle,
    # Security extension.
    "LogStatusNotification": empty_response.handle,
    "SecurityEventNotification": empty_response.handle,
    "SignCertificate": sign_certificate.handle,
    "SignedFirmwareStatusNotification": empty_response.handle,
}
