"""Every neutral command on every version: schema-valid calls, or a refusal naming the version."""

from __future__ import annotations

import ocpp.v16.enums
import ocpp.v21.enums
import ocpp.v201.enums
import pytest

from csms.commands import (
    COMMANDS,
    CSMS_ACTIONS,
    InvalidCommand,
    UnsupportedCommand,
    command_table_markdown,
    is_csms_action,
    translate,
    validate_request,
)
from csms.commands.models import CommandModel
from csms.protocol.directions import STATION_ACTIONS
from csms.protocol.validation import known_actions, validator
from csms.protocol.versions import OcppVersion

from .helpers import body_for

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21

ENUMS = {V16: ocpp.v16.enums.Action, V201: ocpp.v201.enums.Action, V21: ocpp.v21.enums.Action}


@pytest.mark.parametrize("version", list(OcppVersion))
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_on_every_version(name: str, version: OcppVersion) -> None:
    spec = COMMANDS[name]
    if version not in spec.versions:
        with pytest.raises(UnsupportedCommand) as err:
            translate(name, body_for(name, version), version)
        assert err.value.version is version
        assert "OCPP 1.6" in str(err.value)
        return
    calls = translate(name, body_for(name, version), version)
    assert calls
    for call in calls:
        assert call.action in spec.actions[version]  # the documented action
        assert is_csms_action(version, call.action)
        validator(version, call.action)(call.payload)  # checked independently of translate


def test_models_are_accepted_as_well_as_dicts() -> None:
    for name, spec in COMMANDS.items():
        for version in spec.versions:
            body = body_for(name, version)
            model = spec.model.model_validate(body)
            assert translate(name, model, version) == translate(name, body, version)


def test_version_support_counts() -> None:
    supported = {v: sorted(n for n, s in COMMANDS.items() if v in s.versions) for v in OcppVersion}
    assert len(supported[V201]) == len(supported[V21]) == len(COMMANDS) == 26
    assert set(COMMANDS) - set(supported[V16]) == {
        "get-report",
        "customer-information",
        "set-display-message",
        "get-display-messages",
        "clear-display-message",
        "cost-updated",
    }


@pytest.mark.parametrize("version", list(OcppVersion))
def test_csms_actions_and_station_actions_partition_the_version(version: OcppVersion) -> None:
    every = {a.value for a in ENUMS[version]}
    csms, station = CSMS_ACTIONS[version], STATION_ACTIONS[version]
    assert csms | station == every
    assert csms & station == {"DataTransfer"}  # the one action both sides send
    assert csms <= known_actions(version)  # each has a request schema


@pytest.mark.parametrize("version", list(OcppVersion))
def test_validate_request_refuses_station_initiated_actions(version: OcppVersion) -> None:
    with pytest.raises(InvalidCommand, match="not an action the CSMS can send"):
        validate_request(version, "BootNotification", {})
    with pytest.raises(InvalidCommand, match="not an action"):
        validate_request(version, "NoSuchAction", {})


def test_validate_request_refuses_actions_of_other_versions() -> None:
    with pytest.raises(InvalidCommand, match=r"OCPP 1\.6"):
        validate_request(V16, "GetVariables", {"getVariableData": []})
    with pytest.raises(InvalidCommand, match=r"OCPP 2\.0\.1"):
        validate_request(V201, "SetDefaultTariff", {})
    with pytest.raises(InvalidCommand, match=r"OCPP 2\.0\.1"):
        validate_request(V201, "GetConfiguration", {})


def test_validate_request_reports_the_schema_error() -> None:
    with pytest.raises(InvalidCommand) as err:
        validate_request(V16, "ChangeAvailability", {"connectorId": "1", "type": "Operative"})
    assert "connectorId must be integer" in err.value.reason
    assert err.value.code == "invalid_command"
    with pytest.raises(InvalidCommand, match="must contain at least 1 items"):
        validate_request(V201, "GetVariables", {"getVariableData": []})
    validate_request(V21, "ClearCache", {})  # a valid call passes silently


def test_unknown_command_and_wrong_model() -> None:
    with pytest.raises(InvalidCommand, match="unknown command"):
        translate("self-destruct", {}, V16)
    with pytest.raises(TypeError):
        translate("reset", COMMANDS["clear-cache"].model(), V16)


def test_bad_body_is_an_invalid_command_with_the_field() -> None:
    with pytest.raises(InvalidCommand, match="operative"):
        translate("change-availability", {}, V16)
    with pytest.raises(InvalidCommand, match=r"(?i)extra inputs"):
        translate("clear-cache", {"surprise": 1}, V201)


def test_models_document_themselves_for_openapi() -> None:
    for spec in COMMANDS.values():
        assert issubclass(spec.model, CommandModel)
        schema = spec.model.model_json_schema()
        assert schema["type"] == "object"
        assert spec.summary
    schema = COMMANDS["remote-start"].model.model_json_schema()
    assert "description" in schema["properties"]["charging_profile"]
    assert "remote_start_id" not in schema.get("required", [])


def test_command_table_lists_every_command_and_action() -> None:
    table = command_table_markdown()
    for name, spec in COMMANDS.items():
        assert f"`{name}`" in table
        for text in spec.actions.values():
            assert text in table
    assert table.count("— (422)") == 6


def test_validate_request_refuses_a_payload_that_is_not_an_object() -> None:
    with pytest.raises(InvalidCommand, match="payload must be object"):
        validate_request(V201, "ClearCache", [])
