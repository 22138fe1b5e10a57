"""`csms replay`: rebuild the processors' read models and outputs from Kafka."""
