"""``/healthz``, ``/readyz`` and ``/metrics``: what keepalived, load balancers and Prometheus poll.

All three are open (no token: gslb/api/routes.py ``OPEN_PATHS``): the machines that poll them
rarely carry secrets, and they show no configuration. They never block the event loop that also
serves DNS over TCP: the store is asked in a thread of its own, with a deadline.

- ``/healthz`` answers whenever the process runs. Use it where the only right reaction is a
  restart (a supervisor's liveness probe): it stays 200 through a store outage, since restarting
  a server that answers from its last snapshot would only make things worse.
- ``/readyz`` answers 200 only while this node should receive queries and API calls: its zones
  are loaded, its DNS listeners are up, the store answers, and the snapshot it answers from is
  the store's current revision (or the store moved less than ``READY_LAG`` ago, the time a
  rebuild may take). Point keepalived's ``vrrp_script`` (``curl -fsS .../readyz``) or a load
  balancer's health check at it, so the VIP or the traffic leaves a node that would answer from
  stale data or could not take a change. With one PostgreSQL shared by every node, a store outage
  fails them all at once: keepalived then keeps the VIP where it is, and most load balancers
  fail open when every backend is down, so that case costs nothing but the alert.
- ``/metrics`` is the Prometheus text format (gslb/api/metrics.py), negotiated like
  prometheus_client's own servers do.

With ``--workers N`` the API runs in the supervisor, which answers no DNS itself: there, once
``watch_workers`` has named it, ``/metrics`` shows the workers' counts summed (asked on each
scrape) and ``/readyz`` is ready only while every worker listens and serves the store's revision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from gslb.api.context import CONTEXT, ApiContext, context
from gslb.api.metrics import DnsCounts, GslbCollector, Observation
from gslb.api.problems import Problem
from gslb.api.request import json_response
from gslb.errors import HealthError, StoreError
from gslb.health.status import HealthReport
from gslb.store import Store

log = logging.getLogger("gslb.api")

READY_LAG = 1.0
"""Seconds the served snapshot may trail a store revision before the node is not ready: a delta
rebuild takes milliseconds, so only a stuck follower or a full rebuild of a large inventory
takes longer."""
STORE_TIMEOUT = 1.0  # seconds a revision query may take before the store counts as unreachable
HEALTH_TIMEOUT = 2.0  # seconds a scrape waits for the health report (60 ms for 2,000 members)
NO_STORE = {"Cache-Control": "no-store"}  # every answer here is live state


class StoreProbe:
    """The store's revision, asked in a thread of its own and waited for at most ``timeout``.

    A store that hangs (a PostgreSQL server gone silent) must neither hang the poller nor pile
    blocked threads into the loop's default executor, where the API's store calls and the snapshot
    follower run: so one dedicated thread, one query at a time, and whoever asks while a query is
    pending waits for that one.
    """

    def __init__(self, store: Store, timeout: float = STORE_TIMEOUT) -> None:
        self.store = store
        self.timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gslb-store-probe")
        self._pending: asyncio.Future[int] | None = None

    async def revision(self) -> int:
        """The revision; StoreError if the store refused, TimeoutError if it did not answer in time."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().run_in_executor(self._executor, self.store.revision)
        # shield: a caller's deadline must not cancel the query others may be waiting for.
        return await asyncio.wait_for(asyncio.shield(self._pending), self.timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass(slots=True)
class SnapshotLag:
    """How long the served snapshot has been out of step with the store, as seen by the checks.

    It remembers the first store revision seen unserved and when; the clock restarts only once
    that revision is served, so a store written to every 100 ms, each write served within a few
    milliseconds, never looks late, while a follower stuck on one revision does after
    ``READY_LAG``. It is measured from the first check that saw the store ahead: a poller checking
    every two seconds learns of a stuck follower one poll later than it could.
    """

    _pending: tuple[int, float] | None = None  # (store revision not yet served, first seen at)

    def seconds(self, served: int, store: int, now: float) -> float:
        if served == store:
            self._pending = None
            return 0.0
        if self._pending is None or (served < store and self._pending[0] <= served):
            self._pending = (store, now)
        return now - self._pending[1]


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness condition and what was found."""

    ok: bool
    detail: str

    def document(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


LISTENING = Check(True, "DNS listeners up")
NOT_LISTENING = Check(False, "DNS listeners not started")
NO_DNS = Check(False, "this process answers no DNS and supervises no workers")


class Workers(Protocol):
    """The supervisor of ``--workers N``, as /metrics and /readyz see it (gslb/node/supervisor.py)."""

    async def counted(self) -> DnsCounts:
        """Every worker's counts summed, with those of the workers they replaced."""
        ...

    def listeners(self) -> Check:
        """Whether every worker listens."""
        ...


def readiness(
    zones: int,
    listeners: Check,
    revisions: dict[str, int],
    store: int | str,
    lag: SnapshotLag,
    now: float,
    grace: float = READY_LAG,
) -> dict[str, Check]:
    """Each condition of readiness: ``store`` is the store's revision, or why it has none;
    ``revisions`` the snapshot revision each answering process serves."""
    checks = {
        "zones": Check(zones > 0, f"{zones} zone{'s' if zones != 1 else ''} loaded"),
        "listeners": listeners,
        "store": Check(isinstance(store, int), f"at revision {store}" if isinstance(store, int) else store),
    }
    if not revisions:
        checks["snapshot"] = Check(False, "no answering process has built a snapshot yet")
    elif not isinstance(store, int):
        checks["snapshot"] = Check(False, "cannot tell: the store did not answer")
    else:
        served = min(revisions.values())
        behind = lag.seconds(served, store, now)
        if served == store:
            checks["snapshot"] = Check(True, f"serving revision {served}, the store's")
        else:
            detail = f"serving revision {served}, the store is at {store} (for {behind:.1f} s)"
            checks["snapshot"] = Check(behind < grace, detail)
    return checks


def _process_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


@dataclass(slots=True)
class Observer:
    """What the three handlers keep between requests, one per application."""

    probe: StoreProbe
    workers: Workers | None = None  # the supervisor, with --workers N (``watch_workers``)
    lag: SnapshotLag = field(default_factory=SnapshotLag)
    ready: bool | None = None  # the last /readyz verdict: transitions are logged, not every poll
    # The process's own metrics: CPU, memory, file descriptors, garbage collections, Python version.
    process: CollectorRegistry = field(default_factory=_process_registry)

    async def store_revision(self) -> int | str:
        """The store's revision, or why there is none (for the checks and the logs)."""
        try:
            return await self.probe.revision()
        except TimeoutError:
            return f"no answer within {self.probe.timeout:g} s"
        except StoreError as exc:
            return str(exc)

    async def observe(self, api: ApiContext) -> Observation:
        store, health, counts = await asyncio.gather(
            self.store_revision(), _health_report(api), self.counted(api)
        )
        return Observation(
            now=time.time(),
            revisions=api.revisions(),
            store_revision=store if isinstance(store, int) else None,
            totals=counts.totals if counts is not None else None,
            snapshot_built_at=counts.built_at if counts is not None else None,
            rebuilds=counts.rebuilds if counts is not None else None,
            health=health,
        )

    async def counted(self, api: ApiContext) -> DnsCounts | None:
        """The counts of whatever answers DNS: this process, or the workers it supervises."""
        if self.workers is not None:
            return await self.workers.counted()
        return DnsCounts.of(api.dns) if api.dns is not None else None

    def listeners(self, api: ApiContext) -> Check:
        if self.workers is not None:
            return self.workers.listeners()
        if api.dns is None:
            return NO_DNS
        return LISTENING if api.dns.listening else NOT_LISTENING


async def _health_report(api: ApiContext) -> HealthReport | None:
    if api.health is None:
        return None
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            return await api.health.report()
    except (HealthError, TimeoutError) as exc:
        log.warning("metrics without member health", extra={"error": str(exc) or "timeout"})
        return None


@dataclass(frozen=True, slots=True)
class Scrape:
    """One scrape's collectors as one, for prometheus_client's encoders."""

    parts: tuple[Collector, ...]

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


OBSERVER = web.AppKey("observer", Observer)


def watch_workers(app: web.Application, workers: Workers) -> None:
    """/metrics and /readyz speak for ``workers`` (the supervisor of ``--workers N``), not for this
    process, which answers no DNS; before the app starts."""
    app[OBSERVER].workers = workers


def setup(app: web.Application) -> None:
    """Keep an ``Observer`` in the API's application, closed with it."""
    observer = Observer(StoreProbe(app[CONTEXT].store))
    app[OBSERVER] = observer

    async def close(_: web.Application) -> None:
        observer.probe.close()

    app.on_cleanup.append(close)


async def healthz(request: web.Request) -> web.Response:
    """200 while the process runs: liveness, for whatever restarts a dead server."""
    return json_response({"status": "alive"}, headers=NO_STORE)


async def readyz(request: web.Request) -> web.Response:
    """200 while every readiness condition holds; else 503 naming those that fail."""
    api, observer = context(request), request.app[OBSERVER]
    store = await observer.store_revision()
    listeners = observer.listeners(api)
    checks = readiness(len(api.zones()), listeners, api.revisions(), store, observer.lag, time.monotonic())
    documents = {name: check.document() for name, check in checks.items()}
    failed = [name for name, check in checks.items() if not check.ok]
    detail = "; ".join(f"{name}: {checks[name].detail}" for name in failed)
    ready = not failed
    if observer.ready != ready:
        observer.ready = ready
        if ready:
            log.info("ready", extra={"checks": ",".join(checks)})
        else:
            log.warning("not ready", extra={"failed": ",".join(failed), "detail": detail})
    if ready:
        return json_response({"status": "ready", "checks": documents}, headers=NO_STORE)
    raise Problem(
        503,
        "not-ready",
        "Not ready",
        detail,
        headers=NO_STORE,
        extra={"failed": failed, "checks": documents},
    )


async def metrics(request: web.Request) -> web.Response:
    """Every gslb metric and the process's own, in the format the scraper asked for."""
    observer = request.app[OBSERVER]
    observation = await observer.observe(context(request))
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(Scrape((GslbCollector(observation), observer.process)))
    return web.Response(body=body, headers={"Content-Type": content_type, **NO_STORE})
