"""/metrics, /healthz and /readyz of a real ``gslb serve``: queries over real sockets counted exactly,
counts that survive snapshot swaps, health metrics of real checks, readiness through a real store outage."""

from __future__ import annotations

import collections
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gslb.model import Member, Pool
from gslb.store import Store
from tests.integration.apiclient import ApiClient
from tests.integration.checked_pools import CHECKED, TcpTarget, checked_zones
from tests.integration.conftest import ApiTokens
from tests.integration.dnsclient import ask
from tests.integration.server import GslbProcess, free_port

POSTGRES_URL = os.environ.get("GSLB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WWW = "www.gslb.example.test."

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: GslbProcess) -> Samples:
    reply = ApiClient(server.api_url).get("/metrics")  # open: no token
    assert reply.status == 200, reply.body
    assert reply.headers.get_content_type() == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.body.decode())
        for sample in family.samples
    }


def series(samples: Samples, name: str) -> dict[tuple[str, ...], float]:
    """One metric's samples by their label values, in label-name order."""
    return {
        tuple(value for _, value in sorted(labels)): value
        for (sample, labels), value in samples.items()
        if sample == name
    }


def grown(before: Samples, after: Samples, name: str) -> dict[tuple[str, ...], float]:
    """The series of ``name`` that changed between two scrapes, and by how much."""
    old, new = series(before, name), series(after, name)
    return {
        labels: value - old.get(labels, 0) for labels, value in new.items() if value != old.get(labels, 0)
    }


def handed_out(response: dns.message.Message) -> list[str]:
    return [r.address for rrset in response.answer if rrset.name == dns.name.from_text(WWW) for r in rrset]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_queries_and_answers_are_counted_exactly_by_label(api_server: GslbProcess) -> None:
    """rcode, qtype and pool of every query over UDP and TCP; each address handed out, per member."""
    host, port = api_server.host, api_server.port
    before = scrape(api_server)
    responses = [ask(host, port, WWW) for _ in range(20)]
    responses += [ask(host, port, WWW, edns=0) for _ in range(10)]
    responses += [ask(host, port, WWW, "AAAA", tcp=True) for _ in range(5)]
    for index in range(7):
        assert ask(host, port, f"nope{index}.gslb.example.test.").rcode() == dns.rcode.NXDOMAIN
    for index in range(2):
        assert ask(host, port, f"tcp{index}.gslb.example.test.", tcp=True).rcode() == dns.rcode.NXDOMAIN
    for _ in range(3):
        assert ask(host, port, WWW, "MX", edns=0).answer == []  # NODATA: NOERROR, pool ""
    for index in range(4):
        assert ask(host, port, f"www{index}.example.org.").rcode() == dns.rcode.REFUSED
    for _ in range(2):
        assert ask(host, port, "gslb.example.test.", "SOA", tcp=True).rcode() == dns.rcode.NOERROR
    after = scrape(api_server)
    assert grown(before, after, "gslb_dns_queries_total") == {
        ("www", "A", "NOERROR"): 30,
        ("www", "AAAA", "NOERROR"): 5,
        ("", "A", "NXDOMAIN"): 9,
        ("", "MX", "NOERROR"): 3,
        ("", "A", "REFUSED"): 4,
        ("", "SOA", "NOERROR"): 2,
    }
    addresses = collections.Counter(address for response in responses for address in handed_out(response))
    assert sum(addresses.values()) == 30 * 2 + 5  # two of three IPv4 members per answer, one IPv6
    assert grown(before, after, "gslb_dns_answers_total") == {
        (address, "www"): count for address, count in addresses.items()
    }


