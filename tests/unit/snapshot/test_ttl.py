"""The health-aware TTL and drain rules (gslb/snapshot/ttl.py): pure, the time is an argument."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from gslb.model import AdminState, Check, CheckOverrides, CheckType, Member, Pool
from gslb.snapshot import ttl

WEB = Check("web", CheckType.HTTP)  # the defaults: interval 2 s, fall 2, jitter 0.1
CHECKS = {"web": WEB}
FLOOR = 1
NOW = 1_000_000.0


def pool(*members: Member, check: str | None = "web", ttl_: int = 30) -> Pool:
    return Pool("www", ("www.gslb.example.test.",), ttl=ttl_, health_check=check, members=members)


A = Member("ams", "192.0.2.1")
B = Member("fra", "192.0.2.2")


def test_the_default_check_promises_one_second() -> None:
    """(fall - 1) x interval x (1 - jitter) = 1.8 s, rounded down: what makes the window short."""
    assert ttl.check_ttl(WEB) == (2 - 1) * 2.0 * 0.9
    assert ttl.stable_ttl(pool(A, B), CHECKS, FLOOR) == 1


def test_slower_checks_promise_more_but_never_above_the_pools_ttl() -> None:
    slow = {"web": replace(WEB, interval=10.0, fall=3, jitter=0.0)}
    assert ttl.stable_ttl(pool(A, B), slow, FLOOR) == 20
    assert ttl.stable_ttl(pool(A, B, ttl_=15), slow, FLOOR) == 15


def test_the_member_whose_check_promises_least_sets_the_pools_ttl() -> None:
    slow = {"web": replace(WEB, interval=10.0, fall=3, jitter=0.0)}
    quick = replace(B, check_overrides=CheckOverrides(interval=2.0))
    assert ttl.stable_ttl(pool(A, quick), slow, FLOOR) == 4  # (3 - 1) x 2.0, not A's 20


def test_the_floor_bounds_a_promise_of_nothing() -> None:
    single = {"web": replace(WEB, fall=1)}  # one failure withdraws: no promise at all
    assert ttl.stable_ttl(pool(A), single, FLOOR) == FLOOR
    assert ttl.stable_ttl(pool(A), single, 0) == 0


def test_an_unchecked_pool_keeps_its_declared_ttl() -> None:
    assert ttl.stable_ttl(pool(A, check=None), CHECKS, FLOOR) == 30
    assert ttl.served(pool(A, check=None), CHECKS, FLOOR, unsettled=True, now=NOW).ttl == 30


def test_an_unsettled_pool_answers_with_the_floor() -> None:
    slow = {"web": replace(WEB, interval=10.0, fall=3, jitter=0.0)}
    assert ttl.served(pool(A, B), slow, FLOOR, unsettled=False, now=NOW) == ttl.Served(
        20, frozenset(), None, 20
    )
    assert ttl.served(pool(A, B), slow, FLOOR, unsettled=True, now=NOW) == ttl.Served(
        1, frozenset(), None, 20
    )


def test_a_drained_member_is_answered_at_the_floor_until_its_old_copies_expire() -> None:
    slow = {"web": replace(WEB, interval=10.0, fall=3, jitter=0.0)}  # stable TTL 20 s
    drained = replace(A, state=AdminState.DRAINED, drained_at=NOW)
    before = ttl.served(pool(drained, B), slow, FLOOR, unsettled=False, now=NOW + 19.9)
    assert before == ttl.Served(FLOOR, frozenset({A.address}), NOW + 20, 20)
    served = ttl.as_served(pool(drained, B), before)
    assert served.ttl == FLOOR
    assert [m.state for m in served.members] == [AdminState.ENABLED, AdminState.ENABLED]
    after = ttl.served(pool(drained, B), slow, FLOOR, unsettled=False, now=NOW + 20)
    assert after == ttl.Served(20, frozenset(), None, 20)  # withdrawn: the pool is back to its stable TTL
    assert ttl.as_served(pool(drained, B), after) == pool(drained, B, ttl_=20)  # and no longer answered
    assert ttl.caches_clear_at(drained, 20, FLOOR) == NOW + 22  # deadline + floor + a resolver's second
    assert [ttl.drain_phase(drained, 20, t) for t in (NOW, NOW + 20)] == ["draining", "drained"]
    assert ttl.drain_phase(A, 20, NOW) is None


def test_an_unchecked_pool_drains_over_its_declared_ttl() -> None:
    drained = replace(A, state=AdminState.DRAINED, drained_at=NOW)
    how = ttl.served(pool(drained, B, check=None), CHECKS, FLOOR, unsettled=False, now=NOW + 29)
    assert how == ttl.Served(FLOOR, frozenset({A.address}), NOW + 30, 30)


def test_a_member_drained_without_a_time_is_withdrawn_at_once() -> None:
    """Drained before the store recorded when (or drained from disabled): nothing cached to wait for."""
    drained = replace(A, state=AdminState.DRAINED)
    assert ttl.served(pool(drained, B), CHECKS, FLOOR, unsettled=False, now=NOW).draining == frozenset()
    assert ttl.caches_clear_at(drained, 1, FLOOR) is None
    assert ttl.drain_phase(drained, 1, NOW) == "drained"


def test_bounded_keeps_a_declared_ttl_within_the_servers_bounds() -> None:
    assert ttl.bounded(pool(A, ttl_=30), 1, 300).ttl == 30
    assert ttl.bounded(pool(A, ttl_=0), 1, 300).ttl == 1
    assert ttl.bounded(pool(A, ttl_=3600), 1, 300).ttl == 300


@given(
    interval=st.floats(0.1, 3600),
    fall=st.integers(1, 100),
    jitter=st.floats(0, 0.99),
    declared=st.integers(0, 86400),
    floor=st.integers(0, 30),
)
def test_the_stable_ttl_never_outlives_what_the_checks_can_promise(
    interval: float, fall: int, jitter: float, declared: int, floor: int
) -> None:
    """Whatever the timing, a settled pool's TTL expires before ``fall`` failures could withdraw a
    member (unless the floor or the declared TTL says less), and is never above the declared TTL."""
    check = {"web": replace(WEB, interval=interval, fall=fall, jitter=jitter)}
    declared = max(declared, floor)
    stable = ttl.stable_ttl(pool(A, ttl_=declared), check, floor)
    assert stable <= declared
    assert stable == floor or stable <= (fall - 1) * interval * (1 - jitter) + 1e-6
    assert stable >= min(declared, max(floor, math.floor((fall - 1) * interval * (1 - jitter)) - 1))
