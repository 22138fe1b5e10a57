"""The CSMS processes: thin shells around `csms` (the shared library)."""
