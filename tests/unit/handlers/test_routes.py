"""Every charger-initiated action of every version is routed, and every answer obeys the
version's response schema."""

from typing import Any

import pytest

from csms.handlers import CallContext, routes
from csms.protocol.directions import STATION_ACTIONS
from csms.protocol.validation import known_actions, validator
from csms.protocol.versions import OcppVersion
from tests.unit.gateway.fakes import FixedDecisions
from tests.unit.handlers.requests import minimal_request

NOW = 1_764_000_000_123

CHARGER_ACTIONS = STATION_ACTIONS
EVERY_ROUTE = [(v, a) for v in OcppVersion for a in sorted(CHARGER_ACTIONS[v])]


@pytest.mark.parametrize("version", list(OcppVersion))
def test_route_table_is_exactly_the_charger_initiated_actions(version: OcppVersion) -> None:
    assert set(routes(version)) == CHARGER_ACTIONS[version]
    assert CHARGER_ACTIONS[version] <= known_actions(version)  # all defined by the schemas


@pytest.mark.parametrize(("version", "action"), EVERY_ROUTE)
async def test_every_answer_validates_against_the_response_schema(
    version: OcppVersion, action: str
) -> None:
    request = minimal_request(version, action)
    validator(version, action)(request)  # the generated request is itself valid
    answer = await routes(version)[action](
        CallContext("CP-1", version, request, NOW, FixedDecisions())
    )
    assert isinstance(answer, dict)
    validator(version, action, response=True)(answer)


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
@pytest.mark.parametrize("status", ["Accepted", "Blocked", "Expired", "Invalid"])
async def test_transaction_event_with_a_token_answers_a_valid_id_token_info(
    version: OcppVersion, status: str
) -> None:
    request: dict[str, Any] = minimal_request(version, "TransactionEvent")
    request["idToken"] = {"idToken": "TOKEN-1", "type": "ISO14443"}
    validator(version, "TransactionEvent")(request)
    ctx = CallContext("CP-1", version, request, NOW, FixedDecisions(token_status=status))
    answer = await routes(version)["TransactionEvent"](ctx)
    validator(version, "TransactionEvent", response=True)(answer)
    assert answer == {"idTokenInfo": {"status": status}}
