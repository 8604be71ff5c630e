"""The rise/fall state machine, the check schedule and the rate cap: pure, no clock, no sockets."""

from __future__ import annotations

import logging
import random
import statistics
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gslb.health.state import (
    MemberHealth,
    Override,
    ProbeResult,
    State,
    TokenBucket,
    Transition,
    first_check,
    log_transition,
    next_check,
    observe,
)
from gslb.model import DEFAULT_FALL, DEFAULT_INTERVAL, DEFAULT_RISE, DEFAULT_TIMEOUT

OK = ProbeResult(True, "HTTP 200", 0.01)
BAD = ProbeResult(False, "HTTP 503", 0.01)
REFUSED = ProbeResult(False, "connect refused", 0.001)


def replay(
    results: Iterable[ProbeResult], rise: int = DEFAULT_RISE, fall: int = DEFAULT_FALL
) -> list[tuple[MemberHealth, Transition | None]]:
    """Results one per second (at t = 1, 2, ...) from a fresh member: the history."""
    health = MemberHealth()
    history = []
    for step, result in enumerate(results, start=1):
        health, transition = observe(health, result, float(step), rise, fall)
        history.append((health, transition))
    return history


def test_the_defaults_favour_fast_withdrawal() -> None:
    assert (DEFAULT_INTERVAL, DEFAULT_TIMEOUT, DEFAULT_FALL, DEFAULT_RISE) == (2.0, 1.0, 2, 2)


def test_a_new_member_is_unknown_and_counts_as_up() -> None:
    health = MemberHealth()
    assert health.state is State.UNKNOWN
    assert health.up
    assert health.since is None
    assert health.last is None


def test_the_first_success_makes_an_unknown_member_up_at_once() -> None:
    [(health, transition)] = replay([OK])
    assert health.state is State.UP
    assert transition == Transition(State.UNKNOWN, State.UP, 1.0, "HTTP 200", 1)
    assert (health.since, health.reason) == (1.0, "HTTP 200")


def test_an_unknown_member_goes_down_after_fall_failures_only() -> None:
    history = replay([REFUSED, REFUSED, REFUSED], fall=3)
    assert [h.state for h, _ in history] == [State.UNKNOWN, State.UNKNOWN, State.DOWN]
    assert all(h.up for h, _ in history[:2])
    assert history[2][1] == Transition(State.UNKNOWN, State.DOWN, 3.0, "connect refused", 3)


def test_rise_and_fall_count_consecutive_results() -> None:
    history = replay([OK, BAD, BAD, OK, BAD, OK, OK])
    assert [h.state for h, _ in history] == [
        State.UP,
        State.UP,
        State.DOWN,
        State.DOWN,
        State.DOWN,
        State.DOWN,
        State.UP,
    ]
    assert [t.at for _, t in history if t] == [1.0, 3.0, 7.0]


def test_alternating_results_never_flap_with_rise_and_fall_two() -> None:
    for first, second in ((OK, BAD), (BAD, OK)):
        history = replay([first, second] * 50)
        served = {h.up for h, _ in history}
        assert served == {True}
        assert sum(t is not None and t.current is State.DOWN for _, t in history) == 0
    down = replay([BAD, BAD] + [OK, BAD] * 50)
    assert [t.current for _, t in down if t] == [State.DOWN]


def test_transition_keeps_its_time_and_reason_while_results_continue() -> None:
    history = replay([OK, BAD, BAD, BAD, ProbeResult(False, "timeout after 1.0 s")])
    health = history[-1][0]
    assert health.state is State.DOWN
    assert (health.since, health.reason) == (3.0, "HTTP 503")
    assert health.last == ProbeResult(False, "timeout after 1.0 s")
    assert (health.successes, health.failures) == (0, 4)


def test_overrides_layer_on_top_of_the_checks() -> None:
    down = replay([BAD, BAD])[-1][0]
    up = replay([OK])[-1][0]
    assert not down.effective_up() and up.effective_up()
    assert down.effective_up(Override.FORCE_UP)
    assert not up.effective_up(Override.FORCE_DOWN)


def test_a_transition_is_one_structured_log_line(caplog: pytest.LogCaptureFixture) -> None:
    transition = replay([BAD, BAD])[-1][1]
    assert transition is not None
    with caplog.at_level(logging.INFO, logger="gslb.health"):
        log_transition(transition, pool="www", member="192.0.2.1", check="http")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "member health changed"
    names = ("pool", "member", "check", "previous", "state", "reason", "results")
    fields = {k: getattr(record, k) for k in names}
    assert fields == {
        "pool": "www",
        "member": "192.0.2.1",
        "check": "http",
        "previous": "unknown",
        "state": "down",
        "reason": "HTTP 503",
        "results": 2,
    }


