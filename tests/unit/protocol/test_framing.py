import orjson
import pytest

from csms.protocol import framing
from csms.protocol.errors import Failure, FrameRejected, error_code
from csms.protocol.versions import OcppVersion, negotiate


def test_parses_call_result_and_error() -> None:
    assert framing.parse('[2,"1","Heartbeat",{}]') == framing.Call("1", "Heartbeat", {})
    assert framing.parse('[3,"1",{"a":1}]') == framing.CallResult("1", {"a": 1})
    assert framing.parse('[4,"1","NotSupported","no",{}]') == framing.CallError(
        "1", "NotSupported", "no", {}
    )


@pytest.mark.parametrize(
    ("text", "failure", "uid"),
    [
        ("{not json", Failure.FORMAT, "-1"),
        ('{"a":1}', Failure.RPC_FRAMEWORK, "-1"),
        ("[]", Failure.RPC_FRAMEWORK, "-1"),
        ("[2]", Failure.RPC_FRAMEWORK, "-1"),
        ('[2, 17, "Heartbeat", {}]', Failure.RPC_FRAMEWORK, "-1"),
        ('[2,"' + "x" * 37 + '","Heartbeat",{}]', Failure.RPC_FRAMEWORK, "-1"),
        ('[9,"7","Heartbeat",{}]', Failure.MESSAGE_TYPE, "7"),
        ('[2,"7","Heartbeat"]', Failure.RPC_FRAMEWORK, "7"),
        ('[2,"7",5,{}]', Failure.RPC_FRAMEWORK, "7"),
        ('[2,"7","Heartbeat",[]]', Failure.FORMAT, "7"),
        ('[3,"7"]', Failure.RPC_FRAMEWORK, "7"),
        ('[4,"7","x"]', Failure.RPC_FRAMEWORK, "7"),
    ],
)
def test_bad_frames_are_rejected_with_the_failure_and_the_readable_uid(
    text: str, failure: Failure, uid: str
) -> None:
    with pytest.raises(FrameRejected) as info:
        framing.parse(text)
    assert info.value.failure is failure
    assert info.value.uid == uid


def test_builders_produce_ocpp_j_arrays() -> None:
    assert orjson.loads(framing.call_result_text("9", {"x": 1})) == [3, "9", {"x": 1}]
    err = orjson.loads(framing.call_error_text("9", "NotImplemented", "d" * 1000))
    assert err[:3] == [4, "9", "NotImplemented"]
    assert len(err[3]) == framing.MAX_DESCRIPTION_LENGTH
    assert err[4] == {}


def test_error_codes_use_each_versions_spelling() -> None:
    assert error_code(OcppVersion.V16, Failure.FORMAT) == "FormationViolation"
    assert error_code(OcppVersion.V201, Failure.FORMAT) == "FormatViolation"
    assert error_code(OcppVersion.V16, Failure.OCCURRENCE) == "OccurenceConstraintViolation"
    assert error_code(OcppVersion.V21, Failure.OCCURRENCE) == "OccurrenceConstraintViolation"
    assert error_code(OcppVersion.V201, Failure.RPC_FRAMEWORK) == "RpcFrameworkError"
    assert error_code(OcppVersion.V201, Failure.MESSAGE_TYPE) == "MessageTypeNotSupported"
    for failure in Failure:
        for version in OcppVersion:
            assert error_code(version, failure)


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (["ocpp1.6"], OcppVersion.V16),
        (["ocpp2.0.1", "ocpp1.6"], OcppVersion.V201),
        (["ocpp1.6", "ocpp2.1", "ocpp2.0.1"], OcppVersion.V21),
        (["ocpp1.5", "soap"], None),
        ([], None),
    ],
)
def test_negotiation_prefers_the_newest_common_version(
    offered: list[str], expected: OcppVersion | None
) -> None:
    assert negotiate(offered) == expected
