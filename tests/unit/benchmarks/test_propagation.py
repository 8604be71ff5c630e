"""bench/propagation.py: the parts that need no server (the TTL each write sets, the report line)."""

from __future__ import annotations

from bench.propagation import Propagation, next_ttl


def test_every_write_sets_a_new_ttl_within_the_default_bounds() -> None:
    ttl, seen = 30, []
    for _ in range(450):
        following = next_ttl(ttl)
        assert following != ttl and 1 <= following <= 300
        seen.append(following)
        ttl = following
    assert min(seen) == 31 and max(seen) == 230


def test_the_report_line_gives_median_and_maximum() -> None:
    result = Propagation("postgresql", [float(ms) for ms in range(1, 11)], [1.0, 3.0], 0.4)
    assert result.p50 == 5.5 and result.maximum == 10.0
    line = result.line()
    assert "writes 10: p50 5.5 ms" in line and "max 10.0 ms" in line and "0.40 queries/s" in line
    assert "the API's answer itself: p50 2.0 ms" in line
    assert "idle" not in Propagation("sqlite", [1.0, 2.0], [1.0]).line()
