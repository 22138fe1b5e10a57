"""Client factories and key layouts for Kafka, Redis and ClickHouse (the I/O edge)."""
