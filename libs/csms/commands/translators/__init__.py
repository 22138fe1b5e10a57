"""One pure function per neutral command: (model, version) -> the CALLs for that version.

Each returns a list because one neutral command may need several calls (1.6 changes one
configuration key per ChangeConfiguration). Payloads are validated by `translate`, not here.

One module per command family (station, transactions, configuration, smart_charging,
firmware_logs, local_list, v2_only) over the shared payload shapes of `shapes`; the registry
reaches every translator through this package.
"""

from __future__ import annotations

from csms.commands.translators.configuration import (
    get_base_report,
    get_configuration,
    get_report,
    set_configuration,
)
from csms.commands.translators.firmware_logs import (
    get_log,
    update_firmware,
)
from csms.commands.translators.local_list import (
    get_local_list_version,
    send_local_list,
)
from csms.commands.translators.smart_charging import (
    clear_charging_profile,
    get_composite_schedule,
    set_charging_profile,
)
from csms.commands.translators.station import (
    TRIGGERS,
    change_availability,
    clear_cache,
    data_transfer,
    reset,
    trigger_message,
    unlock_connector,
)
from csms.commands.translators.transactions import (
    cancel_reservation,
    remote_start,
    remote_stop,
    reserve_now,
)
from csms.commands.translators.v2_only import (
    clear_display_message,
    cost_updated,
    customer_information,
    get_display_messages,
    set_display_message,
)

__all__ = [
    "TRIGGERS",
    "cancel_reservation",
    "change_availability",
    "clear_cache",
    "clear_charging_profile",
    "clear_display_message",
    "cost_updated",
    "customer_information",
    "data_transfer",
    "get_base_report",
    "get_composite_schedule",
    "get_configuration",
    "get_display_messages",
    "get_local_list_version",
    "get_log",
    "get_report",
    "remote_start",
    "remote_stop",
    "reserve_now",
    "reset",
    "send_local_list",
    "set_charging_profile",
    "set_configuration",
    "set_display_message",
    "trigger_message",
    "unlock_connector",
    "update_firmware",
]
