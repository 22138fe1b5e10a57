"""The WebSocket gateway: speaks OCPP-J to stations and puts every frame on Kafka."""
