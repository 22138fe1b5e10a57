import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.envelope import (
    DIRECTIONS,
    ENVELOPE_VERSION,
    KINDS,
    Direction,
    EnvelopeError,
    EnvelopeWriter,
    FrameEnvelope,
    Kind,
    decode,
    new_event_id,
)


def _env(**over: object) -> FrameEnvelope:
    fields: dict[str, object] = dict(
        id=new_event_id(1_700_000_000_000),
        ts=1_700_000_000_000,
        station="CP-1",
        gw="gw-0",
        conn="c1",
        proto="ocpp1.6",
        dir="in",
        kind="call",
        uid="42",
        action="Heartbeat",
        frame='[2,"42","Heartbeat",{}]',
    )
    fields.update(over)
    return FrameEnvelope(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field_and_the_raw_frame_byte_exact() -> None:
    env = _env(frame='[2, "42",  "Heartbeat", {}]')
    decoded = decode(env.encode())
    assert decoded == env
    assert decoded.frame == '[2, "42",  "Heartbeat", {}]'


def test_encoded_form_is_the_documented_contract() -> None:
    d = orjson.loads(_env().encode())
    assert set(d) == {
        "v",
        "id",
        "ts",
        "station",
        "gw",
        "conn",
        "proto",
        "dir",
        "kind",
        "uid",
        "action",
        "frame",
    }
    assert d["v"] == ENVELOPE_VERSION


def test_err_is_only_present_on_rejected_frames() -> None:
    assert "err" not in orjson.loads(_env().encode())
    rejected = _env(err="FormationViolation")
    assert orjson.loads(rejected.encode())["err"] == "FormationViolation"
    assert decode(rejected.encode()).err == "FormationViolation"


def test_flag_is_only_present_on_frames_accepted_leniently() -> None:
    assert "flag" not in orjson.loads(_env().encode())
    concurrent = _env(flag="ConcurrentCall")
    assert orjson.loads(concurrent.encode())["flag"] == "ConcurrentCall"
    assert decode(concurrent.encode()).flag == "ConcurrentCall"
    assert decode(_env().encode()).flag == ""


def test_key_and_headers_let_consumers_filter_without_decoding() -> None:
    env = _env()
    assert env.key() == b"CP-1"
    assert dict(env.headers()) == {"proto": b"ocpp1.6", "action": b"Heartbeat"}


def test_event_ids_are_unique_and_time_ordered() -> None:
    ids = {new_event_id(1000) for _ in range(1000)}
    assert len(ids) == 1000
    assert new_event_id(1000) < new_event_id(2000)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"v":1}', "missing fields"),
        (orjson.dumps({**_env().to_dict(), "v": 99}), "unsupported envelope version"),
        (orjson.dumps({**_env().to_dict(), "dir": "sideways"}), "invalid dir"),
        (orjson.dumps({**_env().to_dict(), "kind": "other"}), "invalid kind"),
        (orjson.dumps({**_env().to_dict(), "ts": "yesterday"}), "ts must be"),
    ],
)
def test_invalid_envelopes_are_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        decode(raw)


def test_ocpp_message_parses_the_frame_or_returns_none() -> None:
    assert _env().ocpp_message() == [2, "42", "Heartbeat", {}]
    assert _env(frame="garbage").ocpp_message() is None
    assert _env(frame="").ocpp_message() is None


# --- the gateway's writer ------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)  # quotes, escapes, emoji


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    station=_TEXT,
    gw=_TEXT,
    conn=_TEXT,
    proto=st.sampled_from(["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]),
    ts=st.integers(min_value=0, max_value=2**47),
    direction=st.sampled_from(sorted(DIRECTIONS)),
    kind=st.sampled_from(sorted(KINDS)),
    uid=_TEXT,
    action=_TEXT,
    frame=_TEXT,
    err=_TEXT,
    flag=_TEXT,
)
def test_the_writer_writes_the_envelope_s_own_bytes(
    station: str,
    gw: str,
    conn: str,
    proto: str,
    ts: int,
    direction: Direction,
    kind: Kind,
    uid: str,
    action: str,
    frame: str,
    err: str,
    flag: str,
) -> None:
    written = EnvelopeWriter(station, gw, conn, proto, clock=lambda: ts).write(
        direction, kind, uid=uid, action=action, frame=frame, err=err, flag=flag
    )
    event_id = decode(written.encode()).id  # random: taken from what was written
    expected = FrameEnvelope(
        id=event_id,
        ts=ts,
        station=station,
        gw=gw,
        conn=conn,
        proto=proto,
        dir=direction,
        kind=kind,
        uid=uid,
        action=action,
        frame=frame,
        err=err,
        flag=flag,
    )
    assert written.encode() == expected.encode()
    assert written.key() == expected.key()
    assert written.headers() == expected.headers()
    assert (written.kind, written.station) == (kind, station)
    assert event_id[:12] == f"{ts:012x}" and len(event_id) == 28


@pytest.mark.parametrize("field", ["dir", "kind"])
@pytest.mark.parametrize("value", [[], {}, ["in"], {"call": 1}])
def test_a_dir_or_kind_that_is_not_a_string_is_refused_not_a_crash(
    field: str, value: object
) -> None:
    """Regression (tests/fuzz): an unhashable value raised TypeError out of decode()."""
    fields = {
        "v": ENVELOPE_VERSION, "id": "e", "ts": 1, "station": "s", "gw": "g", "conn": "c",
        "proto": "ocpp1.6", "dir": "in", "kind": "call", "uid": "u", "action": "Heartbeat",
    }  # fmt: skip
    fields[field] = value
    with pytest.raises(EnvelopeError, match=f"invalid {field}"):
        decode(orjson.dumps(fields))
