"""Whether a member is up: a rise/fall state machine per member, fed by probe results.

Pure and clock-injected: ``observe`` takes the time instead of reading it, so transitions, their
times and reasons are unit-tested without sleeping, and results from any source (active probes
now, results pushed through the API later) go through the same rules.

Hysteresis: a member goes DOWN only after ``fall`` consecutive failures and comes back UP only
after ``rise`` consecutive successes, so a target that alternates success and failure keeps its
state instead of flapping in and out of answers (with rise = fall = 2 it never changes).

A refused connection is the exception on the way down: the member's host answered, at once, that
nothing listens on the port (a stopped service, a VIP whose real servers are all gone). That is
not the lost packet or slow answer ``fall`` is there to absorb, so one refusal takes the member
DOWN; gslb/snapshot/ttl.py counts on it to keep the stale-cache window short. The way back still takes
``rise`` successes, so a target alternating between refusing and answering goes down once and
stays down instead of flapping.

Start-up: a member starts UNKNOWN, and UNKNOWN *counts as up*. The first success makes it UP at
once (it was served already, so ``rise`` has nothing to protect), and ``fall`` consecutive
failures make it DOWN, exactly as for a member that was UP. So a restarted server (or a newly
added member) keeps answering with everything until the checks have had their say, withdraws a
dead member after the same ``fall`` results a running server would need, and one lost probe
right after start withdraws nothing. Withdrawing on the first failure instead would turn any
start-up glitch into an outage; waiting for ``rise`` successes would withdraw everything for
``rise`` intervals on every restart.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from enum import StrEnum

# The defaults are the model's (one definition), re-exported for the state machine's callers.
from gslb.model import DEFAULT_FALL, DEFAULT_RISE, HealthOverride

log = logging.getLogger("gslb.health")


class State(StrEnum):
    UNKNOWN = "unknown"  # no verdict yet: counts as up (see the module docstring)
    UP = "up"
    DOWN = "down"


# One type for the override the store keeps and the one the state machine applies.
Override = HealthOverride


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One check's outcome, from a probe or pushed by an outside monitor.

    ``reason`` is short and precise ("HTTP 503", "connect refused", "timeout after 1.0 s"): it is
    what the transition log line and the API show an operator.
    """

    ok: bool
    reason: str
    latency: float = 0.0  # seconds; 0 when unknown (pushed results)
    # The target's host answered that nothing listens (TCP RST): not a lost packet or a slow
    # server but a definite "no", so it takes the member down at once (``observe``).
    refused: bool = False


@dataclass(frozen=True, slots=True)
class MemberHealth:
    """One member's health: its state, the current run of results, and the last transition."""

    state: State = State.UNKNOWN
    successes: int = 0  # consecutive, up to the latest result
    failures: int = 0  # consecutive, up to the latest result
    since: float | None = None  # time of the last transition; None: never changed
    reason: str = "not checked yet"  # the result that caused the last transition
    last: ProbeResult | None = None  # the latest result, whether or not it changed anything
    checked: float | None = None  # time of the latest result; None: none yet

    @property
    def up(self) -> bool:
        """Whether the checks let the member answer: UNKNOWN counts as up."""
        return self.state is not State.DOWN

    def settled(self, rise: int) -> bool:
        """Up on the checks' word, with nothing in the current run that could change it soon: no
        failure, and ``rise`` successes (a member just checked for the first time is not yet)."""
        return self.state is State.UP and self.failures == 0 and self.successes >= rise

    def effective_up(self, override: Override | None = None) -> bool:
        """The checks' verdict with an operator's override layered on top."""
        if override is Override.FORCE_UP:
            return True
        if override is Override.FORCE_DOWN:
            return False
        return self.up


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change, for the log line and (later) the store."""

    previous: State
    current: State
    at: float
    reason: str
    count: int  # the consecutive results that caused it


def observe(
    health: MemberHealth, result: ProbeResult, now: float, rise: int = DEFAULT_RISE, fall: int = DEFAULT_FALL
) -> tuple[MemberHealth, Transition | None]:
    """The member's health after one more result, and the transition it caused, if any."""
    if result.ok:
        successes, failures = health.successes + 1, 0
    else:
        successes, failures = 0, health.failures + 1
    state = health.state
    if result.ok and (state is State.UNKNOWN or (state is State.DOWN and successes >= rise)):
        target, count = State.UP, successes
    elif not result.ok and state is not State.DOWN and (failures >= fall or result.refused):
        target, count = State.DOWN, failures
    else:
        return replace(health, successes=successes, failures=failures, last=result, checked=now), None
    transition = Transition(state, target, now, result.reason, count)
    return MemberHealth(target, successes, failures, now, result.reason, result, now), transition


def log_transition(transition: Transition, **labels: str) -> None:
    """One structured line per transition; ``labels`` name the member (pool, member, check).

    Going DOWN is a warning (answers change, someone may want to know); anything else is info.
    """
    level = logging.WARNING if transition.current is State.DOWN else logging.INFO
    log.log(
        level,
        "member health changed",
        extra={
            **labels,
            "previous": str(transition.previous),
            "state": str(transition.current),
            "reason": transition.reason,
            "results": transition.count,
        },
    )


def first_check(now: float, interval: float, rng: random.Random) -> float:
    """When a newly scheduled check first fires: spread over one interval, so thousands of
    members loaded at once do not all fire at start-up (UNKNOWN counts as up meanwhile)."""
    return now + rng.uniform(0, interval)


def next_check(started: float, interval: float, jitter: float, rng: random.Random) -> float:
    """When the next check fires, counted from when the previous one started (not finished), so
    slow targets do not stretch the interval; within interval x (1 +- jitter)."""
    return started + interval * (1 + rng.uniform(-jitter, jitter))


class TokenBucket:
    """A per-process cap on probe starts: ``rate`` per second, bursts of up to ``burst``.

    Sub-second intervals over thousands of members would otherwise open sockets faster than
    the loop (and the targets) can take; past the cap, checks are delayed, never dropped.
    Clock-injected like the rest of this module; one bucket serves one event loop.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"invalid rate cap: rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def reserve(self, now: float) -> float:
        """Take one token and return how long to wait before using it (0: go now).

        Tokens may go negative: each caller reserves its own slot in the queue, so waits are
        spaced 1 / rate apart and a caller that waits its turn never has to ask again.
        """
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
