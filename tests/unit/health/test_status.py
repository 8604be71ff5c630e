"""What the health monitor reports: members in answers, statuses, their JSON, latency histograms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gslb.health.latency import LATENCY_BUCKETS, LatencyHistogram, LatencyRecorder
from gslb.health.state import MemberHealth, ProbeResult, State, observe
from gslb.health.status import (
    HealthReport,
    HealthState,
    PoolHealth,
    answered_members,
    pool_health,
    rfc3339,
)
from gslb.model import AdminState, AllDown, Check, CheckType, HealthOverride, Member, Pool, PoolKind

V4A, V4B, V4C, V6 = "192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1"
TCP = Check("tcp", CheckType.TCP, port=80)
FED = Check("fed", CheckType.PASSIVE)


def pool(*members: Member, all_down: AllDown = AllDown.FAIL_OPEN, check: Check | None = TCP) -> Pool:
    return Pool(
        "p",
        ("p.example.test.",),
        all_down=all_down,
        fallback="other" if all_down is AllDown.FALLBACK else None,
        health_check=check.name if check else None,
        members=members,
    )


def down(at: float = 1_700_000_000.0) -> MemberHealth:
    """A member taken down by two refused connects at ``at``."""
    health = MemberHealth()
    for _ in range(2):
        health, _ = observe(health, ProbeResult(False, "connect refused", 0.0004), at)
    assert health.state is State.DOWN
    return health


# --- which members DNS hands out ----------------------------------------------------------------------


def test_the_lowest_tier_with_an_available_member_answers() -> None:
    tiers = pool(Member("s", V4A, priority=0), Member("s", V4B, priority=1), Member("s", V4C, priority=1))
    assert answered_members(tiers, {V4A: True, V4B: True, V4C: True}) == (frozenset({V4A}), False)
    assert answered_members(tiers, {V4A: False, V4B: True, V4C: True}) == (frozenset({V4B, V4C}), False)


def test_drained_disabled_and_weight_zero_members_are_not_answered_even_when_up() -> None:
    members = (
        Member("s", V4A, state=AdminState.DRAINED),
        Member("s", V4B, state=AdminState.DISABLED),
        Member("s", V4C, weight=0),
    )
    up = dict.fromkeys((V4A, V4B, V4C), True)
    # Nothing available: failing open answers health-blind, but still never a drained, disabled or 0 member.
    assert answered_members(pool(*members), up) == (frozenset(), True)


@pytest.mark.parametrize(
    ("behaviour", "answered"),
    [(AllDown.FAIL_OPEN, {V4A, V4B}), (AllDown.NODATA, set()), (AllDown.FALLBACK, set())],
)
def test_an_all_down_family_follows_the_pool_behaviour(behaviour: AllDown, answered: set[str]) -> None:
    all_dead = pool(Member("s", V4A), Member("s", V4B), Member("s", V6), all_down=behaviour)
    got, all_down = answered_members(all_dead, {V4A: False, V4B: False, V6: True})
    assert all_down  # every IPv4 member is down: A answers follow all_down
    assert got == {*answered, V6}  # AAAA answers are unaffected


def test_a_cname_pool_is_one_family() -> None:
    names = Pool("c", ("c.example.test.",), kind=PoolKind.CNAME, members=(Member("s", "a.example.net."),))
    assert answered_members(names, {"a.example.net.": True}) == (frozenset({"a.example.net."}), False)


# --- statuses -----------------------------------------------------------------------------------------


def test_members_of_a_pool_without_a_check_are_unchecked_and_answer_unless_forced_down() -> None:
    plain = pool(Member("s", V4A), Member("s", V4B, override=HealthOverride.FORCE_DOWN), check=None)
    health = pool_health(plain, None, {})
    first, forced = health.members
    assert (first.state, first.effective_up, first.in_answers, first.check) == (
        HealthState.UNCHECKED,
        True,
        True,
        None,
    )
    assert (forced.state, forced.effective_up, forced.in_answers) == (HealthState.UNCHECKED, False, False)
    assert (health.in_answers, health.all_down, health.check) == (1, False, None)


def test_a_checked_member_shows_its_transition_last_result_and_override() -> None:
    checked = pool(Member("s", V4A), Member("s", V4B, override=HealthOverride.FORCE_UP))
    health = pool_health(checked, TCP, {V4A: down(), V4B: down()})
    dead, forced = health.members
    assert dead.state is HealthState.DOWN and not dead.effective_up and not dead.in_answers
    assert dead.changed_at == datetime.fromtimestamp(1_700_000_000.0, UTC)
    assert (dead.reason, dead.failures, dead.successes) == ("connect refused", 2, 0)
    assert dead.last is not None and dead.last.latency_ms == 0.4 and not dead.last.ok
    assert (
        forced.state is HealthState.DOWN and forced.effective_up and forced.in_answers
    )  # the operator said up
    assert forced.override is HealthOverride.FORCE_UP
    assert health.document()["summary"] == {
        "members": 2,
        "in_answers": 1,
        "all_down": False,
        "all_down_behaviour": "fail_open",
        "fallback": None,
    }


def test_a_member_not_checked_yet_is_unknown_and_answers() -> None:
    status = pool_health(pool(Member("s", V4A)), TCP, {}).members[0]
    assert (status.state, status.effective_up, status.in_answers, status.last) == (
        HealthState.UNKNOWN,
        True,
        True,
        None,
    )
    assert status.changed_at is None and status.reason == "not checked yet"


def test_a_pushed_result_has_no_latency() -> None:
    health, _ = observe(MemberHealth(), ProbeResult(True, "fine"), 1_700_000_000.0)
    status = pool_health(pool(Member("s", V4A), check=FED), FED, {V4A: health}).members[0]
    assert status.last is not None and status.last.latency_ms is None
    assert status.document()["check_type"] == "passive"


def test_documents_read_back_into_equal_values() -> None:
    checked = pool(
        Member("s", V4A), Member("s", V6, state=AdminState.DRAINED, override=HealthOverride.FORCE_DOWN)
    )
    health = pool_health(checked, TCP, {V4A: down()})
    assert PoolHealth.from_document(health.document()) == health
    recorder = LatencyRecorder()
    recorder.record("p", CheckType.TCP, 0.003)
    report = HealthReport(42, (health,), recorder.histograms())
    assert HealthReport.from_document(report.document()) == report


def test_times_are_rfc3339_utc_with_milliseconds() -> None:
    assert rfc3339(datetime.fromtimestamp(1_700_000_000.25, UTC)) == "2023-11-14T22:13:20.250Z"


# --- latency histograms -------------------------------------------------------------------------------


def test_latencies_fall_in_inclusive_upper_bounds_and_read_cumulatively() -> None:
    recorder = LatencyRecorder()
    for seconds in (0.0005, 0.001, 0.0011, 0.2, 3.0):
        recorder.record("p", CheckType.HTTP, seconds)
    (histogram,) = recorder.histograms()
    buckets = dict(histogram.cumulative())
    assert buckets["0.001"] == 2  # 0.001 itself is "le 0.001", as Prometheus counts it
    assert buckets["0.0025"] == 3 and buckets["0.25"] == 4 and buckets["2.5"] == 4
    assert buckets["+Inf"] == histogram.count == 5
    assert histogram.total == pytest.approx(3.2026)
    assert len(histogram.cumulative()) == len(LATENCY_BUCKETS) + 1


def test_histograms_of_pools_no_longer_checked_are_forgotten() -> None:
    recorder = LatencyRecorder()
    recorder.record("a", CheckType.TCP, 0.01)
    recorder.record("b", CheckType.TCP, 0.01)
    recorder.keep({("b", CheckType.TCP)})
    assert [h.pool for h in recorder.histograms()] == ["b"]
    assert recorder.histograms("a") == ()


def test_a_histogram_has_one_count_per_bucket() -> None:
    with pytest.raises(ValueError):
        LatencyHistogram("p", CheckType.TCP, (1, 2), 0.0)
