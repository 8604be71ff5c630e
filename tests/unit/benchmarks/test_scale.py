"""bench/scale.py's query streams, rounds and report: the parts of the benchmark that need no server."""

from __future__ import annotations

import random

import pytest

from bench import scale


def test_a_pool_stream_asks_exactly_the_distinct_names_it_was_given() -> None:
    lines = scale.pool_queries(random.Random(1), pools=100_000, distinct=100)
    assert len(lines) == scale.STREAM
    assert len(set(lines)) == 100
    assert all(line.endswith(f".{scale.ZONE}. A") and line.startswith("p") for line in lines)


def test_a_stream_never_asks_for_more_names_than_exist() -> None:
    assert len(set(scale.pool_queries(random.Random(2), pools=100, distinct=scale.WIDE_NAMES))) == 100


def test_a_static_stream_asks_each_name_for_the_type_the_zone_gave_it() -> None:
    lines = scale.static_queries(random.Random(3), records=1_000, distinct=300)
    assert len({line.split()[0] for line in lines}) == 300
    for line in lines:
        name, qtype = line.split()
        index = int(name.split(".")[0][1:])
        assert qtype == ("A" if index % 10 < 7 else "AAAA" if index % 10 < 9 else "TXT")


def result(pools: int, qps: float, wide: float | None, static: dict[str, float]) -> scale.Result:
    return scale.Result(
        pools, pools * 10, 1.0, 20.0, 1200.0, 1200.0, qps, [30.0, 40.0], 5.0, 1350.0, 100, wide, static
    )


def test_the_report_judges_equal_streams_and_shows_the_wide_hot_set_beside_knots() -> None:
    small = result(100, 180_000.0, None, {})
    static = {
        "gslb narrow": 185_000.0,
        "gslb wide": 150_000.0,
        "knot narrow": 180_000.0,
        "knot wide": 171_000.0,
    }
    large = result(100_000, 176_000.0, 146_000.0, static)
    text = scale.report(small, large)
    assert "PASS  QPS unchanged (within 5 %): 0.98 of the small store's" in text
    assert "gslb, 10,000 pool names: 146,000 (0.83 of 100 names)" in text
    assert "gslb, static names: 100 names 185,000, 10,000 names 150,000 (0.81)" in text
    assert "knot, static names: 100 names 180,000, 10,000 names 171,000 (0.95)" in text
    assert "FAIL" not in text


def test_a_loss_on_equal_streams_fails() -> None:
    small = result(100, 180_000.0, None, {})
    assert "FAIL  QPS unchanged" in scale.report(small, result(100_000, 160_000.0, None, {}))


def test_rounds_interleave_the_servers_and_each_figure_is_its_median(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, str]] = []
    figures = iter([100.0, 10.0, 300.0, 30.0, 200.0, 20.0])

    def dnsperf_qps(dnsperf: str, taskset: str, port: int, lines: list[str], seconds: float) -> float:
        asked.append((port, lines[0]))
        return next(figures)

    monkeypatch.setattr(scale, "dnsperf_qps", dnsperf_qps)
    streams = {"small": (53001, ["a. A"]), "large": (53002, ["b. A"])}
    qps = scale.median_rounds({"dnsperf": "dnsperf", "taskset": "taskset"}, streams, 1.0, rounds=3)
    assert asked == [(53001, "a. A"), (53002, "b. A")] * 3  # A B A B A B, never A A A B B B
    assert qps == {"small": 200.0, "large": 20.0}
