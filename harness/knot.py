"""Knot DNS as a reference authoritative server, for the differential tests and bench/.

It only has to start Knot in a form that matches what gslb serves: the same zone files, one UDP and one TCP
worker, on a free loopback port (or a given one, such as port 53 for a parent a resolver follows), owned by
the caller and stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.process import HOST, ServerProcess

KNOTD_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
"""Debian installs knotd in /usr/sbin, which is not on PATH for every user."""


@dataclass(frozen=True, slots=True)
class ZoneSource:
    """One zone Knot should serve: its origin and the RFC 1035 file it is loaded from."""

    origin: str
    path: Path


def which_knotd() -> str | None:
    """The path of knotd, looked up on PATH and in the sbin directories; None when it is not installed."""
    return shutil.which("knotd", path=KNOTD_SEARCH_PATH)


def render_config(workdir: Path, host: str, port: int, zones: Sequence[ZoneSource]) -> str:
    """Build knot.conf: one worker of each kind, like gslb's single-worker mode, everything in workdir."""
    lines = [
        "server:",
        f"    listen: {host}@{port}",
        "    udp-workers: 1",
        "    tcp-workers: 1",
        "    background-workers: 1",
        f"    rundir: {workdir}",
        "log:",
        "  - target: stderr",
        "    any: info",
        "database:",
        f"    storage: {workdir}",
        "zone:",
    ]
    for zone in zones:
        lines += [
            f"  - domain: {zone.origin}",
            f"    file: {workdir / zone.path.name}",
        ]
    return "\n".join(lines) + "\n"


class KnotServer(ServerProcess):
    """knotd in the foreground on copies of the zone files; ready once every zone answers over UDP and TCP."""

    name = "knotd"
    start_timeout = 10.0
    probe_tcp = True
    port_taken_markers = ("cannot bind", "Address already in use")

    def __init__(
        self,
        zones: Sequence[ZoneSource],
        knotd: str,
        host: str = HOST,
        *,
        port: int = 0,
        prefix: Sequence[str] = (),
    ) -> None:
        """``port`` 0 picks a free port; any other is used as given (no retry if it is taken)."""
        super().__init__(host, port, prefix)
        self.zones = tuple(zones)
        self.knotd = knotd

    def prepare(self) -> None:
        for zone in self.zones:
            shutil.copyfile(zone.path, self.rundir / zone.path.name)

    def command(self) -> list[str]:
        config = self.rundir / "knot.conf"
        config.write_text(render_config(self.rundir, self.host, self.port, self.zones))
        return [self.knotd, "-c", str(config)]

    def probe_zones(self) -> Sequence[str]:
        return [zone.origin for zone in self.zones]

    def failure(self) -> str | None:
        # knotd keeps running without a zone it could not load, so waiting would only end in the timeout.
        return "knotd could not load a zone file" if "failed to load zone" in self.log else None
