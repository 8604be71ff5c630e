"""The health monitor: every checked member probed on its schedule, and what the answers need to know.

The monitor follows the served inventory (``sync``, called whenever the store moves): every member
of a pool with a ``health_check`` is probed at the check's interval (with the pool's and the
member's overrides applied), from a chain of timer callbacks on the event loop rather than a task
each, its results fed to the rise/fall state machine, every transition logged. Whenever the set of
down members or of unsettled pools (gslb/snapshot/ttl.py) changes, the monitor hands both to ``publish`` as
a ``HealthView``; the snapshot follower turns it into an incremental update, so probes never touch
the hot path, and answers change within one update of a transition.

The set a member's state contributes to is also shaped by operators: ``force_down`` puts a
member in it whatever its checks say, ``force_up`` keeps it out; drained and disabled members are
the pool compiler's business (AdminState), not the monitor's. Passive checks probe nothing: their
results are pushed (``push``, for the admin API), and only theirs: a pushed result for a probed
member would race its probes and flip answers behind the operator's back.

Reports (``report``) show every member of a pool, checked or not, with its state, its last
transition (wall-clock time and reason) and last result, and whether DNS hands it out now; the
monitor also counts each probe's latency per pool and check type (``latency``) for the metrics.
Times given to the state machine are wall-clock (``wall``), since they are shown to operators;
scheduling uses the event loop's (monotonic) clock.

A member whose check definition changes keeps its state if the change is to timing only, and
starts again from UNKNOWN (which counts as up) if it is now checked differently: its old results
say nothing about the new check.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from gslb.errors import HealthRefusedError
from gslb.health import state
from gslb.health.latency import LatencyRecorder
from gslb.health.probes import HttpCheck, TcpConnects, probe_http, probe_tcp
from gslb.health.state import MemberHealth, ProbeResult, TokenBucket
from gslb.health.status import HealthReport, MemberStatus, PoolHealth, pool_health, rfc3339, wall_time
from gslb.health.view import HealthView, Key
from gslb.model import (
    DEFAULT_TTL_BOUNDS,
    Check,
    CheckType,
    HealthOverride,
    Inventory,
    Pool,
    TtlBounds,
    effective_check,
)
from gslb.snapshot.ttl import bounded, cached_until, served

log = logging.getLogger("gslb.health")

PROBE_RATE = 2000.0
"""Probe starts per second, at most (bursts of PROBE_BURST): 2,000 members at 1 s each fit."""
PROBE_BURST = 500


@dataclass(frozen=True, slots=True)
class Target:
    """One member as the monitor checks it."""

    address: str
    check: Check | None  # None: not checked (only an override can take it down)
    override: HealthOverride | None

    def probes_like(self, other: Target) -> bool:
        """Whether results of ``other``'s check still say something about this one's."""
        if self.check is None or other.check is None:
            return self.check is other.check
        timing = {"interval": 0.0, "timeout": 0.0, "rise": 0, "fall": 0, "jitter": 0.0}
        return replace(self.check, **timing) == replace(other.check, **timing)  # type: ignore[arg-type]


class HealthMonitor:
    """Probes every checked member of the served inventory; publishes the down set on change."""

    def __init__(
        self,
        publish: Callable[[HealthView], None],
        *,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        rate: float = PROBE_RATE,
        burst: int = PROBE_BURST,
        ttl_bounds: TtlBounds = DEFAULT_TTL_BOUNDS,
    ) -> None:
        self.publish = publish
        self.ttl_bounds = ttl_bounds
        self.wall = wall
        self.rng = rng or random.Random()
        self.bucket = TokenBucket(rate, burst, time.monotonic())  # the event loop's clock
        self.targets: dict[Key, Target] = {}
        self.health: dict[Key, MemberHealth] = {}
        self.clears: dict[Key, float] = {}  # after each transition: when no cache holds the old answer
        self.latency = LatencyRecorder()
        self.revision = 0  # the store revision of the inventory followed
        self._runs: dict[Key, _Run] = {}
        self._tcp: TcpConnects | None = None
        self._inventory: Inventory | None = None
        self._pools: dict[str, Pool] = {}
        self._checks: dict[str, Check] = {}
        self._view = HealthView()
        # What the view is made of, kept up to date one member at a time: recounting 2,000 members
        # on each of the 2,000 results a second would cost more than probing them.
        self._down: set[Key] = set()
        self._unsettled: dict[str, set[str]] = {}  # pool -> its members not settled

    def sync(self, inventory: Inventory, revision: int = 0) -> None:
        """Check what ``inventory`` says to check: start, restart and stop members' checks as it changed."""
        self.revision = revision
        if inventory is self._inventory:
            return
        self._inventory = inventory
        self._pools = {pool.name: pool for pool in inventory.pools}
        self._checks = {check.name: check for check in inventory.checks}
        self.latency.keep(
            {
                (p.name, c.type)
                for p in inventory.pools
                if (c := self._check_of(p)) is not None and c.type.probed
            }
        )
        wanted = _targets(inventory)
        for key in self.targets.keys() - wanted.keys():
            self._stop(key)
            self.health.pop(key, None)
            self.clears.pop(key, None)
        for key, target in wanted.items():
            previous = self.targets.get(key)
            if previous == target:
                continue
            if previous is not None:
                self._stop(key)
                if not target.probes_like(previous):
                    self.health.pop(key, None)
                    self.clears.pop(key, None)
            self.targets[key] = target
            self.health.setdefault(key, MemberHealth())
            if target.check is not None and target.check.type.probed:
                self._begin(key, target.check)
        self._republish()

    def push(self, pool: str, address: str, result: ProbeResult) -> MemberStatus:
        """A passive check's result from outside, through rise/fall like a probe's; the member's
        status after it. HealthRefusedError if there is no such member or its check is not passive."""
        found = self._pool(pool)
        if not any(member.address == address for member in found.members):
            raise HealthRefusedError("not-found", "address", f"pool {pool!r} has no member {address!r}")
        target = self.targets.get((pool, address))
        check = target.check if target is not None else None
        if check is None or check.type is not CheckType.PASSIVE:
            what = f"is checked by {check.name!r} ({check.type})" if check is not None else "has no check"
            detail = f"pool {pool!r} {what}; only members of a passive check take pushed results"
            raise HealthRefusedError("conflict", "check", detail)
        self._observe((pool, address), check, result)
        status = self.pool_health(pool).member(address)
        assert status is not None
        return status

    def pool_health(self, name: str) -> PoolHealth:
        """Every member of one pool; HealthRefusedError (not-found) if there is no such pool."""
        pool = self._pool(name)
        healths = {
            m.address: h for m in pool.members if (h := self.health.get((name, m.address))) is not None
        }
        clears = {m.address: c for m in pool.members if (c := self.clears.get((name, m.address))) is not None}
        return pool_health(
            bounded(pool, *self.ttl_bounds),
            self._check_of(pool),
            healths,
            checks=self._checks,
            floor=self.ttl_bounds.floor,
            unsettled=name in self._view.unsettled,
            now=self.wall(),
            clears=clears,
        )

    def report(self, pool: str | None = None) -> HealthReport:
        """One pool (HealthRefusedError if unknown), or every pool the monitor has a say about: those
        with a check or a member an operator forced (the others' members are all ``unchecked``, and
        100,000 of them would only bloat every metrics scrape)."""
        if pool is not None:
            return HealthReport(self.revision, (self.pool_health(pool),), self.latency.histograms(pool))
        watched = sorted(
            {key[0] for key in self.targets} | {p.name for p in self._pools.values() if p.health_check}
        )
        pools = tuple(self.pool_health(name) for name in watched)
        return HealthReport(self.revision, pools, self.latency.histograms())

    def down(self) -> frozenset[Key]:
        """The members that must not be answered now: failing their checks or forced down."""
        return self._view.down

    def view(self) -> HealthView:
        """What was published last: the down members and the unsettled pools."""
        return self._view

    async def stop(self) -> None:
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        for key in list(self._runs):
            self._stop(key)
        if self._tcp is not None:
            self._tcp.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stop(self, key: Key) -> None:
        run = self._runs.pop(key, None)
        if run is not None:
            run.stopped = True  # a probe in flight finishes unheard
            if run.handle is not None:
                run.handle.cancel()
            if run.task is not None:
                run.task.cancel()
        self.targets.pop(key, None)

    # Each member's checks are a chain of callbacks on the loop (a timer, the probe, the result):
    # no task or sleep per member, which at 2,000 probes a second cost more than the probes.

    def _begin(self, key: Key, check: Check) -> None:
        loop = asyncio.get_running_loop()
        if self._tcp is None:
            self._tcp = TcpConnects(loop)
        run = self._runs[key] = _Run(key, check)
        run.handle = loop.call_at(state.first_check(loop.time(), check.interval, self.rng), self._fire, run)

    def _fire(self, run: _Run) -> None:
        loop = asyncio.get_running_loop()
        run.started = now = loop.time()
        wait = self.bucket.reserve(now)
        if wait > 0:
            run.handle = loop.call_at(now + wait, self._probe, run)
        else:
            self._probe(run)

    def _probe(self, run: _Run) -> None:
        run.handle = None
        check, address = run.check, run.key[1]
        if check.type is CheckType.TCP and self._tcp is not None and self._tcp.takes(address):
            assert check.port is not None  # a TCP check has one
            self._tcp.start(address, check.port, check.timeout, lambda result: self._done(run, result))
        else:
            run.task = asyncio.get_running_loop().create_task(self._probe_async(run))

    async def _probe_async(self, run: _Run) -> None:
        result = await _probe(run.key[1], run.check)
        run.task = None
        self._done(run, result)

    def _done(self, run: _Run, result: ProbeResult) -> None:
        if run.stopped:
            return
        check = run.check
        self.latency.record(run.key[0], check.type, result.latency)
        self._observe(run.key, check, result)
        loop = asyncio.get_running_loop()
        due = state.next_check(run.started, check.interval, check.jitter, self.rng)
        run.handle = loop.call_at(max(due, loop.time()), self._fire, run)

    def _pool(self, name: str) -> Pool:
        found = self._pools.get(name)
        if found is None:
            raise HealthRefusedError("not-found", "pool", f"pool {name!r} does not exist")
        return found

    def _check_of(self, pool: Pool) -> Check | None:
        return self._checks.get(pool.health_check) if pool.health_check else None

    def _observe(self, key: Key, check: Check, result: ProbeResult) -> None:
        before = self.health[key]
        health, transition = state.observe(before, result, self.wall(), check.rise, check.fall)
        self.health[key] = health
        if transition is not None or health.settled(check.rise) != before.settled(check.rise):
            self._recount(key)
        if transition is not None:
            # Answers handed out just before the change live on for the TTL they carried.
            clear = self.clears[key] = cached_until(transition.at, self._served_ttl(key[0]))
            state.log_transition(
                transition,
                pool=key[0],
                member=key[1],
                check=check.name,
                caches_clear_at=rfc3339(wall_time(clear)),
            )
        self._publish_if_changed()

    def _served_ttl(self, name: str) -> int:
        """The TTL the pool's answers carry now, as the answering processes compute it."""
        pool = bounded(self._pool(name), *self.ttl_bounds)
        unsettled = name in self._view.unsettled
        return served(pool, self._checks, self.ttl_bounds.floor, unsettled, self.wall()).ttl

    def _republish(self) -> None:
        """Count every member again (the inventory changed), then publish if the view did."""
        self._down.clear()
        self._unsettled.clear()
        for key in self.targets:
            self._recount(key)
        self._publish_if_changed()

    def _recount(self, key: Key) -> None:
        """Put one member in or out of the down set and its pool's unsettled members."""
        target = self.targets.get(key)
        health = self.health.get(key, MemberHealth())
        if target is not None and not health.effective_up(target.override):
            self._down.add(key)
        else:
            self._down.discard(key)
        pool, address = key
        check = target.check if target is not None and target.override is None else None
        if check is not None and not health.settled(check.rise):
            self._unsettled.setdefault(pool, set()).add(address)
        elif pool in self._unsettled:
            self._unsettled[pool].discard(address)
            if not self._unsettled[pool]:
                del self._unsettled[pool]

    def _publish_if_changed(self) -> None:
        if self._down == self._view.down and self._unsettled.keys() == self._view.unsettled:
            return
        self._view = HealthView(frozenset(self._down), frozenset(self._unsettled))
        self.publish(self._view)


