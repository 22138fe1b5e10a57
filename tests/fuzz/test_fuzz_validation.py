"""Schema validation of every action of every version, requests and responses, under payloads
drawn from the action's own schema with random faults: the gateway's `validate_call` answers
"" / UnknownProperties or raises FrameRejected with a CALLERROR kind, and a response validator
raises only fastjsonschema's own error — never anything else."""

from __future__ import annotations

import contextlib
from typing import Any

import fastjsonschema
from hypothesis import given
from hypothesis import strategies as st

from csms.protocol.errors import Failure, FrameRejected
from csms.protocol.validation import UNKNOWN_PROPERTIES, known_actions, validate_call, validator
from csms.protocol.versions import OcppVersion
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.schema_values import payloads

ACTIONS = sorted((v, a) for v in OcppVersion for a in known_actions(v))


@st.composite
def calls(draw: st.DrawFn) -> tuple[OcppVersion, str, Any]:
    version, action = draw(st.sampled_from(ACTIONS))
    return version, action, draw(payloads(version, action))


@st.composite
def responses(draw: st.DrawFn) -> tuple[OcppVersion, str, Any]:
    version, action = draw(st.sampled_from(ACTIONS))
    return version, action, draw(payloads(version, action, response=True))


def test_every_action_of_every_version_is_fuzzed() -> None:
    counts = {v: sum(1 for version, _ in ACTIONS if version is v) for v in OcppVersion}
    assert counts[OcppVersion.V16] >= 28 and counts[OcppVersion.V201] >= 60
    assert counts[OcppVersion.V21] > counts[OcppVersion.V201]


@fuzz_settings(scale=3)
@given(calls(), st.booleans())
def test_a_call_payload_validates_or_is_rejected_with_a_callerror_kind(
    call: tuple[OcppVersion, str, Any], lenient: bool
) -> None:
    version, action, payload = call
    if not isinstance(payload, dict):
        return  # framing refuses a payload that is not an object before validation
    try:
        flag = validate_call(version, "u1", action, payload, lenient=lenient)
    except FrameRejected as exc:
        assert isinstance(exc.failure, Failure) and exc.action == action
        return
    assert flag in ("", UNKNOWN_PROPERTIES) and (lenient or flag == "")


@fuzz_settings(scale=3)
@given(responses())
def test_a_response_payload_validates_or_fails_with_the_schema_error(
    response: tuple[OcppVersion, str, Any],
) -> None:
    version, action, payload = response
    with contextlib.suppress(fastjsonschema.JsonSchemaValueException):
        validator(version, action, response=True)(payload)
