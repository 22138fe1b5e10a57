"""The analytics sink: the only writer to ClickHouse (Kafka -> ClickHouse), plus the local
ClickHouse HTTP endpoint over embedded chDB."""
