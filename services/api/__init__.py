"""Operator API: REST + OpenAPI over the Redis read models that the processors maintain."""
