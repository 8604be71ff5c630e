"""SIGHUP re-reads the zone files; broken files never replace what is being served."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.dnsclient import ask
from tests.integration.server import GslbProcess


def addresses(server: GslbProcess, qname: str) -> set[str]:
    return {rd.to_text() for rrset in ask(server.host, server.port, qname, "A").answer for rd in rrset}


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sighup_reloads_good_zones_and_keeps_serving_on_bad_ones(example_zones: Path, tmp_path: Path) -> None:
    zone = tmp_path / "gslb.example.test.zone"
    shutil.copy(example_zones / zone.name, zone)
    shutil.copy(example_zones / "pools.toml", tmp_path / "pools.toml")
    original = zone.read_text()
    with GslbProcess(tmp_path) as server:
        assert server.process is not None
        zone.write_text(original + "new IN A 192.0.2.77\n")
        server.process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: addresses(server, "new.gslb.example.test") == {"192.0.2.77"})

        zone.write_text(original + "broken IN A 192.0.2\n")
        server.process.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert addresses(server, "new.gslb.example.test") == {"192.0.2.77"}
        assert len(addresses(server, "www.gslb.example.test")) == 2  # the pool still answers
        log = server.stop()
    assert "reload refused" in log
    assert f"gslb.example.test.zone:{len(original.splitlines()) + 1}" in log
