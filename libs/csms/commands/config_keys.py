"""Configuration keys: OCPP 1.6 key names <-> OCPP 2.x component/variable pairs.

The one table of standard mappings lives here (from the 2.0.1 specification's migration notes and
device model, part 2 appendix 3). A neutral key is written either as a 1.6 name
(`HeartbeatInterval`), or as `Component.Variable` with optional `[instance]` suffixes
(`OCPPCommCtrlr.MessageAttempts[TransactionEvent]`), or as a structured object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VariableRef:
    """A 2.x component/variable address (the EVSE and connector are optional)."""

    component: str
    variable: str
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None

    @property
    def key(self) -> str:
        """The neutral text form, `Component[inst].Variable[inst]` (EVSE not included)."""
        comp = self.component + (f"[{self.component_instance}]" if self.component_instance else "")
        var = self.variable + (f"[{self.variable_instance}]" if self.variable_instance else "")
        return f"{comp}.{var}"


def _v(component: str, variable: str, variable_instance: str | None = None) -> VariableRef:
    return VariableRef(component, variable, variable_instance=variable_instance)


# 1.6 standard key -> 2.x component/variable. Only mappings the 2.0.1 specification names as the
# successor of the 1.6 key; vendor and unmapped keys need the Component.Variable form on 2.x.
V16_TO_V2: dict[str, VariableRef] = {
    "AllowOfflineTxForUnknownId": _v("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
    "AuthorizationCacheEnabled": _v("AuthCacheCtrlr", "Enabled"),
    "AuthorizationKey": _v("SecurityCtrlr", "BasicAuthPassword"),
    "AuthorizeRemoteTxRequests": _v("AuthCtrlr", "AuthorizeRemoteStart"),
    "ChargeProfileMaxStackLevel": _v("SmartChargingCtrlr", "ProfileStackLevel"),
    "ChargingScheduleAllowedChargingRateUnit": _v("SmartChargingCtrlr", "RateUnit"),
    "ChargingScheduleMaxPeriods": _v("SmartChargingCtrlr", "PeriodsPerSchedule"),
    "ClockAlignedDataInterval": _v("AlignedDataCtrlr", "Interval"),
    "ConnectionTimeOut": _v("TxCtrlr", "EVConnectionTimeOut"),
    "CpoName": _v("SecurityCtrlr", "OrganizationName"),
    "GetConfigurationMaxKeys": _v("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables"),
    "HeartbeatInterval": _v("OCPPCommCtrlr", "HeartbeatInterval"),
    "LocalAuthListEnabled": _v("LocalAuthListCtrlr", "Enabled"),
    "LocalAuthorizeOffline": _v("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalPreAuthorize": _v("AuthCtrlr", "LocalPreAuthorize"),
    "MaxEnergyOnInvalidId": _v("TxCtrlr", "MaxEnergyOnInvalidId"),
    "MeterValueSampleInterval": _v("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesAlignedData": _v("AlignedDataCtrlr", "Measurands"),
    "MeterValuesSampledData": _v("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "ReserveConnectorZeroSupported": _v("ReservationCtrlr", "NonEvseSpecific"),
    "ResetRetries": _v("OCPPCommCtrlr", "ResetRetries"),
    "SecurityProfile": _v("SecurityCtrlr", "SecurityProfile"),
    "SendLocalListMaxLength": _v("LocalAuthListCtrlr", "ItemsPerMessage"),
    "StopTransactionOnEVSideDisconnect": _v("TxCtrlr", "StopTxOnEVSideDisconnect"),
    "StopTransactionOnInvalidId": _v("TxCtrlr", "StopTxOnInvalidId"),
    "StopTxnAlignedData": _v("AlignedDataCtrlr", "TxEndedMeasurands"),
    "StopTxnSampledData": _v("SampledDataCtrlr", "TxEndedMeasurands"),
    "TransactionMessageAttempts": _v("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
    "TransactionMessageRetryInterval": _v(
        "OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"
    ),
    "UnlockConnectorOnEVSideDisconnect": _v("OCPPCommCtrlr", "UnlockOnEVSideDisconnect"),
    "WebSocketPingInterval": _v("OCPPCommCtrlr", "WebSocketPingInterval"),
}

# Component and variable names are case-insensitive in 2.x: index the reverse map in lower case.
_V2_TO_V16: dict[str, str] = {ref.key.lower(): name for name, ref in V16_TO_V2.items()}

_NAME = r"[^.\[\]]+"
_DOTTED = re.compile(
    rf"(?P<c>{_NAME})(?:\[(?P<ci>{_NAME})\])?\.(?P<v>{_NAME})(?:\[(?P<vi>{_NAME})\])?"
)


def parse_dotted(key: str) -> VariableRef | None:
    """`Component[inst].Variable[inst]` -> VariableRef; None when `key` is not in that form."""
    match = _DOTTED.fullmatch(key)
    if match is None:
        return None
    return VariableRef(match["c"], match["v"], match["ci"], match["vi"])


def v16_name(ref: VariableRef) -> str | None:
    """The 1.6 key standing for a 2.x variable, when the table has one (EVSE-less only)."""
    if ref.evse_id is not None or ref.connector_id is not None:
        return None
    return _V2_TO_V16.get(ref.key.lower())


def v2_ref(key: str) -> VariableRef | None:
    """The 2.x variable of a neutral text key: a mapped 1.6 name or a dotted address."""
    return V16_TO_V2.get(key) or parse_dotted(key)
