"""OCPP 2.0.1 route table."""

from collections.abc import Mapping

from csms.handlers import Handler
from csms.handlers.v201 import (
    authorize,
    boot_notification,
    data_transfer,
    empty_response,
    heartbeat,
    transaction_event,
)

ROUTES: Mapping[str, Handler] = {
    "Authorize": authorize.handle,
    "BootNotification": boot_notification.handle,
    "DataTransfer": data_transfer.handle,
    "FirmwareStatusNotification": empty_response.handle,
    "Heartbeat": heartbeat.handle,
    "LogStatusNotification": empty_response.handle,
    "MeterValues": empty_response.handle,
    "NotifyEvent": empty_response.handle,
    "NotifyMonitoringReport": empty_response.handle,
    "NotifyReport": empty_response.handle,
    "SecurityEventNotification": empty_response.handle,
    "StatusNotification": empty_response.handle,
    "TransactionEvent": transaction_event.handle,
}
