"""OCPP 2.0.1 route table: every Charging Station -> CSMS action of 2.0.1."""

from collections.abc import Mapping

from csms.handlers import Handler
from csms.handlers.v201 import (
    authorize,
    boot_notification,
    data_transfer,
    empty_response,
    get_15118_ev_certificate,
    get_certificate_status,
    heartbeat,
    notify_ev_charging_needs,
    notify_ev_charging_schedule,
    sign_certificate,
    transaction_event,
)

ROUTES: Mapping[str, Handler] = {
    "Authorize": authorize.handle,
    "BootNotification": boot_notification.handle,
    "ClearedChargingLimit": empty_response.handle,
    "DataTransfer": data_transfer.handle,
    "FirmwareStatusNotification": empty_response.handle,
    "Get15118EVCertificate": get_15118_ev_certificate.handle,
    "GetCertificateStatus": get_certificate_status.handle,
    "Heartbeat": heartbeat.handle,
    "LogStatusNotification": empty_response.handle,
    "MeterValues": empty_response.handle,
    "NotifyChargingLimit": empty_response.handle,
    "NotifyCustomerInformation": empty_response.handle,
    "NotifyDisplayMessages": empty_response.handle,
    "NotifyEVChargingNeeds": notify_ev_charging_needs.handle,
    "NotifyEVChargingSchedule": notify_ev_charging_schedule.handle,
    "NotifyEvent": empty_response.handle,
    "NotifyMonitoringReport": empty_response.handle,
    "NotifyReport": empty_response.handle,
    "PublishFirmwareStatusNotification": empty_response.handle,
    "ReportChargingProfiles": empty_response.handle,
    "ReservationStatusUpdate": empty_response.handle,
    "SecurityEventNotification": empty_response.handle,
    "SignCertificate": sign_certificate.handle,
    "StatusNotification": empty_response.handle,
    "TransactionEvent": transaction_event.handle,
}
