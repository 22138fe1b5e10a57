"""Each read-model key is named once: csms.infra.redis_keys re-exports the read models' own
functions. (That the read models import no processor code is an import-linter contract,
pyproject.toml.)"""

from __future__ import annotations

from csms.infra import redis_keys
from csms.readmodels import bills, device_models, id_tokens, stations, tariffs, transactions


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
