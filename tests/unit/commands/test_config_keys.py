"""The 1.6 key <-> 2.x component/variable table and the neutral key grammar."""

from __future__ import annotations

import pytest

from csms.commands.config_keys import V16_TO_V2, VariableRef, parse_dotted, v2_ref, v16_name


def test_the_table_round_trips() -> None:
    for name, ref in V16_TO_V2.items():
        assert v16_name(ref) == name
        assert v2_ref(ref.key) == ref
    assert len({ref.key for ref in V16_TO_V2.values()}) == len(V16_TO_V2)  # no two keys share one


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval"),
        ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval"),
        ("ConnectionTimeOut", "TxCtrlr.EVConnectionTimeOut"),
        ("LocalAuthListEnabled", "LocalAuthListCtrlr.Enabled"),
        ("AuthorizationCacheEnabled", "AuthCacheCtrlr.Enabled"),
        ("WebSocketPingInterval", "OCPPCommCtrlr.WebSocketPingInterval"),
        ("MeterValuesSampledData", "SampledDataCtrlr.TxUpdatedMeasurands"),
        ("StopTransactionOnEVSideDisconnect", "TxCtrlr.StopTxOnEVSideDisconnect"),
        ("TransactionMessageAttempts", "OCPPCommCtrlr.MessageAttempts[TransactionEvent]"),
    ],
)
def test_standard_mappings(name: str, key: str) -> None:
    assert V16_TO_V2[name].key == key


def test_dotted_grammar() -> None:
    assert parse_dotted("EVSE.Power") == VariableRef("EVSE", "Power")
    assert parse_dotted("Connector[2].Available[x]") == VariableRef(
        "Connector", "Available", "2", "x"
    )
    for not_dotted in ("HeartbeatInterval", "a.b.c", ".x", "x.", "A[.B"):
        assert parse_dotted(not_dotted) is None


def test_reverse_lookup_is_case_insensitive_and_evse_free() -> None:
    assert v16_name(VariableRef("ocppcommctrlr", "HEARTBEATINTERVAL")) == "HeartbeatInterval"
    assert v16_name(VariableRef("OCPPCommCtrlr", "HeartbeatInterval", evse_id=1)) is None
    assert v2_ref("VendorKey") is None
