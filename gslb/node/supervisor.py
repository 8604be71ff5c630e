"""``gslb serve --workers N``: one supervisor process, N worker processes answering on the same sockets.

Each worker is ``gslb serve`` as it runs alone (gslb/node/serve.py): its own UDP and TCP sockets on every
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

A worker's stdin is one end of a socket pair, its control channel (gslb/node/control.py, JSON lines
both ways): the supervisor sends the settings, so a worker restarted hours later serves the same
settings as the others, then the set of members the health checks find down, at once and on
every change; the worker says ``ready`` once it listens and reports the snapshot revision it
answers from after every publish, and its counts when asked; and end-of-file tells the worker its
supervisor is gone, however it died, so no worker outlives it.

Node-wide control-path tasks run once per node, in the supervisor's event loop (``supervise``):
the health process, whose down set the supervisor relays to every worker (N workers, one probe
per member and interval), and the admin API, whose writes reach the workers through the store,
whose revision every worker's follower polls (so ``written`` has nothing to wake here). The API's
``/metrics`` and ``/readyz`` speak for the workers (``counted``, ``listeners``): their query
counts summed, their revisions, whether each listens. With a single worker there is no
supervisor, and both run beside the follower in that process's loop (gslb/node/serve.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gslb.answer.server import check_free
from gslb.api.metrics import DnsCounts, WorkerTally
from gslb.api.observe import Check
from gslb.config import Settings
from gslb.dns import zonefile
from gslb.dns.zonefile import LoadedZone
from gslb.errors import GslbError, StoreError, ZoneError
from gslb.health.process import HealthProcess
from gslb.health.view import HealthView
from gslb.node import control
from gslb.node.api import start_api
from gslb.node.control import ControlChannel
from gslb.store import Store
from gslb.store.feed import ChangeFeed

logger = logging.getLogger("gslb.node.supervisor")

STORE_POLL = 0.025
"""Seconds between the supervisor's polls of the store revision (a lone process's follower polls as often)."""
WORKER_POLL = 1.0
"""Seconds between a worker's own polls: only a fallback, as the supervisor tells it when the store moves."""
STOP_TIMEOUT = 5.0
"""Seconds a worker has to stop after SIGTERM before it is killed."""
COUNT_TIMEOUT = 1.0
"""Seconds a scrape waits for the workers' counts; one that is later shows its previous report."""
DRAIN_TIMEOUT = 1.0
"""Seconds to read what a dead worker wrote before it died (its last counts) before retiring it."""


class WorkerStartError(GslbError):
    """A worker exited before it listened; its own error is in the log just before."""


def share_cpus_politely(workers: int) -> bool:
    """Schedule this worker as a batch task (SCHED_BATCH) when the node's workers outnumber the
    CPUs it may run on; True if it did. Call it before any thread starts: threads inherit it.

    Workers that share a CPU wake each other for every datagram that arrives for the one not
    running, and the kernel preempts the running one at once, so they answer less than one worker
    would. A batch task does not preempt on wake-up, so each worker drains its socket in turn
    (bench/README.md, "Measurements behind the code"). With a CPU per worker a woken worker finds
    its CPU free anyway, and the default policy keeps its wake-up latency.
    """
    cpus = len(os.sched_getaffinity(0))
    if workers <= cpus:
        return False
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    logger.info("workers outnumber CPUs: batch scheduling", extra={"workers": workers, "cpus": cpus})
    return True


def worker_command(index: int) -> list[str]:
    """The command line of worker ``index``: this interpreter, this gslb, settings on stdin."""
    return [sys.executable, "-m", "gslb", "serve", "--worker-index", str(index)]


def supervise(settings: Settings, zones: Sequence[LoadedZone]) -> None:
    """Run ``settings.workers`` workers, the health process and the admin API until SIGTERM or SIGINT.

    ``zones`` are the zone files the node serves (the API validates pool names against them).
    Raises OSError if a listener's or the API's port is taken, WorkerStartError if a worker exits
    before it listens.
    """
    check_free(settings)
    asyncio.run(_supervise(settings, zones))