@given(
    outcomes=st.lists(st.booleans(), max_size=60),
    rise=st.integers(1, 5),
    fall=st.integers(1, 5),
)
def test_served_state_changes_only_after_rise_or_fall_consecutive_results(
    outcomes: list[bool], rise: int, fall: int
) -> None:
    results = [OK if ok else BAD for ok in outcomes]
    served = True  # a new member is served
    run_ok, run_bad = 0, 0
    for ok, (health, transition) in zip(outcomes, replay(results, rise, fall), strict=True):
        run_ok, run_bad = (run_ok + 1, 0) if ok else (0, run_bad + 1)
        if health.up != served:
            assert (run_ok >= rise) if health.up else (run_bad >= fall)
            assert transition is not None
        served = health.up
        assert (health.successes, health.failures) == (run_ok, run_bad)
        if transition is not None:
            assert transition.current is health.state
            assert transition.previous is not health.state
    # the converse: a long enough run always settles the state
    if outcomes and run_bad >= fall:
        assert not served
    if outcomes and run_ok >= rise:
        assert served


def test_first_checks_spread_over_one_interval() -> None:
    rng = random.Random(1)
    times = [first_check(100.0, 2.0, rng) for _ in range(2000)]
    assert all(100.0 <= t <= 102.0 for t in times)
    assert max(times) - min(times) > 1.9
    assert statistics.mean(times) == pytest.approx(101.0, abs=0.1)


def test_next_check_stays_within_the_jitter_and_spreads() -> None:
    rng = random.Random(7)
    gaps = [next_check(50.0, 2.0, 0.1, rng) - 50.0 for _ in range(2000)]
    assert all(1.8 <= gap <= 2.2 for gap in gaps)
    assert max(gaps) - min(gaps) > 0.35
    assert statistics.mean(gaps) == pytest.approx(2.0, abs=0.02)
    assert next_check(50.0, 2.0, 0.0, rng) == 52.0


def test_the_schedule_is_deterministic_for_a_seeded_rng() -> None:
    def run(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [next_check(float(i), 1.0, 0.2, rng) for i in range(10)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_checks_started_together_drift_apart() -> None:
    rng = random.Random(11)
    clocks = [0.0] * 100
    for _ in range(10):
        clocks = [next_check(t, 2.0, 0.1, rng) for t in clocks]
    # after ten rounds they are spread over about a second, not firing within microseconds
    assert statistics.stdev(clocks) > 0.2
    assert max(clocks) - min(clocks) > 1.0


def test_the_token_bucket_allows_a_burst_then_spaces_starts_at_the_rate() -> None:
    bucket = TokenBucket(rate=100.0, burst=3, now=0.0)
    waits = [bucket.reserve(0.0) for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.01, 0.02, 0.03])
    assert bucket.reserve(1.0) == 0.0  # refilled (up to the burst) after a quiet second


@given(st.lists(st.floats(0, 0.05), min_size=1, max_size=200))
def test_the_token_bucket_never_exceeds_its_rate(gaps: list[float]) -> None:
    rate, burst = 50.0, 5
    bucket = TokenBucket(rate, burst, now=0.0)
    now, starts = 0.0, []
    for gap in gaps:
        now += gap
        starts.append(now + bucket.reserve(now))
    starts.sort()
    # any window of starts holds at most burst + rate x its length
    for i, begin in enumerate(starts):
        for j in range(i, len(starts)):
            assert j - i + 1 <= burst + rate * (starts[j] - begin) + 1e-6


RST = ProbeResult(False, "connect refused", 0.001, refused=True)


def test_a_refused_connection_takes_a_member_down_at_once() -> None:
    """Nothing listens: not a lost packet, so ``fall`` has nothing to absorb."""
    for start in (MemberHealth(), MemberHealth(State.UP, successes=5)):
        health, transition = observe(start, RST, 1.0, rise=2, fall=3)
        assert health.state is State.DOWN and health.failures == 1
        assert transition is not None and (transition.reason, transition.count) == ("connect refused", 1)
    # A timeout or an HTTP error still needs ``fall`` of them in a row.
    assert observe(MemberHealth(State.UP), BAD, 1.0, rise=2, fall=3)[0].state is State.UP


def test_a_target_alternating_between_refusing_and_answering_goes_down_once_and_stays() -> None:
    history = replay([OK, OK] + [RST, OK] * 50)
    assert [t.current for _, t in history if t] == [State.UP, State.DOWN]


def test_settled_means_up_with_rise_successes_and_no_failure_in_the_run() -> None:
    up, _ = observe(MemberHealth(), OK, 1.0)
    assert up.state is State.UP and not up.settled(rise=2)  # the first success: up, not yet settled
    up, _ = observe(up, OK, 2.0)
    assert up.settled(rise=2)
    wobbly, _ = observe(up, BAD, 3.0)
    assert wobbly.state is State.UP and not wobbly.settled(rise=2)  # in its fall window
    assert not MemberHealth(State.DOWN, successes=5).settled(rise=2)