def test_counts_survive_snapshot_swaps(api_server: GslbProcess) -> None:
    """A delta update (a member removed) and a full rebuild (a pool added) written to the store by
    another process between queries: nothing counted before either swap is lost or re-labelled."""
    host, port = api_server.host, api_server.port
    before = scrape(api_server)
    handed = collections.Counter(a for _ in range(12) for a in handed_out(ask(host, port, WWW)))
    assert handed["203.0.113.10"] > 0
    with Store.open(f"sqlite:///{api_server.rundir / 'gslb.sqlite'}") as store:
        removed = store.delete_member("www", "203.0.113.10", actor="test").revision
        wait_for(lambda: series(scrape(api_server), "gslb_snapshot_revision") == {("main",): removed})
        handed.update(a for _ in range(12) for a in handed_out(ask(host, port, WWW)))
        extra = Pool("extra", ("extra.gslb.example.test.",), members=(Member("eu1", "192.0.2.99"),))
        added = store.put_pool(extra, actor="test").revision
        wait_for(lambda: series(scrape(api_server), "gslb_snapshot_revision") == {("main",): added})
    handed.update(a for _ in range(5) for a in handed_out(ask(host, port, WWW)))
    for _ in range(3):
        assert [r.address for r in ask(host, port, "extra.gslb.example.test.").answer[0]] == ["192.0.2.99"]
    after = scrape(api_server)
    assert grown(before, after, "gslb_dns_queries_total") == {
        ("www", "A", "NOERROR"): 29,
        ("extra", "A", "NOERROR"): 3,
    }
    assert grown(before, after, "gslb_dns_answers_total") == {
        **{(address, "www"): count for address, count in handed.items()},
        ("192.0.2.99", "extra"): 3,
    }
    rebuilds = series(after, "gslb_snapshot_rebuild_duration_seconds_count")
    assert rebuilds[("delta",)] >= 1 and rebuilds[("full",)] >= 2  # the first build, and the new pool
    assert series(after, "gslb_store_revision") == {(): added}


def test_health_metrics_show_real_checks(tmp_path: Path, api_tokens: ApiTokens) -> None:
    """One member's TCP target accepts, the other's is closed: states, up, check latencies."""
    port = free_port()
    up, down = CHECKED
    with (
        TcpTarget(up, port),
        GslbProcess(checked_zones(tmp_path, port), environ=api_tokens.environ()) as server,
    ):

        def settled() -> bool:
            samples = scrape(server)
            # A refusal takes a member down at once, maybe before the other's first check: wait for both.
            return (
                series(samples, "gslb_member_up").get((down, "checked")) == 0
                and series(samples, "gslb_member_health").get((up, "checked", "up")) == 1
                and bool(series(samples, "gslb_check_latency_seconds_count").get(("tcp", "checked")))
            )

        wait_for(settled)
        samples = scrape(server)
    states = {labels: value for labels, value in series(samples, "gslb_member_health").items() if value}
    assert {labels for labels in states if labels[1] == "checked"} == {
        (up, "checked", "up"),
        (down, "checked", "down"),
    }
    assert series(samples, "gslb_member_up")[(up, "checked")] == 1
    buckets = series(samples, "gslb_check_latency_seconds_bucket")
    count = series(samples, "gslb_check_latency_seconds_count")[("tcp", "checked")]
    assert buckets[("tcp", "+Inf", "checked")] == count >= 2  # both members probed at least once
    assert all(pool in ("checked", "fed") for _, pool in series(samples, "gslb_member_up"))  # plain: no check


def test_healthz_is_open_and_alive(api_server: GslbProcess) -> None:
    reply = ApiClient(api_server.api_url).get("/healthz")
    assert (reply.status, reply.json()) == (200, {"status": "alive"})


@pytest.fixture
def postgres_database() -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A database of its own on the test PostgreSQL server, and a switch that makes it refuse and
    drop every connection (False) or accept them again (True): the store going away for real."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"gslb_readyz_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is unreachable at {POSTGRES_URL}: {exc.orig}")
        pytest.skip(f"PostgreSQL is unreachable at {POSTGRES_URL}: {exc.orig}")

    def accept(allowed: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
            if not allowed:
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": name},
                )

    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False), accept
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_readyz_follows_a_real_store_outage(
    all_zones: Path, api_tokens: ApiTokens, postgres_database: tuple[str, Callable[[bool], None]]
) -> None:
    url, accept = postgres_database
    client = None
    with GslbProcess(all_zones, ["--db", url], environ=api_tokens.environ()) as server:
        client = ApiClient(server.api_url)
        ready = client.get("/readyz")
        assert ready.status == 200, ready.body
        assert ready.json()["status"] == "ready"
        assert {name for name, check in ready.json()["checks"].items() if check["ok"]} == {
            "zones", "listeners", "store", "snapshot",
        }  # fmt: skip
        accept(False)
        wait_for(lambda: client.get("/readyz").status == 503)
        problem = client.get("/readyz").problem(503, None)
        assert "store" in problem["failed"] and problem["checks"]["store"]["ok"] is False
        assert problem["type"].endswith("/not-ready") and "store:" in problem["detail"]
        assert client.get("/healthz").status == 200  # alive: restarting it would not help
        assert ask(server.host, server.port, WWW).rcode() == dns.rcode.NOERROR  # the last snapshot answers
        assert series(scrape(server), "gslb_store_up") == {(): 0}
        accept(True)
        wait_for(lambda: client.get("/readyz").status == 200)
        assert series(scrape(server), "gslb_store_up") == {(): 1}