async def _supervise(settings: Settings, zones: Sequence[LoadedZone]) -> None:
    supervisor = Supervisor(settings, zones=zones)
    bounds = settings.ttl_bounds
    health = HealthProcess(settings.db, settings.log_level, supervisor.relay_down, ttl_bounds=bounds)
    # The API listens before any worker answers: whoever sees answers can use the API as well.
    api = await start_api(
        settings, lambda: supervisor.zones, health, revisions=supervisor.revisions, workers=supervisor
    )
    health.start()
    store = Store.open(settings.db)
    watching = asyncio.get_running_loop().create_task(supervisor.watch_store(store))
    try:
        await supervisor.run()
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        store.dispose()
        if api is not None:
            await api.stop()
        await health.stop()


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
    channel: ControlChannel
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    reload_pending: bool = False
    """A SIGHUP came while it was starting: pass it on once it listens (and handles SIGHUP)."""
    revision: int | None = None
    """The store revision of the snapshot it answers from, as it last reported."""
    listening: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """True once it said ready; False if its channel closed first."""
    listener: asyncio.Task[None] | None = None
    counts: DnsCounts | None = None
    """What it counted since it started, as of its latest report (None: none yet, or retired)."""
    asked: asyncio.Future[None] | None = None
    """Done once it answers the latest ``count`` request (or its channel closes)."""

    @property
    def running(self) -> bool:
        return self.process.returncode is None


