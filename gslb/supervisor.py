"""``gslb serve --workers N``: one supervisor process, N worker processes answering on the same sockets.

Each worker is ``gslb serve`` as it runs alone (gslb/cli.py): its own UDP and TCP sockets on every
listener, bound with SO_REUSEPORT so that the kernel spreads clients across the workers by a hash
of their address and port, and its own SnapshotFollower polling the same store. Workers share
nothing in memory, so a machine with more cores answers more, the same way several machines do on
one PostgreSQL store.

The supervisor does what must happen once per node before any worker exists (the CLI has loaded the
settings and zones, migrated the store and applied a first start's declarations), checks that no
other process holds a listener's port, then starts each worker as a fresh interpreter
(``python -m gslb serve --worker-index I``, never a fork of a process that may have threads) and
keeps it running: a worker that dies is logged and restarted after a delay that doubles while it
keeps dying; SIGTERM and SIGINT stop every worker; SIGHUP is passed on to every worker, each of
which reloads its zones.

A worker's stdin is one end of a socket pair, its control channel. The supervisor writes the
settings down it as one JSON line, so a worker restarted hours later serves the same settings as
the others; the worker answers ``ready`` once it listens; and end-of-file tells the worker its
supervisor is gone, however it died, so no worker outlives it.

Node-wide control-path tasks belong in the supervisor's event loop (``Supervisor.run``): the health
monitor and the admin API (later issues) will run there, once per node, and reach the workers
through the store, whose revision every worker's follower polls. With a single worker there is no
supervisor, and they run beside the follower in that process's loop (``cli._run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gslb import config
from gslb.config import Settings
from gslb.dns.server import check_free
from gslb.errors import ConfigError, GslbError

logger = logging.getLogger("gslb.supervisor")

READY = b"ready\n"
STOP_TIMEOUT = 5.0
"""Seconds a worker has to stop after SIGTERM before it is killed."""


class WorkerStartError(GslbError):
    """A worker exited before it listened; its own error is in the log just before."""


def worker_command(index: int) -> list[str]:
    """The command line of worker ``index``: this interpreter, this gslb, settings on stdin."""
    return [sys.executable, "-m", "gslb", "serve", "--worker-index", str(index)]


def supervise(settings: Settings) -> None:
    """Run ``settings.workers`` workers until SIGTERM or SIGINT.

    Raises OSError if a listener's port is taken, WorkerStartError if a worker exits before it listens.
    """
    check_free(settings)
    asyncio.run(Supervisor(settings).run())


def exit_status(returncode: int) -> str:
    """``exit 1`` or ``SIGKILL``: how a process ended, for a log line."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-returncode).name
        return f"signal {-returncode}"
    return f"exit {returncode}"


@dataclass(slots=True)
class Backoff:
    """How long to wait before restarting a worker: doubling while it keeps dying soon after start."""

    first: float = 0.1
    longest: float = 30.0
    stable: float = 10.0
    """A worker that ran this long (seconds) is healthy again: its next restart waits ``first``."""
    failures: int = 0

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.stable:
            self.failures = 0
        delay = min(self.longest, self.first * 2.0**self.failures)
        self.failures = min(self.failures + 1, 32)
        return delay


@dataclass(slots=True)
class Worker:
    """One worker process as the supervisor sees it."""

    index: int
    process: asyncio.subprocess.Process
    control: socket.socket
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    reload_pending: bool = False
    """A SIGHUP came while it was starting: pass it on once it listens (and handles SIGHUP)."""

    @property
    def running(self) -> bool:
        return self.process.returncode is None


