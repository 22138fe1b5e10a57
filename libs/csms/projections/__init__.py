"""The processors' projections, one module each, and the loop that runs them.

* `transactions`, `status`, `device_models`, `inference` (1.6 -> 2.0.1-style events) and
  `billing`: each a step of one shape - load its state from its store, fold the event with a
  pure function of csms.domain (state, event -> new state, outputs), save, return the outputs;
* `pipeline`: the one pass (each event decoded once, every step in partition order, counted,
  Redis errors retried) and the batch around it; `wiring`: which store each step gets;
* `stores` (the steps' stores on csms.readmodels) and `write_behind` (an agent's copy of its
  keys, written once per batch).

They live in the shared library, not under services/processors, because two services run them:
the live processors (services/processors: the consumers and the faust app around the steps)
and the replay (services/replay), which must fold with exactly the live code - and a service
never imports another (pyproject.toml, import-linter).
"""
