"""Shared library of the CSMS: envelope, protocol layer, neutral domain, settings, clients.

Nothing in `csms` imports a service (`services.*`); the domain imports no I/O library.
"""
