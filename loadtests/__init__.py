"""Load tools and scripted chargers that drive a CSMS over real OCPP-J WebSockets."""