class Supervisor:
    """Starts ``settings.workers`` workers, keeps each slot filled, passes signals on.

    ``command`` gives worker I's command line (tests put stand-ins there).
    """

    def __init__(self, settings: Settings, command: Callable[[int], list[str]] = worker_command) -> None:
        self.settings = settings
        self.command = command
        self.workers: dict[int, Worker] = {}
        self._slots: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """SIGTERM, SIGINT: stop every worker and return from ``run``."""
        self._stop.set()

    async def run(self) -> None:
        """Start every worker, keep them running until ``stop``, then stop them all."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        starting = loop.create_task(self._start_all())
        stopping = loop.create_task(self._stop.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()  # a worker that failed to start stops them all
                logger.info("workers ready", extra={"workers": len(self.workers)})
                self._slots = [loop.create_task(self._keep(index)) for index in self.workers]
                await stopping
        finally:
            for task in (starting, stopping, *self._slots):
                task.cancel()
            await asyncio.gather(starting, stopping, *self._slots, return_exceptions=True)
            await self._stop_workers()

    def reload(self) -> None:
        """SIGHUP: every worker re-reads its zones; one still starting does once it listens."""
        logger.info("reloading zones in every worker")
        for worker in self.workers.values():
            if worker.ready:
                _signal(worker, signal.SIGHUP)
            else:
                worker.reload_pending = True

    async def _start_all(self) -> None:
        """Return once every worker listens; raise WorkerStartError as soon as one exits first."""
        for index in range(self.settings.workers):
            try:
                await self._spawn(index)
            except OSError as exc:
                raise WorkerStartError(f"cannot start worker {index}: {exc}") from exc
        pending = {asyncio.create_task(self._until_ready(w)): w for w in self.workers.values()}
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    worker = pending.pop(task)
                    if not task.result():
                        returncode = await worker.process.wait()
                        raise WorkerStartError(
                            f"worker {worker.index} (pid {worker.process.pid}) ended while starting "
                            f"({exit_status(returncode)})"
                        )
        finally:
            for task in pending:
                task.cancel()

    async def _keep(self, index: int) -> None:
        """Restart worker ``index`` whenever it exits, until cancelled when the supervisor stops."""
        backoff = Backoff()
        worker = self.workers[index]
        while True:
            returncode = await worker.process.wait()
            worker.control.close()
            ran_for = time.monotonic() - worker.started
            delay = backoff.next_delay(ran_for)
            logger.error(
                "worker died; restarting it",
                extra={
                    "worker": index,
                    "pid": worker.process.pid,
                    "status": exit_status(returncode),
                    "ran_s": round(ran_for, 1),
                    "restart_in_s": delay,
                },
            )
            await asyncio.sleep(delay)
            worker = await self._respawn(index, backoff)
            await self._until_ready(worker)

    async def _respawn(self, index: int, backoff: Backoff) -> Worker:
        """Start worker ``index`` again, waiting longer each time the system refuses a new process."""
        while True:
            try:
                return await self._spawn(index)
            except OSError as exc:
                delay = backoff.next_delay(ran_for=0.0)
                logger.error(
                    "cannot start a worker; retrying",
                    extra={"worker": index, "error": str(exc), "retry_in_s": delay},
                )
                await asyncio.sleep(delay)

    async def _spawn(self, index: int) -> Worker:
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(*self.command(index), stdin=theirs.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = self.workers[index] = Worker(index, process, ours)
        logger.info("worker started", extra={"worker": index, "pid": process.pid})
        # A few hundred bytes into an empty socket buffer: this does not block. A worker that is
        # gone already is seen by _until_ready.
        with contextlib.suppress(OSError):
            ours.sendall(config.dumps(self.settings).encode() + b"\n")
        ours.setblocking(False)
        return worker

    async def _until_ready(self, worker: Worker) -> bool:
        """True once the worker says it listens; False if it exits (closing its channel) first."""
        loop = asyncio.get_running_loop()
        received = b""
        while not received.endswith(b"\n"):
            try:
                chunk = await loop.sock_recv(worker.control, len(READY))
            except OSError:
                return False
            if not chunk:
                return False
            received += chunk
        worker.ready = received == READY
        if worker.ready and worker.reload_pending:
            worker.reload_pending = False
            _signal(worker, signal.SIGHUP)
        return worker.ready

    async def _stop_workers(self) -> None:
        """SIGTERM every running worker; SIGKILL any still running after STOP_TIMEOUT."""
        running = [w for w in self.workers.values() if w.running]
        for worker in running:
            _signal(worker, signal.SIGTERM)
        waiting = asyncio.gather(*(w.process.wait() for w in running))
        try:
            await asyncio.wait_for(asyncio.shield(waiting), STOP_TIMEOUT)
        except TimeoutError:
            for worker in running:
                if worker.running:
                    logger.error("worker did not stop; killing it", extra={"worker": worker.index})
                    _signal(worker, signal.SIGKILL)
            await waiting
        for worker in self.workers.values():
            worker.control.close()
        if running:
            logger.info("workers stopped", extra={"workers": len(running)})


def _signal(worker: Worker, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited; its slot will notice
        worker.process.send_signal(signum)


class WorkerLink:
    """A worker's end of its control channel: settings in, ``ready`` out, end-of-file when orphaned."""

    def __init__(self, index: int, control: socket.socket) -> None:
        self.index = index
        self.control = control

    @classmethod
    def from_stdin(cls, index: int) -> WorkerLink:
        """The channel the supervisor gave as stdin; ConfigError if stdin is not one (run by hand)."""
        # Until the serving loop takes SIGHUP over, a reload passed on must not kill a starting
        # worker. SIGINT (Ctrl-C reaches the terminal's whole process group) is the supervisor's
        # to act on: it stops the workers itself, and a worker stopping on its own would race it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            control = socket.socket(fileno=0)
        except OSError as exc:
            raise ConfigError(
                "--worker-index: for the workers of gslb serve --workers only (stdin is not their channel)"
            ) from exc
        return cls(index, control)

    def receive_settings(self) -> Settings:
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.control.recv(65536)
            if not chunk:
                raise ConfigError("--worker-index: the supervisor closed the channel before the settings")
            data += chunk
        return config.loads(data.decode())

    def tag_logs(self) -> None:
        """Every log line of this process says ``worker=I``."""
        for handler in logging.getLogger("gslb").handlers:
            handler.addFilter(_WorkerTag(self.index))

    def ready(self) -> None:
        """Tell the supervisor this worker listens (and handles SIGHUP)."""
        with contextlib.suppress(OSError):  # a supervisor already gone is what until_orphaned sees
            self.control.sendall(READY)

    async def until_orphaned(self) -> None:
        """Return when the supervisor is gone: its end of the channel closed, however it died."""
        loop = asyncio.get_running_loop()
        self.control.setblocking(False)
        with contextlib.suppress(OSError):
            while await loop.sock_recv(self.control, 64):
                pass
        logger.warning("supervisor gone; stopping")


class _WorkerTag(logging.Filter):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True
