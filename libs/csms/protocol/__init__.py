"""OCPP-J protocol layer: versions, RPC framing, error codes and precompiled schema validation."""
