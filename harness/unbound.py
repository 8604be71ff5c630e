"""Unbound as a real caching resolver on loopback, reaching a test tree through a stub zone.

The settings are the team's reference-server notes: no DNSSEC validation (the test tree is unsigned),
``do-not-query-localhost: no`` (or Unbound never asks servers on 127.0.0.0/8), ``local-zone: "test."
nodefault`` (or it answers every ``*.test`` name itself, RFC 6761), and nothing that keeps an answer past its
TTL (``cache-min-ttl: 0``, ``prefetch: no``, ``serve-expired: no``), since the stale-window experiment
measures exactly how long an answer is cached. The stub points at the parent only; Unbound follows the
parent's delegation (NS + glue) to the child by itself, and a delegation is followed to port 53 only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

import dns.message
import dns.rcode
import dns.rdatatype

from harness.process import ServerProcess

UNBOUND_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
"""Debian installs unbound in /usr/sbin, which is not on PATH for every user."""
RESOLVER_HOST = "127.0.53.10"
DNS_PORT = 53


@dataclass(frozen=True, slots=True)
class StubZone:
    """A zone Unbound reaches by asking ``address`` (port 53) instead of starting from the root."""

    name: str
    address: str


def which_unbound() -> str | None:
    """The path of unbound, looked up on PATH and in the sbin directories; None when it is not installed."""
    return shutil.which("unbound", path=UNBOUND_SEARCH_PATH)


def render_config(workdir: str, host: str, port: int, stubs: Sequence[StubZone]) -> str:
    """unbound.conf: one thread, no validation, no TTL stretching, everything in workdir."""
    lines = [
        "server:",
        f"    interface: {host}",
        f"    port: {port}",
        "    do-ip6: no",
        "    do-not-query-localhost: no",
        '    local-zone: "test." nodefault',
        "    access-control: 127.0.0.0/8 allow",
        '    username: ""',
        '    chroot: ""',
        f'    directory: "{workdir}"',
        f'    pidfile: "{workdir}/unbound.pid"',
        "    use-syslog: no",
        '    logfile: ""',
        "    verbosity: 1",
        "    num-threads: 1",
        '    module-config: "iterator"',
        "    cache-min-ttl: 0",
        "    prefetch: no",
        "    serve-expired: no",
    ]
    for stub in stubs:
        lines += ["stub-zone:", f'    name: "{stub.name}"', f"    stub-addr: {stub.address}"]
    return "\n".join(lines) + "\n"


class UnboundServer(ServerProcess):
    """``unbound -d`` on ``host``:``port`` (127.0.53.10:53 by default) with the given stub zones.

    Ready once each stub zone's SOA resolves through it (a recursive query: NOERROR with the SOA in the
    answer, never authoritative), so a started resolver has already followed the stub to the parent.
    """

    name = "unbound"
    start_timeout = 15.0
    port_taken_markers = ("Address already in use",)

    def __init__(
        self,
        stubs: Sequence[StubZone],
        unbound: str,
        host: str = RESOLVER_HOST,
        port: int = DNS_PORT,
        *,
        prefix: Sequence[str] = (),
    ) -> None:
        super().__init__(host, port, prefix)
        self.stubs = tuple(stubs)
        self.unbound = unbound

    def command(self) -> list[str]:
        config = self.rundir / "unbound.conf"
        config.write_text(render_config(str(self.rundir), self.host, self.port, self.stubs))
        return [self.unbound, "-d", "-c", str(config)]

    def probe_zones(self) -> Sequence[str]:
        return [stub.name for stub in self.stubs]

    def ready_answer(self, response: dns.message.Message) -> bool:
        return response.rcode() == dns.rcode.NOERROR and any(
            rrset.rdtype == dns.rdatatype.SOA for rrset in response.answer
        )

    def failure(self) -> str | None:
        # A configuration error or a failed bind ends unbound, but saying why spares waiting for the exit.
        for marker in ("fatal error", "could not open ports"):
            if marker in self.log:
                return f"unbound: {marker}"
        return None
