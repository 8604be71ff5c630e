"""bench/write_stalls.py: the summary of one run's latencies (no server, no socket)."""

from __future__ import annotations

import pytest

from bench.write_stalls import SLOW, Stalls


def test_percentiles_worst_and_slow_answers() -> None:
    latencies = [0.0001 * (n + 1) for n in range(1000)]  # 0.1 ms ... 100 ms, in steps of 0.1 ms
    stalls = Stalls.of(list(reversed(latencies)))
    assert stalls.queries == 1000
    assert stalls.p50 == pytest.approx(0.0501)
    assert stalls.p99 == pytest.approx(0.0991)
    assert stalls.p999 == pytest.approx(0.1)
    assert stalls.worst == pytest.approx(0.1)
    assert stalls.slow == sum(1 for x in latencies if x > SLOW) == 980


def test_a_run_without_answers_is_an_error() -> None:
    with pytest.raises(ValueError):
        Stalls.of([])
