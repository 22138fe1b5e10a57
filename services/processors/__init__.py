"""Stream processors: faust-streaming agents that project `ocpp.frames` into read models."""
