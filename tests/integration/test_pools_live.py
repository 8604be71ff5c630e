"""Pools through the real server: weighted shares seen by ``dig``, sticky answers per client network
with the ECS scope echoed, and priority tiers failing over when the store changes.

One server serves the pools of tests/data/pools/live.toml from a SQLite store that the tests open
too, so they change members the way the admin API and health checks do: by writing to the store,
never by restarting or signalling the server. The follower polls the store revision, so every
committed write must show in the answers within ``VISIBLE_WITHIN``.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import socket
import statistics
import subprocess
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from gslb.model import AdminState
from gslb.node.follower import DEFAULT_INTERVAL
from gslb.store import Store, open_store
from tests.conftest import EXAMPLE_ZONES, ROOT
from tests.integration.dnsclient import ask
from tests.integration.server import GslbProcess
from tests.integration.stores import patch_member

POOL_DATA = ROOT / "tests" / "data" / "pools"
LIVE_POOLS = POOL_DATA / "live.toml"
ZONE_FILE = "gslb.example.test.zone"
WEIGHTED = "weighted.gslb.example.test"
STICKY = "sticky.gslb.example.test"
TIERS = "tiers.gslb.example.test"
ACTOR = "test_pools_live"

QUERIES = 3000  # a whole number of the weighted pool's 10-answer cycles
SHARE_TOLERANCE = 0.01  # ±1 percentage point
VISIBLE_WITHIN = 0.100  # seconds from a committed write to the answers showing it
POLL_INTERVAL = 0.002
POLL_TIMEOUT = 2.0  # a change not visible by then will not be: fail rather than wait longer
TIER_CYCLES = 5  # each: four writes, four latency figures
ECS_SCOPE_V4 = 24  # the server's default client_prefix_v4
ECS_SCOPE_V6 = 56  # and client_prefix_v6


# --- a server with its store, shared with test_apply.py ----------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """A running server and the store it follows, opened in this process as an operator's tool would."""

    zones: Path
    url: str
    server: GslbProcess
    store: Store


