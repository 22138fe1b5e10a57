"""Micro-benchmarks that need the services' internals (in-process stages, a step without its
agent, a probe with stand-ins for Kafka and Redis). Not part of the package: black-box load
tools that speak only OCPP-J, HTTP and Kafka live in `loadtests/`."""
