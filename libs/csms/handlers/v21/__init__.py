"""OCPP 2.1 route table: every Charging Station -> CSMS action of 2.1.

Actions whose 2.1 payloads answer the same way as in 2.0.1 use the 2.0.1 modules (2.1 only adds
optional response fields to them); actions new in 2.1, or answered differently, have modules
here (Authorize: 2.1 adds the driver's tariff). NotifyPeriodicEventStream is a SEND
(MessageTypeId 6, no response) and so no route."""

from collections.abc import Mapping

from csms.handlers import Handler
from csms.handlers.v21 import (
    authorize,
    get_certificate_chain_status,
    notify_ev_charging_needs,
    open_periodic_event_stream,
    pull_dynamic_schedule_update,
    vat_number_validation,
)
from csms.handlers.v201 import (
    boot_notification,
    data_transfer,
    empty_response,
    get_15118_ev_certificate,
    get_certificate_status,
    heartbeat,
    notify_ev_charging_schedule,
    sign_certificate,
    transaction_event,
)

ROUTES: Mapping[str, Handler] = {
    "Authorize": authorize.handle,
    "BatterySwap": empty_response.handle,
    "BootNotification": boot_notification.handle,
    "ClearedChargingLimit": empty_response.handle,
    "ClosePeriodicEventStream": empty_response.handle,
    "DataTransfer": data_transfer.handle,
    "FirmwareStatusNotification": empty_response.handle,
    "Get15118EVCertificate": get_15118_ev_certificate.handle,
    "GetCertificateChainStatus": get_certificate_chain_status.handle,
    "GetCertificateStatus": get_certificate_status.handle,
    "Heartbeat": heartbeat.handle,
    "LogStatusNotification": empty_response.handle,
    "MeterValues": empty_response.handle,
    "NotifyChargingLimit": empty_response.handle,
    "NotifyCustomerInformation": empty_response.handle,
    "NotifyDERAlarm": empty_response.handle,
    "NotifyDERStartStop": empty_response.handle,
    "NotifyDisplayMessages": empty_response.handle,
    "NotifyEVChargingNeeds": notify_ev_charging_needs.handle,
    "NotifyEVChargingSchedule": notify_ev_charging_schedule.handle,
    "NotifyEvent": empty_response.handle,
    "NotifyMonitoringReport": empty_response.handle,
    "NotifyPriorityCharging": empty_response.handle,
    "NotifyReport": empty_response.handle,
    "NotifySettlement": empty_response.handle,
    "OpenPeriodicEventStream": open_periodic_event_stream.handle,
    "PublishFirmwareStatusNotification": empty_response.handle,
    "PullDynamicScheduleUpdate": pull_dynamic_schedule_update.handle,
    "ReportChargingProfiles": empty_response.handle,
    "ReportDERControl": empty_response.handle,
    "ReservationStatusUpdate": empty_response.handle,
    "SecurityEventNotification": empty_response.handle,
    "SignCertificate": sign_certificate.handle,
    "StatusNotification": empty_response.handle,
    "TransactionEvent": transaction_event.handle,
    "VatNumberValidation": vat_number_validation.handle,
}
