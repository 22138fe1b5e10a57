"""Station credentials (security profile 1) and, later, certificates."""
