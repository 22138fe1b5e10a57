"""Rules of the read models that are checks: they import no processor code and no service, and
each key is named once (csms.infra.redis_keys re-exports the read models' own functions)."""

from __future__ import annotations

import ast
from pathlib import Path

from csms import readmodels
from csms.infra import redis_keys
from csms.readmodels import bills, device_models, id_tokens, stations, tariffs, transactions

PACKAGE = Path(readmodels.__file__).parent
FORBIDDEN = ("csms.projections", "services")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_read_models_import_no_processor_code_and_no_service() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 7
    bad = {
        (path.name, name)
        for path in modules
        for name in _imports(path)
        if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN)
    }
    assert bad == set()


def test_redis_keys_delegates_the_read_models_keys() -> None:
    assert redis_keys.station is stations.station_key
    assert redis_keys.station_connectors is stations.connectors_key
    assert redis_keys.transaction is transactions.transaction_key
    assert redis_keys.pending_call is transactions.pending_key
    assert redis_keys.id_token is id_tokens.id_token_key
    assert redis_keys.device_model is device_models.device_model_key
    assert redis_keys.bill is bills.bill_key
    assert redis_keys.cost_checkpoint is bills.checkpoint_key
    assert redis_keys.tariff is tariffs.tariff_key
    assert redis_keys.TARIFF_ASSIGNMENTS == tariffs.ASSIGNMENTS_KEY