class Supervisor:
    """Starts ``settings.workers`` workers, keeps each slot filled, passes signals on.

    ``command`` gives worker I's command line (tests put stand-ins there); ``zones`` are the zone
    files the node serves, re-read on SIGHUP like the workers' own.
    """

    def __init__(
        self,
        settings: Settings,
        command: Callable[[int], list[str]] = worker_command,
        *,
        zones: Sequence[LoadedZone] = (),
    ) -> None:
        self.settings = settings
        self.command = command
        self.zones = list(zones)
        self.workers: dict[int, Worker] = {}
        self.health = HealthView()
        self.tally = WorkerTally()
        self._slots: list[asyncio.Task[None]] = []
        self._reloading: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def relay_down(self, health: HealthView) -> None:
        """The health monitor's verdicts, to every worker now and to each one started later."""
        self.health = health
        message = control.down_message(health)
        for worker in self.workers.values():
            if worker.running:
                worker.channel.send(message)

    async def watch_store(self, store: Store, interval: float = STORE_POLL) -> None:
        """Poll the store's revision for every worker and tell them when it moves: one poll a node
        instead of one a worker (each costs the answering process CPU and its interpreter lock)."""
        seen: int | None = None
        failing = False
        feed = ChangeFeed(store)
        moved = asyncio.Event()
        feed.wake_on_change(asyncio.get_running_loop(), moved)
        while True:
            if not failing and feed.quiet():  # as the lone process's follower: no query while quiet
                await _until(moved, interval)
                continue
            moved.clear()
            try:
                revision = await asyncio.to_thread(feed.revision)
            except StoreError as exc:
                if not failing:
                    logger.error(
                        "store unreachable; workers serve their last snapshot", extra={"error": str(exc)}
                    )
                failing = True
            else:
                failing = False
                if revision != seen:
                    seen = revision
                    message = control.revision_message(control.STORE, revision)
                    for worker in self.workers.values():
                        if worker.running:
                            worker.channel.send(message)
            await _until(moved, interval)

    def revisions(self) -> dict[str, int]:
        """``{"worker-0": 12, ...}``: the snapshot revision each running worker answers from."""
        return {
            f"worker-{index}": worker.revision
            for index, worker in sorted(self.workers.items())
            if worker.running and worker.revision is not None
        }

    async def counted(self, timeout: float = COUNT_TIMEOUT) -> DnsCounts:
        """The node's counts: every worker's, asked now, plus those of the workers they replaced.

        Asked when a scrape wants them rather than pushed by each worker every second or two:
        turning counts into labels and JSON takes the worker's GIL from its UDP threads for a
        moment that grows with the labels counted (bench/README.md, "Measurements behind the
        code"), so it is paid once per scrape (every 15 s or so), not every second by every
        worker whether anyone looks or not; and a scrape sees every query
        answered before it, which a push would show only a second or two later. The price: what
        a worker counted since the latest scrape is lost if it dies (a push would lose less), and
        a scrape waits for the slowest worker, at most ``timeout``, after which that worker shows
        its previous report. One request at a time per worker: one that has not answered yet is
        not asked again, so a stopped worker's channel holds one request, not one per scrape.
        """
        asking = [self._ask(worker) for worker in self.workers.values() if worker.ready and worker.running]
        if asking:
            _, late = await asyncio.wait(asking, timeout=timeout)
            if late:
                tardy = [w.index for w in self.workers.values() if w.asked in late]
                logger.warning(
                    "workers did not report their counts in time; showing their previous ones",
                    extra={"workers": ",".join(map(str, tardy)), "timeout_s": timeout},
                )
        return self.tally.node(w.counts for w in self.workers.values() if w.counts is not None)

    def _ask(self, worker: Worker) -> asyncio.Future[None]:
        if worker.asked is None or worker.asked.done():
            worker.asked = asyncio.get_running_loop().create_future()
            worker.channel.send(control.count_message())
        return worker.asked

    def listeners(self) -> Check:
        """Whether every worker listens: each slot's process running and said ``ready``."""
        expected = self.settings.workers
        listening = [i for i, w in sorted(self.workers.items()) if w.ready and w.running]
        missing = [f"worker-{i}" for i in range(expected) if i not in listening]
        detail = f"{len(listening)} of {expected} workers listening"
        if missing:
            detail += f" (not {', '.join(missing)})"
        return Check(not missing, detail)

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
        """SIGHUP: every worker re-reads its zones; one still starting does once it listens. The
        supervisor re-reads them too, for the API."""
        logger.info("reloading zones in every worker")
        for worker in self.workers.values():
            if worker.ready:
                _signal(worker, signal.SIGHUP)
            else:
                worker.reload_pending = True
        if self.zones and (self._reloading is None or self._reloading.done()):
            self._reloading = asyncio.get_running_loop().create_task(self._reload_zones())

    async def _reload_zones(self) -> None:
        try:
            self.zones = await asyncio.to_thread(zonefile.load_zones, self.settings.zones)
        except ZoneError as exc:
            logger.error("reload refused; the API keeps the previous zones", extra={"errors": str(exc)})

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
            if worker.listener is not None:  # read to its end of file: what it said last counts
                await asyncio.wait({worker.listener}, timeout=DRAIN_TIMEOUT)
            self._retire(worker)
            _close(worker)
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

    def _retire(self, worker: Worker) -> None:
        """A dead worker's latest counts go to the node's retired ones, so none goes backwards."""
        if worker.counts is not None:
            self.tally.retire(worker.counts)
            worker.counts = None  # in the same step: never counted twice, nor missing from a scrape

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
        channel = ControlChannel(ours)
        worker = self.workers[index] = Worker(index, process, channel)
        logger.info("worker started", extra={"worker": index, "pid": process.pid})
        # The worker reads both before it builds its first snapshot. A worker that is gone already
        # is seen by _until_ready.
        channel.send(control.settings_message(self.settings))
        channel.send(control.down_message(self.health))
        worker.listener = asyncio.get_running_loop().create_task(self._listen(worker))
        return worker

    async def _listen(self, worker: Worker) -> None:
        """Read the worker's messages until its channel closes: ``ready``, then revisions and counts."""
        try:
            while (message := await worker.channel.receive()) is not None:
                kind, revision = message.get("kind"), message.get("revision")
                if kind == control.COUNTS:
                    self._counts(worker, message)
                elif kind in (control.READY, control.SERVING) and isinstance(revision, int):
                    self._serving(worker, kind, revision)
                else:
                    logger.error(
                        "unknown message from a worker", extra={"worker": worker.index, "kind": kind}
                    )
        finally:
            if not worker.listening.done():
                worker.listening.set_result(False)
            if worker.asked is not None and not worker.asked.done():
                worker.asked.set_result(None)  # a scrape waits no longer for a worker that is gone

    def _serving(self, worker: Worker, kind: str, revision: int) -> None:
        worker.revision = revision
        if kind == control.READY and not worker.ready:
            worker.ready = True
            worker.listening.set_result(True)
            if worker.reload_pending:
                worker.reload_pending = False
                _signal(worker, signal.SIGHUP)

    def _counts(self, worker: Worker, message: dict[str, object]) -> None:
        try:
            worker.counts = control.counts_of(message)
        except (ValueError, TypeError, KeyError) as exc:
            logger.error("unreadable counts from a worker", extra={"worker": worker.index, "error": str(exc)})
        if worker.asked is not None and not worker.asked.done():
            worker.asked.set_result(None)

    async def _until_ready(self, worker: Worker) -> bool:
        """True once the worker says it listens; False if it exits (closing its channel) first."""
        return await asyncio.shield(worker.listening)

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
            _close(worker)
        if running:
            logger.info("workers stopped", extra={"workers": len(running)})


async def _until(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event`` or ``timeout`` seconds, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _signal(worker: Worker, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited; its slot will notice
        worker.process.send_signal(signum)


def _close(worker: Worker) -> None:
    if worker.listener is not None:
        worker.listener.cancel()
    worker.channel.close()
