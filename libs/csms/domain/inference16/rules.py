"""Vendor rules of the 1.6 inference: `Rules`, the interpretation switches of one station
model (stop reason -> trigger included), and `RulesRegistry`, Rules per (vendor, model) glob,
loadable from config."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from csms.domain.frames import as_dict, as_list

DEFAULT_STOP_TRIGGERS: Mapping[str, str] = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "DeAuthorized": "Deauthorized",
    "HardReset": "ResetCommand",
    "SoftReset": "ResetCommand",
    "UnlockCommand": "UnlockCommand",
    "EmergencyStop": "AbnormalCondition",
    "PowerLoss": "AbnormalCondition",
    "Reboot": "AbnormalCondition",
    "Other": "AbnormalCondition",
}


@dataclass(frozen=True)
class Rules:
    """How one station model uses the 1.6 statuses (see the table of csms.domain.inference16)."""

    # None: Preparing is a plug-in unless an authorization is held; True / False force it.
    preparing_means_plugged: bool | None = None
    # The station reports SuspendedEV between the start and the EV's first energy draw.
    suspended_ev_before_charging: bool = False
    # "stopped": Finishing = transaction stopped, cable still in (1.6 §4.9);
    # "unplugged": the station goes to Finishing when the cable is removed.
    finishing: Literal["stopped", "unplugged"] = "stopped"
    # How long an authorization waits for a plug-in (2.0.1 EVConnectionTimeOut).
    auth_hold_ms: int = 120_000
    offline_skew_ms: int = 60_000
    meter_value_events: bool = True
    stop_triggers: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STOP_TRIGGERS))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base: Rules | None = None) -> Rules:
        """Rules from config; keys override `base` (stop_triggers are merged). Raises
        ValueError for an unknown key or a wrongly typed value: config errors fail loudly."""
        start = base if base is not None else cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown inference rule(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in d.items():
            current = getattr(start, name)
            if name == "stop_triggers":
                if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()
                ):
                    raise ValueError("stop_triggers must map reason -> trigger")
                values[name] = {**current, **value}
            elif name == "preparing_means_plugged":
                if value is not None and not isinstance(value, bool):
                    raise ValueError(f"{name} must be true, false or null")
                values[name] = value
            elif name == "finishing":
                if value not in ("stopped", "unplugged"):
                    raise ValueError("finishing must be 'stopped' or 'unplugged'")
                values[name] = value
            elif type(value) is not type(current):
                raise ValueError(f"{name} must be {type(current).__name__}")
            else:
                values[name] = value
        return replace(start, **values)


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class RulesRegistry:
    """Rules per station model: (vendor glob, model glob, rules), first match wins."""

    default: Rules = DEFAULT_RULES
    entries: tuple[tuple[str, str, Rules], ...] = ()

    def rules_for(self, vendor: str, model: str) -> Rules:
        for vendor_glob, model_glob, rules in self.entries:
            if _match(vendor, vendor_glob) and _match(model, model_glob):
                return rules
        return self.default

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RulesRegistry:
        """{"default": {rule: value}, "models": [{"vendor": glob, "model": glob,
        "rules": {...}}]}; a model's rules override the default's."""
        default = Rules.from_dict(as_dict(d.get("default")))
        entries = []
        for item in as_list(d.get("models")):
            if not isinstance(item, Mapping):
                raise ValueError("each model entry must be an object")
            vendor, model = item.get("vendor", "*"), item.get("model", "*")
            if not isinstance(vendor, str) or not isinstance(model, str):
                raise ValueError("vendor and model must be glob strings")
            entries.append((vendor, model, Rules.from_dict(as_dict(item.get("rules")), default)))
        return cls(default=default, entries=tuple(entries))


def _match(value: str, glob: str) -> bool:
    return fnmatch.fnmatchcase(value.casefold(), glob.casefold())
