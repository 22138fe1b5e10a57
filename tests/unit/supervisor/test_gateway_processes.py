"""`csms up`'s gateway children: one per core by default, each with its own id, sharing the port."""

from __future__ import annotations

from dataclasses import replace

from csms.settings import Settings
from services.cli import gateway_processes

BASE = replace(Settings(), gateway_id="gw-local")


def test_one_gateway_per_core_each_with_its_own_id_on_the_shared_port() -> None:
    assert gateway_processes(BASE, cores=2) == {
        "gateway-1": {"GATEWAY_REUSE_PORT": "true", "GATEWAY_ID": "gw-local-1"},
        "gateway-2": {"GATEWAY_REUSE_PORT": "true", "GATEWAY_ID": "gw-local-2"},
    }


def test_the_setting_overrides_the_cores_and_one_process_keeps_its_plain_name() -> None:
    assert gateway_processes(replace(BASE, gateway_processes=1), cores=8) == {"gateway": {}}
    assert len(gateway_processes(replace(BASE, gateway_processes=3), cores=1)) == 3
    assert gateway_processes(BASE, cores=1) == {"gateway": {}}
    assert gateway_processes(BASE, cores=0) == {"gateway": {}}  # never none
