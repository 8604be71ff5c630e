"""A DNS server as a child process: logging to a file it owns, ready once it answers SOA, stopped by its PID.

The log goes to a file in a temporary directory rather than to a pipe: nobody reads a pipe while a test or
a dnsperf run is going on, and a server that logs a lot would block once the pipe's buffer is full.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

HOST = "127.0.0.1"
STOP_TIMEOUT = 5.0
LOG_NAME = "server.log"


def free_port(host: str = HOST) -> int:
    """A port free for both UDP and TCP on ``host`` (the OS picks; both are checked)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError(f"no free port on {host}")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent PID and start time (clock ticks after boot) of a process; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name in parentheses may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def child_processes(parent: int) -> dict[int, int]:
    """PID → start time of each running child of ``parent`` (the start time tells a reused PID apart)."""
    children: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is not None and stat[1] == parent and running(pid, stat[2]):
                children[pid] = stat[2]
    return children


def running(pid: int, started: int) -> bool:
    """Whether the process ``pid`` that started at ``started`` still runs.

    A zombie does not, once all its threads have ended: its first thread turns zombie before the others
    have closed the files and sockets they share.
    """
    stat = _stat(pid)
    if stat is None or stat[2] != started:
        return False
    if stat[0] != "Z":
        return True
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def end_left_behind(children: Mapping[int, int], timeout: float = STOP_TIMEOUT) -> None:
    """Wait up to ``timeout`` for these processes to end, then SIGKILL those still running."""
    deadline = time.monotonic() + timeout
    while any(running(pid, started) for pid, started in children.items()) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid, started in children.items():
        if running(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class ServerStartError(RuntimeError):
    """A server did not come up answering its zones; the message carries its log."""

    def __init__(self, name: str, reason: str, log: str) -> None:
        super().__init__(f"{reason}\n--- {name} log ---\n{log.rstrip() or '(empty)'}")
        self.log = log


class ServerProcess:
    """A server child process on a loopback port; subclasses give its command line and what it serves.

    ``start()`` makes a temporary directory (``rundir``), starts ``prefix + command()`` with stdout and stderr
    going to a log file in it, and returns once every zone of ``probe_zones()`` answers its SOA.
    ``stop()`` ends the process by its PID (SIGTERM, then SIGKILL), removes the directory and returns the
    whole log. ``prefix`` is a command that execs the server, such as ``taskset -c 0`` to pin it to a CPU,
    so the PID held is still the server's own.
    """

    name: ClassVar[str] = "server"
    start_timeout: ClassVar[float] = 15.0
    probe_tcp: ClassVar[bool] = False
    """Also ask each zone's SOA once over TCP before calling the server ready."""
    port_taken_markers: ClassVar[tuple[str, ...]] = ()
    """Log text meaning another process took the port between free_port() and the bind: worth a retry."""
    bind_attempts: ClassVar[int] = 3

    def __init__(self, host: str = HOST, port: int = 0, prefix: Sequence[str] = ()) -> None:
        self.host = host
        self.port = port
        self.prefix = tuple(prefix)
        self.process: subprocess.Popen[bytes] | None = None
        self._port_given = port != 0
        self._rundir: tempfile.TemporaryDirectory[str] | None = None
        self._last_log = ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what a subclass says ---------------------------------------------------------------------

    def command(self) -> list[str]:
        """The server's command line for ``self.port``; it may write files into ``self.rundir`` first."""
        raise NotImplementedError

    def probe_zones(self) -> Sequence[str]:
        """The zones that must answer SOA before the server counts as ready."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Called once ``rundir`` exists, before the first attempt to start (e.g. to copy zone files in)."""

    def cwd(self) -> Path | None:
        return self.rundir

    def env(self) -> Mapping[str, str] | None:
        """The child's environment; None inherits ours."""
        return None

    def ready_answer(self, response: dns.message.Message) -> bool:
        """Whether a response to a zone's SOA query shows the zone is loaded: authoritative, NOERROR, SOA."""
        return (
            response.rcode() == dns.rcode.NOERROR
            and bool(response.flags & dns.flags.AA)
            and any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.answer)
        )

    def failure(self) -> str | None:
        """A reason to give up before the timeout, read from the log; None while there is none."""
        return None

    # --- the process --------------------------------------------------------------------------------

    @property
    def rundir(self) -> Path:
        """The directory this object owns while the server runs: its log and any files it needs."""
        if self._rundir is None:
            raise RuntimeError(f"{self.name} is not started")
        return Path(self._rundir.name)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    @property
    def log(self) -> str:
        """What the server has logged so far, or in its last run once stopped."""
        if self._rundir is None:
            return self._last_log
        path = self.rundir / LOG_NAME
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float | None = None) -> None:
        """Start the server and wait until every probe zone answers; if not, raise ServerStartError."""
        self._rundir = tempfile.TemporaryDirectory(prefix=f"{self.name}-")
        try:
            self.prepare()
            for attempt in range(1, self.bind_attempts + 1):
                if not self._port_given:
                    self.port = free_port(self.host)
                self._launch()
                try:
                    self._wait_ready(self.start_timeout if timeout is None else timeout)
                    return
                except ServerStartError:
                    lost_port_race = any(marker in self.log for marker in self.port_taken_markers)
                    self._stop_process()
                    if self._port_given or attempt == self.bind_attempts or not lost_port_race:
                        raise
        except BaseException:
            self.stop()
            raise

    def _launch(self) -> None:
        log_path = self.rundir / LOG_NAME
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*self.prefix, *self.command()],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd(),
                env=self.env(),
            )
        # A reader of the log in place of the pipe Popen would give: callers that followed the output as it
        # came (tests/integration/test_fuzz_live.py) keep working, and it can never fill up.
        self.process.stdout = log_path.open("rb")

    def _wait_ready(self, timeout: float) -> None:
        """Poll each zone's SOA over UDP until all answer (then over TCP once, if asked), within timeout."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        pending = list(self.probe_zones())
        while pending:
            if self.process.poll() is not None:
                raise self._start_error(f"{self.name} exited with {self.process.returncode}")
            reason = self.failure()
            if reason is not None:
                raise self._start_error(reason)
            if time.monotonic() > deadline:
                raise self._start_error(
                    f"{self.name} did not answer SOA for {pending} on {self.host} port {self.port} "
                    f"within {timeout:g} s"
                )
            if self.answers_soa(pending[0], tcp=False):
                pending.pop(0)
            else:
                time.sleep(0.05)
        if self.probe_tcp:
            for origin in self.probe_zones():
                if not self.answers_soa(origin, tcp=True):
                    raise self._start_error(f"{self.name} answers {origin} SOA over UDP but not over TCP")

    def _start_error(self, reason: str) -> ServerStartError:
        return ServerStartError(self.name, reason, self.log)

    def answers_soa(self, origin: str, *, tcp: bool) -> bool:
        query = dns.message.make_query(origin, dns.rdatatype.SOA)
        try:
            if tcp:
                response = dns.query.tcp(query, self.host, port=self.port, timeout=1.0)
            else:
                response = dns.query.udp(query, self.host, port=self.port, timeout=0.2)
        except (OSError, dns.exception.DNSException):
            return False
        return self.ready_answer(response)

    def _stop_process(self) -> None:
        """Stop our server by its PID: SIGTERM first so it shuts down cleanly, SIGKILL if it hangs.

        Then its child processes (``gslb serve --workers``), noted before it went: any still running once
        it is gone, which would keep its port, get STOP_TIMEOUT to follow it, then SIGKILL, each by its PID.
        """
        process, self.process = self.process, None
        if process is None:
            return
        children = child_processes(process.pid)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        end_left_behind(children)
        if process.stdout is not None:
            process.stdout.close()

    def stop(self) -> str:
        """Stop the server, remove its directory and return everything it logged; safe to call twice."""
        self._stop_process()
        if self._rundir is None:
            return self._last_log
        self._last_log = self.log
        with contextlib.suppress(OSError):
            self._rundir.cleanup()
        self._rundir = None
        return self._last_log
