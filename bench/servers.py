"""The servers under load: gslb and Knot DNS, each a child process pinned to one CPU on a free loopback port.

Each server writes its log to a file in its own temporary directory (a pipe nobody reads while dnsperf runs
would fill up and stall a server that logs), and is stopped by its PID when the ``with`` block ends.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.integration.server import free_port

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
ZONE_SUFFIX = ".zone"
"""gslb names a zone after its file (``gslb.example.test.zone``); Knot is given the same origins."""

_TROUBLE = re.compile(r"level=(warning|error|critical)|Traceback|\berror\b", re.IGNORECASE)


class ServerStartError(RuntimeError):
    """A server did not come up answering its zone; the message carries its log."""


def zone_origins(zones: Path) -> list[tuple[str, Path]]:
    """Every ``*.zone`` file of the directory with the origin gslb derives from its name."""
    files = sorted(path for path in zones.iterdir() if path.is_file() and path.name.endswith(ZONE_SUFFIX))
    if not files:
        raise ServerStartError(f"no *{ZONE_SUFFIX} files in {zones}")
    return [(path.name[: -len(ZONE_SUFFIX)] + ".", path) for path in files]


class PinnedServer:
    """A DNS server child process under ``taskset -c CPU``, ready once ``probe_zone`` answers its SOA."""

    def __init__(self, name: str, taskset: str, cpu: int, probe_zone: str) -> None:
        self.name = name
        self.taskset = taskset
        self.cpu = cpu
        self.probe_zone = probe_zone
        self.host = HOST
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-{name}-")
        self.workdir = Path(self._tmp.name)
        self.log_path = self.workdir / "server.log"

    def __enter__(self) -> PinnedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._tmp.cleanup()

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def trouble(self) -> list[str]:
        """Log lines that look like warnings or errors: worth a look after a run."""
        return [line for line in self.log.splitlines() if _TROUBLE.search(line)]

    def command(self) -> Sequence[str]:
        """The server's own command line for ``self.port``; subclasses fill it in."""
        raise NotImplementedError

    def cwd(self) -> Path:
        return self.workdir

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        self.port = free_port(self.host)
        # taskset execs the server, so the PID we hold is the server's own (for /proc/PID/stat).
        args = [self.taskset, "-c", str(self.cpu), *self.command()]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd(),
                env=self.env(),
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers_soa():
            if self.process.poll() is not None:
                raise ServerStartError(f"{self.name} exited with {self.process.returncode}:\n{self.log}")
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name} did not answer SOA {self.probe_zone} on {self.host}:{self.port} "
                    f"within {START_TIMEOUT:.0f} s:\n{self.log}"
                )
            time.sleep(0.05)

    def _answers_soa(self) -> bool:
        query = dns.message.make_query(self.probe_zone, dns.rdatatype.SOA)
        try:
            response = dns.query.udp(query, self.host, port=self.port, timeout=0.2)
        except (OSError, dns.exception.DNSException):
            return False
        return response.rcode() == dns.rcode.NOERROR and bool(response.flags & dns.flags.AA)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the server has not exited within STOP_TIMEOUT; safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class GslbServer(PinnedServer):
    """``python -m gslb serve`` from the repository checkout (gslb need not be installed)."""

    def __init__(self, repo_root: Path, zones: Path, taskset: str, cpu: int) -> None:
        super().__init__("gslb", taskset, cpu, zone_origins(zones)[0][0])
        self.repo_root = repo_root
        self.zones = zones

    def command(self) -> Sequence[str]:
        return [
            sys.executable,
            "-m",
            "gslb",
            "serve",
            "--zones",
            str(self.zones),
            "--listen",
            f"{self.host}:{self.port}",
        ]

    def cwd(self) -> Path:
        return self.repo_root

    def env(self) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(self.repo_root), os.environ.get("PYTHONPATH")]))
        return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")


class KnotServer(PinnedServer):
    """knotd in the foreground with one UDP, TCP and background worker, on copies of the same zone files."""

    def __init__(self, knotd: str, zones: Path, taskset: str, cpu: int) -> None:
        self.origins = zone_origins(zones)
        super().__init__("knot", taskset, cpu, self.origins[0][0])
        self.knotd = knotd
        for _, path in self.origins:
            shutil.copyfile(path, self.workdir / path.name)

    def config(self) -> str:
        lines = [
            "server:",
            f"    listen: {self.host}@{self.port}",
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
            f"    rundir: {self.workdir}",
            "log:",
            "  - target: stderr",
            "    any: info",
            "database:",
            f"    storage: {self.workdir}",
            "zone:",
        ]
        for origin, path in self.origins:
            lines += [f"  - domain: {origin}", f"    file: {self.workdir / path.name}"]
        return "\n".join(lines) + "\n"

    def command(self) -> Sequence[str]:
        config = self.workdir / "knot.conf"
        config.write_text(self.config())
        return [self.knotd, "-c", str(config)]
