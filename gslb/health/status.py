"""What the health monitor reports: each member's status, each pool's summary, the latency histograms.

These values cross a process boundary (the health process answers its parent in JSON lines) and
are what the admin API shows, so each has one JSON form, ``document()``, read back by
``from_document()``: the API renders exactly what the monitor said. Times are wall-clock, RFC 3339
UTC in JSON, because an operator correlates them with logs and other machines.

Whether a member is *in answers* is computed here the way the pool compiler decides it (an
operator's admin state and weight, the checks with the override on top, the lowest priority tier
that has an available member, per address family, and the pool's all-down behaviour), so the API
answers "would DNS hand this address out now" rather than leaving operators to combine five fields.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gslb.health.latency import LatencyHistogram
from gslb.health.state import MemberHealth, ProbeResult
from gslb.model import (
    DEFAULT_TTL_BOUNDS,
    AdminState,
    AllDown,
    Check,
    CheckType,
    HealthOverride,
    Member,
    Pool,
    PoolKind,
)
from gslb.snapshot import ttl
from gslb.snapshot.policy import Candidate, eligible, fail_open_candidates


class HealthState(StrEnum):
    """A member's health as shown: the state machine's states, and ``unchecked`` for no check."""

    UNCHECKED = "unchecked"  # its pool has no check: always up unless an override says otherwise
    UNKNOWN = "unknown"  # checked, no verdict yet: counts as up
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class LastResult:
    """The latest result of a member's check, whether or not it changed the state."""

    ok: bool
    reason: str
    latency_ms: float | None  # None for a pushed result: nothing was measured here
    at: datetime

    def document(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "latency_ms": self.latency_ms, "at": rfc3339(self.at)}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> LastResult:
        latency = document["latency_ms"]
        return cls(
            bool(document["ok"]),
            str(document["reason"]),
            None if latency is None else float(latency),
            parse_time(document["at"]),
        )


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """One member of one pool: its check's verdict, the operator's word on top, and whether DNS
    hands it out now."""

    pool: str
    address: str
    site: str
    admin_state: AdminState
    override: HealthOverride | None
    check: str | None  # the check's name; None: the pool has none
    check_type: CheckType | None
    state: HealthState
    effective_up: bool  # the checks' verdict with the override applied
    in_answers: bool  # what the pool answers now (admin state, weight, tiers, all-down)
    changed_at: datetime | None  # the last transition; None: none since the health process started
    reason: str  # the result that caused the last transition
    successes: int  # consecutive, up to the latest result
    failures: int
    last: LastResult | None
    # The latest moment a resolver may still hold the answer from before the last change (a
    # transition's, or a drain's "caches clear at"); None: no change to wait out.
    caches_clear_at: datetime | None = None
    drain: str | None = None  # "draining" (still answered, at the floor TTL), "drained"; None

    def document(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "address": self.address,
            "site": self.site,
            "admin_state": str(self.admin_state),
            "override": None if self.override is None else str(self.override),
            "check": self.check,
            "check_type": None if self.check_type is None else str(self.check_type),
            "state": str(self.state),
            "effective_up": self.effective_up,
            "in_answers": self.in_answers,
            "changed_at": None if self.changed_at is None else rfc3339(self.changed_at),
            "reason": self.reason,
            "successes": self.successes,
            "failures": self.failures,
            "last": None if self.last is None else self.last.document(),
            "caches_clear_at": None if self.caches_clear_at is None else rfc3339(self.caches_clear_at),
            "drain": self.drain,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> MemberStatus:
        override, check_type, changed, last = (
            document["override"],
            document["check_type"],
            document["changed_at"],
            document["last"],
        )
        return cls(
            pool=str(document["pool"]),
            address=str(document["address"]),
            site=str(document["site"]),
            admin_state=AdminState(document["admin_state"]),
            override=None if override is None else HealthOverride(override),
            check=document["check"],
            check_type=None if check_type is None else CheckType(check_type),
            state=HealthState(document["state"]),
            effective_up=bool(document["effective_up"]),
            in_answers=bool(document["in_answers"]),
            changed_at=None if changed is None else parse_time(changed),
            reason=str(document["reason"]),
            successes=int(document["successes"]),
            failures=int(document["failures"]),
            last=None if last is None else LastResult.from_document(last),
            caches_clear_at=None if (clear := document.get("caches_clear_at")) is None else parse_time(clear),
            drain=document.get("drain"),
        )


@dataclass(frozen=True, slots=True)
class PoolHealth:
    """One pool's members and what they add up to."""

    pool: str
    check: str | None
    check_type: CheckType | None
    all_down: bool  # some family (A, AAAA) has no available member: all_down_behaviour answers it
    all_down_behaviour: AllDown
    fallback: str | None
    members: tuple[MemberStatus, ...]

    @property
    def in_answers(self) -> int:
        return sum(m.in_answers for m in self.members)

    def member(self, address: str) -> MemberStatus | None:
        return next((m for m in self.members if m.address == address), None)

    def document(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "check": None if self.check is None else {"name": self.check, "type": str(self.check_type)},
            "summary": {
                "members": len(self.members),
                "in_answers": self.in_answers,
                "all_down": self.all_down,
                "all_down_behaviour": str(self.all_down_behaviour),
                "fallback": self.fallback,
            },
            "members": [m.document() for m in self.members],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PoolHealth:
        check, summary = document["check"], document["summary"]
        return cls(
            pool=str(document["pool"]),
            check=None if check is None else str(check["name"]),
            check_type=None if check is None else CheckType(check["type"]),
            all_down=bool(summary["all_down"]),
            all_down_behaviour=AllDown(summary["all_down_behaviour"]),
            fallback=summary["fallback"],
            members=tuple(MemberStatus.from_document(m) for m in document["members"]),
        )


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The monitor's answer to a report request: pools (one, or every checked one) and latencies."""

    revision: int  # the store revision of the inventory the monitor follows
    pools: tuple[PoolHealth, ...]
    latency: tuple[LatencyHistogram, ...]

    def pool(self, name: str) -> PoolHealth | None:
        return next((p for p in self.pools if p.pool == name), None)

    def document(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "pools": [p.document() for p in self.pools],
            "latency": [h.document() for h in self.latency],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> HealthReport:
        return cls(
            int(document["revision"]),
            tuple(PoolHealth.from_document(p) for p in document["pools"]),
            tuple(LatencyHistogram.from_document(h) for h in document["latency"]),
        )


def pool_health(
    pool: Pool,
    check: Check | None,
    healths: Mapping[str, MemberHealth],
    *,
    checks: Mapping[str, Check] | None = None,
    floor: int = DEFAULT_TTL_BOUNDS.floor,
    unsettled: bool = False,
    now: float | None = None,
    clears: Mapping[str, float] | None = None,
) -> PoolHealth:
    """The status of each member of ``pool``: ``healths`` by address (absent: no result yet).

    ``checks`` (by name), ``floor`` and ``unsettled`` say how the pool is served (gslb/snapshot/ttl.py):
    a draining member is still in answers until its deadline at ``now``; ``clears`` holds, by
    address, when caches forget the answers from before each member's last transition.
    """
    now = time.time() if now is None else now
    checks = checks if checks is not None else ({check.name: check} if check is not None else {})
    how = ttl.served(pool, checks, floor, unsettled, now)
    stable = how.stable
    answering = ttl.as_served(pool, how)
    up = {m.address: _effective_up(m, check, healths.get(m.address)) for m in pool.members}
    answered, all_down = answered_members(answering, up)
    clears = clears or {}
    members = tuple(
        replace(
            _member_status(pool, member, check, healths.get(member.address), up[member.address], answered),
            caches_clear_at=_clear_time(member, stable, floor, clears.get(member.address)),
            drain=ttl.drain_phase(member, stable, now),
        )
        for member in pool.members
    )
    check_type = check.type if check is not None else None
    name = check.name if check is not None else None
    return PoolHealth(pool.name, name, check_type, all_down, pool.all_down, pool.fallback, members)


def answered_members(pool: Pool, up: Mapping[str, bool]) -> tuple[frozenset[str], bool]:
    """The addresses the pool hands out now, given each member's effective health, and whether
    some family is all down.

    As the pool compiler chooses them: per family (A, AAAA), the lowest tier with an available
    member (enabled, weight > 0, up); when none is, every enabled member if the pool fails open,
    none of its own if it falls back or answers NODATA.
    """
    answered: set[str] = set()
    all_down = False
    for family in _families(pool):
        candidates = [Candidate.of(m, healthy=up[m.address]) for m in family]
        chosen = eligible(candidates)
        if not chosen:
            all_down = True
            if pool.all_down is AllDown.FAIL_OPEN:
                chosen = eligible(fail_open_candidates(candidates))
        answered.update(family[i].address for i in chosen)
    return frozenset(answered), all_down


def _clear_time(member: Member, stable: int, floor: int, transition: float | None) -> datetime | None:
    drained = ttl.caches_clear_at(member, stable, floor)
    moments = [t for t in (drained, transition) if t is not None]
    return wall_time(max(moments)) if moments else None


def rfc3339(moment: datetime) -> str:
    """``2025-01-31T12:00:00.123Z``: UTC, milliseconds."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def wall_time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _effective_up(member: Member, check: Check | None, health: MemberHealth | None) -> bool:
    if check is None or health is None:
        return member.override is not HealthOverride.FORCE_DOWN
    return health.effective_up(member.override)


def _families(pool: Pool) -> list[list[Member]]:
    """Members as the compiler answers them: one family per record type (A, AAAA, or CNAME)."""
    if pool.kind is PoolKind.CNAME:
        return [list(pool.members)]
    v4 = [m for m in pool.members if ipaddress.ip_address(m.address).version == 4]
    v6 = [m for m in pool.members if ipaddress.ip_address(m.address).version == 6]
    return [family for family in (v4, v6) if family]


def _member_status(
    pool: Pool,
    member: Member,
    check: Check | None,
    health: MemberHealth | None,
    effective_up: bool,
    answered: frozenset[str],
) -> MemberStatus:
    if check is None:
        state, health = HealthState.UNCHECKED, MemberHealth(reason="no check")
    else:
        health = health or MemberHealth()
        state = HealthState(str(health.state))
    return MemberStatus(
        pool=pool.name,
        address=member.address,
        site=member.site,
        admin_state=member.state,
        override=member.override,
        check=check.name if check is not None else None,
        check_type=check.type if check is not None else None,
        state=state,
        effective_up=effective_up,
        in_answers=member.address in answered,
        changed_at=None if health.since is None else wall_time(health.since),
        reason=health.reason,
        successes=health.successes,
        failures=health.failures,
        last=_last(health.last, health.checked, check),
    )


def _last(result: ProbeResult | None, at: float | None, check: Check | None) -> LastResult | None:
    if result is None or at is None or check is None:
        return None
    latency = round(result.latency * 1000, 3) if check.type.probed else None
    return LastResult(result.ok, result.reason, latency, wall_time(at))