def zone_directory(declarations: Path, directory: Path) -> Path:
    """The example zone with ``declarations`` as its pools.toml, in a directory the test may edit."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_ZONES / ZONE_FILE, directory / ZONE_FILE)
    shutil.copy(declarations, directory / "pools.toml")
    return directory


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'gslb.sqlite'}"


@contextmanager
def deployment(declarations: Path, directory: Path) -> Iterator[Deployment]:
    """A server on a fresh store (so its first start applies ``declarations``), stopped on leaving."""
    zones = zone_directory(declarations, directory / "zones")
    url = sqlite_url(directory)
    with GslbProcess(zones, extra_args=["--db", url]) as server, open_store(url) as store:
        yield Deployment(zones, url, server, store)


# --- asking and waiting --------------------------------------------------------------------------------


def addresses(server: GslbProcess, qname: str, rdtype: str = "A") -> set[str]:
    """The addresses of one answer (a set: the policy decides their order, the tests do not care)."""
    response = ask(server.host, server.port, qname, rdtype)
    return {rdata.to_text() for rrset in response.answer for rdata in rrset}


def serving(server: GslbProcess, qname: str, expected: set[str], rdtype: str = "A") -> Callable[[], bool]:
    """A condition for ``seconds_until``: the next answer for ``qname`` is exactly ``expected``."""
    return lambda: addresses(server, qname, rdtype) == expected


def seconds_until(condition: Callable[[], bool], since: float, timeout: float = POLL_TIMEOUT) -> float:
    """Seconds from ``since`` (a ``perf_counter`` reading) until ``condition`` first holds.

    Polls every ~2 ms, so the figure is at most one query and one interval late; bounded in time and
    in polls, so a change that never shows fails the test instead of hanging it.
    """
    deadline = since + timeout
    for _ in range(int(timeout / POLL_INTERVAL) + 1):
        if condition():
            return time.perf_counter() - since
        if time.perf_counter() > deadline:
            break
        time.sleep(POLL_INTERVAL)
    raise AssertionError(f"the change was not visible within {timeout:g} s")


def off_phase_pause(rng: random.Random) -> None:
    """Sleep a random part of the follower's interval before a write.

    Without it each write would land at the same point of the follower's polling cycle (just after
    the previous change showed), and the figures would measure that one phase instead of the range.
    """
    time.sleep(rng.uniform(0, DEFAULT_INTERVAL))


def latency_report(label: str, seconds: Sequence[float], server: GslbProcess) -> str:
    """min/median/max, then what a failure needs: every figure and the server's slowest rebuilds."""
    millis = sorted(s * 1000 for s in seconds)
    builds = sorted(float(ms) for ms in re.findall(r"snapshot published.* build_ms=([0-9.]+)", server.log))
    return (
        f"{label}: min {millis[0]:.1f} ms, median {statistics.median(millis):.1f} ms, "
        f"max {millis[-1]:.1f} ms over {len(millis)} changes\n"
        f"  every figure (ms): {', '.join(f'{m:.0f}' for m in millis)}\n"
        f"  slowest snapshot builds in the server log (ms): {builds[-3:]}"
    )


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One server for the module; tests that change the store put it back before they end."""
    with deployment(LIVE_POOLS, tmp_path_factory.mktemp("live")) as running:
        yield running


def declared_members(pool: str) -> list[dict[str, Any]]:
    """The members of ``pool`` as live.toml declares them: the expectations come from the data."""
    members: list[dict[str, Any]] = tomllib.loads(LIVE_POOLS.read_text())["pools"][pool]["members"]
    return members


# --- weighted: the shares are the weights ---------------------------------------------------------------


def declared_weights() -> dict[str, int]:
    return {m["address"]: int(m["weight"]) for m in declared_members("weighted")}


def weight_shares() -> dict[str, float]:
    weights = declared_weights()
    return {address: weight / sum(weights.values()) for address, weight in weights.items()}


def shares_report(answers: Sequence[str], expected: dict[str, float]) -> tuple[dict[str, float], str]:
    counts = Counter(answers)
    shares = {address: counts[address] / len(answers) for address in expected}
    text = ", ".join(
        f"{address} {shares[address]:.2%} (weight share {expected[address]:.0%}, {counts[address]} answers)"
        for address in expected
    )
    return shares, f"{len(answers)} queries: {text}"


def test_dig_shows_the_weights_over_thousands_of_queries(dig: str, live: Deployment, tmp_path: Path) -> None:
    """Real ``dig`` in batch mode (one process sends every query in turn): a single client, so no
    other query takes a turn of the cycle."""
    expected = weight_shares()
    batch = tmp_path / "queries.txt"
    batch.write_text(f"{WEIGHTED} A\n" * QUERIES)
    result = subprocess.run(
        [dig, "-f", str(batch), f"@{live.server.host}", "-p", str(live.server.port), "+short"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answers = result.stdout.split()
    assert result.returncode == 0, result.stderr
    assert len(answers) == QUERIES and set(answers) <= set(expected), result.stdout[-500:]
    shares, report = shares_report(answers, expected)
    print(f"\ndig {report}")
    for address, share in expected.items():
        assert abs(shares[address] - share) <= SHARE_TOLERANCE, report


def test_every_cycle_of_answers_holds_the_weights_exactly(live: Deployment) -> None:
    """Smooth weighted round robin is deterministic: any 10 consecutive answers are one whole cycle."""
    expected = weight_shares()
    weights = declared_weights()
    cycle = sum(weights.values()) // math.gcd(*weights.values())  # 10 for 100/300/600
    answers: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(QUERIES):
            query = dns.message.make_query(WEIGHTED, "A")
            response = dns.query.udp(query, live.server.host, port=live.server.port, timeout=2, sock=sock)
            answers.extend(rdata.to_text() for rrset in response.answer for rdata in rrset)
    assert len(answers) == QUERIES
    shares, report = shares_report(answers, expected)
    print(f"\ndnspython {report}")
    for address, share in expected.items():
        assert abs(shares[address] - share) <= SHARE_TOLERANCE, report
    want = Counter({address: weight * cycle // sum(weights.values()) for address, weight in weights.items()})
    uneven = [i for i in range(QUERIES - cycle + 1) if Counter(answers[i : i + cycle]) != want]
    assert not uneven, f"windows of {cycle} answers not holding {dict(want)}, from answer {uneven[0]}"


# --- source_hash: one answer per client network ---------------------------------------------------------


def sticky_answer(
    live: Deployment, ecs: dns.edns.ECSOption | None = None, source: str | None = None, edns: bool = False
) -> tuple[str, int | None]:
    """The one address of a sticky answer and the ECS scope echoed with it (None: no ECS option)."""
    response = ask(
        live.server.host,
        live.server.port,
        STICKY,
        edns=0 if ecs is not None or edns else False,
        options=[ecs] if ecs is not None else None,
        source=source,
    )
    assert response.rcode() == dns.rcode.NOERROR
    answer = [rdata.to_text() for rrset in response.answer for rdata in rrset]
    assert len(answer) == 1, answer
    scopes = [option.scopelen for option in response.options if isinstance(option, dns.edns.ECSOption)]
    return answer[0], scopes[0] if scopes else None


def test_source_hash_is_sticky_per_client_subnet_and_echoes_the_ecs_scope(live: Deployment) -> None:
    """A resolver caches a sticky answer for the scope we echo, so the answer must be the same for
    every client in that scope, and the scope must be the network the answer was keyed on."""
    members = {m["address"] for m in declared_members("sticky")}
    by_subnet: dict[str, str] = {}
    for i in range(32):
        subnet = f"10.{i}.{i * 7}.0"
        # The /24 and two hosts inside it (truncated to /24 by the server): one key, one answer.
        asked = [
            sticky_answer(live, dns.edns.ECSOption(subnet, 24)),
            sticky_answer(live, dns.edns.ECSOption(subnet, 24)),
            sticky_answer(live, dns.edns.ECSOption(f"10.{i}.{i * 7}.5", 32)),
            sticky_answer(live, dns.edns.ECSOption(f"10.{i}.{i * 7}.200", 32)),
        ]
        assert {answer for answer, _ in asked} <= members
        assert len({answer for answer, _ in asked}) == 1, (subnet, asked)
        assert {scope for _, scope in asked} == {ECS_SCOPE_V4}, (subnet, asked)
        by_subnet[subnet] = asked[0][0]
    print(f"\nsource_hash over {len(by_subnet)} /24s: {dict(Counter(by_subnet.values()))}")
    assert set(by_subnet.values()) == members, "every member leads some client networks"

    # A resolver that sends less than /24 gets an answer for what it sent, and that scope.
    assert sticky_answer(live, dns.edns.ECSOption("10.0.0.0", 16))[1] == 16
    assert sticky_answer(live, dns.edns.ECSOption("2001:db8:1:2::", 64))[1] == ECS_SCOPE_V6

    # Without ECS the source address's /24 is the key: all of 127.0.0.0/24 gets the answer ECS
    # 127.0.0.0/24 gets, with EDNS or without, and no ECS option comes back.
    loopback = sticky_answer(live, dns.edns.ECSOption("127.0.0.0", 24))[0]
    plain = {sticky_answer(live) for _ in range(5)}
    plain |= {sticky_answer(live, edns=True) for _ in range(5)}
    plain |= {sticky_answer(live, source="127.0.0.2") for _ in range(5)}
    assert plain == {(loopback, None)}


# --- priority tiers: the next tier answers when the first is disabled -----------------------------------


def test_priority_tiers_fail_over_within_100_ms_of_a_store_write(live: Deployment) -> None:
    """Disabling every priority-0 member through the store moves the answers to priority 1, and back.

    Members are disabled one at a time, each write waited for, the way an operator or a health
    check takes them out; every figure is from one committed write to the first answer showing it.
    """
    members = declared_members("tiers")
    first = sorted(m["address"] for m in members if m["priority"] == 0)
    second = {m["address"] for m in members if m["priority"] == 1}
    server, store = live.server, live.store
    rng = random.Random(1)
    latencies: list[float] = []

    def write(address: str, state: AdminState, expected: set[str]) -> None:
        off_phase_pause(rng)
        patch_member(store, "tiers", address, ACTOR, state=state)
        committed = time.perf_counter()
        latencies.append(seconds_until(serving(server, TIERS, expected), committed))

    assert len(first) == 2 and addresses(server, TIERS) == set(first)
    try:
        for _ in range(TIER_CYCLES):
            write(first[0], AdminState.DISABLED, {first[1]})  # one member left: still tier 0
            write(first[1], AdminState.DISABLED, second)  # none left: tier 1 answers
            write(first[0], AdminState.ENABLED, {first[0]})  # one back: tier 0 again
            write(first[1], AdminState.ENABLED, set(first))
    finally:
        for address in first:  # a no-op write (no new revision) when the test got to the end
            patch_member(store, "tiers", address, ACTOR, state=AdminState.ENABLED)
    report = latency_report("store write -> answers", latencies, server)
    print(f"\n{report}")
    assert max(latencies) < VISIBLE_WITHIN, report
