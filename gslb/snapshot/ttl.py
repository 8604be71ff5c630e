"""How long a pool answer may be cached, and when a drained member leaves the answers.

The stale-cache window of a dead member is the time gslb takes to notice plus the TTL resolvers
cached the last answer with. A fixed pool TTL (30 s) makes that up to ~35 s, so a checked pool's
TTL is tied to what its checks can promise:

- **Settled** (every checked member UP, its current run without a failure, and at least ``rise``
  successes in it): the *stable TTL*, the least time, counted from any moment, before ``fall``
  consecutive failures could take a member out: ``(fall - 1) x interval x (1 - jitter)`` (the
  next check may come at once, the others at least ``interval x (1 - jitter)`` apart), rounded
  down to whole seconds, and at most the pool's ``ttl`` (its ceiling).
- **Unsettled** (a member down, rising back, in its fall window, or not checked yet): the floor
  (``pool_ttl_floor``), so a resolver asks again soon and a restored or failed member shows up in
  answers one floor after the checks decide.

So the window is bounded by detection plus the stable TTL (a refused connection is detected at
the next check, gslb/health/state.py), and restoring by ``rise`` checks plus the floor. With the
default check (interval 2 s, fall 2, jitter 0.1) the stable TTL is 1 s: 1.8 s of promise, rounded
down. Pools without a check keep their declared ``ttl``: nothing watches them, nothing is gained.

A drained member is not withdrawn at once: resolvers may hold answers with it for up to the stable
TTL. It keeps being answered, at the floor TTL, until ``drained_at`` + stable TTL (the old copies
have expired by then), and then leaves; no resolver holds it one floor TTL later ("caches clear
at"). Every input is in the store or the declarations (``drained_at`` is the store's), so every
node and every worker computes the same deadline, and the admin API can promise it.

Pure: the time is an argument, the rules are unit-tested without sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from gslb.model import AdminState, Check, Inventory, Member, Pool, effective_check

RESOLVER_CLOCK_SLACK = 1.0
DRAINING = "draining"
DRAINED = "drained"


@dataclass(frozen=True, slots=True)
class Served:
    """How a pool is answered at one moment."""

    ttl: int
    draining: frozenset[str]  # drained members still answered (their deadline is ahead)
    until: float | None  # when this changes by itself (the next drain deadline); None: never
    stable: int  # the pool's stable TTL, which its drains are counted with


def check_ttl(check: Check) -> float:
    """Seconds a settled member's checks promise, from any moment, before it could be withdrawn."""
    return (check.fall - 1) * check.interval * (1 - check.jitter)


def stable_ttl(pool: Pool, checks: Mapping[str, Check], floor: int) -> int:
    """The TTL of a settled pool: its ceiling, lowered to what its members' checks promise."""
    check = checks.get(pool.health_check) if pool.health_check else None
    if check is None:
        return pool.ttl
    promise = min(
        (check_ttl(effective_check(check, pool, member)) for member in pool.members),
        default=check_ttl(check),
    )
    return max(floor, min(pool.ttl, math.floor(promise + 1e-9)))


def drain_deadline(member: Member, stable: int) -> float | None:
    """When a drained member leaves the answers; None if it is not drained, or was drained before
    gslb recorded when (it is then withdrawn already)."""
    if member.state is not AdminState.DRAINED or member.drained_at is None:
        return None
    return member.drained_at + stable


def cached_until(handed_out: float, ttl: int) -> float:
    """The latest moment a resolver may still answer from a copy it got at ``handed_out``: TTLs are
    counted in whole seconds by resolvers' clocks (Unbound's among them), so a copy may outlive its
    TTL by up to one second."""
    return handed_out + ttl + RESOLVER_CLOCK_SLACK


def caches_clear_at(member: Member, stable: int, floor: int) -> float | None:
    """When no resolver can still hold a drained member: a copy handed out just before its deadline
    lives one floor TTL (and a resolver's second) longer."""
    deadline = drain_deadline(member, stable)
    return None if deadline is None else cached_until(deadline, floor)


def served(pool: Pool, checks: Mapping[str, Check], floor: int, unsettled: bool, now: float) -> Served:
    """The pool's TTL and draining members at ``now``: ``unsettled`` is the health monitor's word
    (gslb/health/monitor.py) that a checked member is not settled."""
    stable = stable_ttl(pool, checks, floor)
    draining: set[str] = set()
    until: float | None = None
    for member in pool.members:
        deadline = drain_deadline(member, stable)
        if deadline is not None and deadline > now:
            draining.add(member.address)
            until = deadline if until is None else min(until, deadline)
    short = draining or (unsettled and pool.health_check is not None)
    return Served(min(floor if short else stable, pool.ttl), frozenset(draining), until, stable)


def bounded(pool: Pool, floor: int, ceiling: int) -> Pool:
    """The pool with its declared TTL kept within the server's bounds (``pool_ttl_floor``/``_ceiling``)."""
    ttl = min(max(pool.ttl, floor), ceiling)
    return pool if ttl == pool.ttl else replace(pool, ttl=ttl)


def drain_phase(member: Member, stable: int, now: float) -> str | None:
    """DRAINING (still answered), DRAINED (withdrawn), or None for a member not drained."""
    if member.state is not AdminState.DRAINED:
        return None
    deadline = drain_deadline(member, stable)
    return DRAINING if deadline is not None and deadline > now else DRAINED


def pending_drains(
    inventory: Inventory, floor: int, ceiling: int, now: float
) -> list[tuple[str, str, float]]:
    """(pool, member address, caches clear at) of every drain whose caches have not cleared yet."""
    checks = {check.name: check for check in inventory.checks}
    return [
        (pool.name, address, clear)
        for pool in inventory.pools
        if any(m.drained_at is not None for m in pool.members)
        for address, clear in drain_promises(pool, checks, floor, ceiling).items()
        if clear > now
    ]


def drain_promises(pool: Pool, checks: Mapping[str, Check], floor: int, ceiling: int) -> dict[str, float]:
    """Member address -> caches clear at, for the pool's drained members that have a drain time:
    what ``gslb apply`` prints and the admin API answers in ``Caches-Clear-At``."""
    stable = stable_ttl(bounded(pool, floor, ceiling), checks, floor)
    promises = {member.address: caches_clear_at(member, stable, floor) for member in pool.members}
    return {address: clear for address, clear in promises.items() if clear is not None}


def as_served(pool: Pool, how: Served) -> Pool:
    """The pool as the compiler should answer it: the served TTL, draining members still enabled."""
    if how.ttl == pool.ttl and not how.draining:
        return pool
    members = tuple(
        replace(m, state=AdminState.ENABLED) if m.address in how.draining else m for m in pool.members
    )
    return replace(pool, ttl=how.ttl, members=members)
