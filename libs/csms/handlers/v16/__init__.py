"""OCPP 1.6J route table."""

from collections.abc import Mapping

from csms.handlers import Handler
from csms.handlers.v16 import (
    authorize,
    boot_notification,
    data_transfer,
    empty_response,
    heartbeat,
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
}
