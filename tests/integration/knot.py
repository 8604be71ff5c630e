"""Knot DNS as a reference authoritative server for integration tests.

Knot is the yardstick the differential tests hold gslb against, so this module only has to start it in a
form that matches what gslb serves: the same zone files, one UDP and one TCP worker, on a free loopback
port, owned by the test and stopped by its PID. It uses nothing from the gslb package.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.integration.server import free_port

KNOTD_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
"""Debian installs knotd in /usr/sbin, which is not on PATH for every user."""

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
BIND_ATTEMPTS = 3
"""A port found free can be taken by someone else before knotd binds it; a few fresh ports settle that."""


@dataclass(frozen=True, slots=True)
class ZoneSource:
    """One zone Knot should serve: its origin and the RFC 1035 file it is loaded from."""

    origin: str
    path: Path


class KnotStartError(RuntimeError):
    """knotd did not come up answering every zone; the message carries its own log."""

    def __init__(self, reason: str, log: str) -> None:
        super().__init__(f"{reason}\n--- knotd log ---\n{log.rstrip() or '(empty)'}")
        self.log = log


def find_knotd() -> str:
    """Return the path of knotd, or end the test: a loud failure on CI, a skip on a developer machine.

    CI is meant to have the Debian package, so a missing binary there is a broken environment that must not
    pass quietly as a skipped comparison.
    """
    path = shutil.which("knotd", path=KNOTD_SEARCH_PATH)
    if path is not None:
        return path
    reason = "knotd (Debian package 'knot') is not installed; it is the reference server for this test"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


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


class KnotServer:
    """A knotd child process serving the given zone files on a loopback port.

    Use it as a context manager: entering writes the configuration, starts knotd and returns once every
    zone answers its SOA over UDP and TCP; leaving stops the process and removes its directory.
    """

    def __init__(self, zones: Sequence[ZoneSource], host: str = "127.0.0.1") -> None:
        self.zones = tuple(zones)
        self.host = host
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> KnotServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def log(self) -> str:
        """What knotd has written to stderr so far (it logs there in the foreground)."""
        if self._workdir is None:
            return ""
        path = Path(self._workdir.name) / "knotd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start knotd and wait until it serves every zone; raise KnotStartError with its log if not."""
        knotd = find_knotd()
        self._workdir = tempfile.TemporaryDirectory(prefix="knot-")
        workdir = Path(self._workdir.name)
        for zone in self.zones:
            shutil.copyfile(zone.path, workdir / zone.path.name)
        try:
            for attempt in range(1, BIND_ATTEMPTS + 1):
                self.port = free_port(self.host)
                config = workdir / "knot.conf"
                config.write_text(render_config(workdir, self.host, self.port, self.zones))
                with (workdir / "knotd.log").open("wb") as log:
                    self._process = subprocess.Popen(
                        [knotd, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
                    )
                try:
                    self._wait_ready()
                    return
                except KnotStartError:
                    lost_port_race = "cannot bind" in self.log or "Address already in use" in self.log
                    self._stop_process()
                    if attempt == BIND_ATTEMPTS or not lost_port_race:
                        raise
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """Poll each zone's SOA over UDP until all answer, then check TCP once, within START_TIMEOUT."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        pending = [zone.origin for zone in self.zones]
        while pending:
            if self._process.poll() is not None:
                raise KnotStartError(f"knotd exited with status {self._process.returncode}", self.log)
            if "failed to load zone" in self.log:
                raise KnotStartError("knotd could not load a zone file", self.log)
            if time.monotonic() > deadline:
                raise KnotStartError(
                    f"knotd on {self.host}@{self.port} did not answer SOA for {pending} "
                    f"within {START_TIMEOUT:.0f} s",
                    self.log,
                )
            if self._answers_soa(pending[0], tcp=False):
                pending.pop(0)
            else:
                time.sleep(0.05)
        for zone in self.zones:
            if not self._answers_soa(zone.origin, tcp=True):
                raise KnotStartError(f"knotd answers {zone.origin} SOA over UDP but not over TCP", self.log)

    def _answers_soa(self, origin: str, *, tcp: bool) -> bool:
        """True when knotd gives an authoritative SOA answer for origin (so the zone is loaded)."""
        query = dns.message.make_query(origin, dns.rdatatype.SOA)
        try:
            if tcp:
                response = dns.query.tcp(query, self.host, port=self.port, timeout=1.0)
            else:
                response = dns.query.udp(query, self.host, port=self.port, timeout=0.2)
        except (OSError, dns.exception.DNSException):
            return False
        return (
            response.rcode() == dns.rcode.NOERROR
            and bool(response.flags & dns.flags.AA)
            and any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.answer)
        )

    def _stop_process(self) -> None:
        """Stop our knotd by its PID: SIGTERM first so it shuts down cleanly, SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop knotd and remove its directory; safe to call more than once."""
        self._stop_process()
        if self._workdir is not None:
            with contextlib.suppress(OSError):
                self._workdir.cleanup()
            self._workdir = None
