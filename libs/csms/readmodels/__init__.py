"""The Redis read models: one contract per read model, shared by its writer and every reader.

Each module holds one read model: its key layout, its encoder and decoder (pure; a decoder
never raises to a reader: malformed input is logged and read as absent), a Protocol of the reads
and writes its users need, a Redis implementation and an in-memory one. Writers and readers go
through these only; nobody else names these keys or parses their values.

| key | type | writer (owner) | readers |
|---|---|---|---|
| `csms:stations` | set | processors: status | API |
| `csms:station:<id>` | hash | processors: status | API, processors |
| `csms:station:<id>:connectors` | hash | processors: status | API, processors |
| `csms:tx:<station>/<id>` | string | processors: transactions | API, processors |
| `csms:txs`, `csms:station:<id>:txs` | zset | processors: transactions | API |
| `csms:txs:active`, `csms:station:<id>:active_txs` | zset, set | processors: transactions | them |
| `csms:pending:<station>:<conn>:<uid>` | string, TTL | processors: transactions | processors |
| `csms:pending:remote:<station>:<ref>` | string, TTL | processors: transactions | processors |
| `csms:idtoken:<token>` | hash | API | gateway, billing lookups, API |
| `csms:idtokens` | zset | API | API |
| `csms:dm:<station>` | string | processors: device model | API, billing lookups, gateway |
| `csms:dmcall:<station>:<conn>:<uid>` | string, TTL | processors: device model | processors |
| `csms:bill:<station>/<id>` | string | processors: billing | API, gateway |
| `csms:cost:<station>/<id>` | string, TTL | processors: billing | gateway |
| `csms:tariffs` | set | API | API |
| `csms:tariff:v:<id>` | hash | API | API, billing lookups, gateway |
| `csms:tariff:assignments` | hash | API | API, billing lookups, gateway |

What each value holds is in the docstring of its module.

Modules: `stations`, `transactions`, `id_tokens`, `device_models`, `bills`, `tariffs`; `base`
holds the key prefix, the lenient parsing helpers and the hook into the processors' write-behind
copy (a key's object decoded once per batch and encoded once at the flush). The processors'
keys are rebuilt by `csms replay`; id tokens and tariffs are operator data it never touches.
Routing and infrastructure keys (registry, routes, epochs, channels, commands, API tokens, the
1.6 transactionId counter, the 1.6 inference state) are named in csms.infra.redis_keys, which
also re-exports the keys above under their historical names.

Layering: this package may import csms.domain and redis, never csms.projections (the
processors' steps import it) nor a service.
"""