@dataclass(slots=True)
class _Run:
    """One member being checked: the timer of its next probe, or the probe in flight."""

    key: Key
    check: Check
    handle: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None  # an HTTP(S) probe, or a TCP one to a host name
    started: float = 0.0  # loop time the current round started, for the next one's due time
    stopped: bool = False


def _targets(inventory: Inventory) -> dict[Key, Target]:
    """Every member the monitor has a say about: checked ones, and those an operator forced."""
    checks = {check.name: check for check in inventory.checks}
    targets: dict[Key, Target] = {}
    for pool in inventory.pools:
        check = checks.get(pool.health_check) if pool.health_check else None
        for member in pool.members:
            if check is None and member.override is None:
                continue
            checked = effective_check(check, pool, member) if check is not None else None
            targets[pool.name, member.address] = Target(member.address, checked, member.override)
    return targets


async def _probe(address: str, check: Check) -> ProbeResult:
    port = check.target_port
    assert port is not None  # probed checks have one
    if check.type is CheckType.TCP:
        return await probe_tcp(address, port, check.timeout)
    spec = HttpCheck(
        host=address,
        scheme="https" if check.type is CheckType.HTTPS else "http",
        port=port,
        method=check.method,
        path=check.path,
        host_header=check.host,
        expect=check.expect,
        body=check.body,
        sni=check.sni,
        verify_tls=check.verify_tls,
    )
    return await probe_http(spec, check.timeout)
