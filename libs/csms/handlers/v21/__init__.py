"""OCPP 2.1 route table: these actions keep their 2.0.1 shape in 2.1, so the 2.0.1 handlers
answer them (2.1-only actions get their own modules here as they are added)."""

from collections.abc import Mapping

from csms.handlers import Handler
from csms.handlers.v201 import ROUTES as V201_ROUTES

ROUTES: Mapping[str, Handler] = dict(V201_ROUTES)
