"""/metrics and /readyz of a real ``gslb serve --workers 2``: the supervisor, which answers no DNS, shows
its workers' counts summed (each worker asked over its control channel at every scrape), exactly the
queries sent over UDP and TCP; they never go backwards when a worker is killed and restarted; and
/readyz says not ready while a worker does not listen.

Which worker answers a client is the kernel's choice (SO_REUSEPORT), so queries go out from many
source ports at once, and one round is sent with a worker stopped (SIGSTOP): the answers that arrive
meanwhile come from the other one, so both are known to have counted some of the queries.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import pytest

from tests.conftest import EXAMPLE_ZONES
from tests.integration.apiclient import ApiClient
from tests.integration.dnsclient import ask
from tests.integration.server import GslbProcess
from tests.integration.test_api_observe import Samples, grown, scrape, series
from tests.integration.test_workers import CLIENTS, clients, log_lines, receive, workers
from tests.integration.waiting import wait_for

WWW = "www.gslb.example.test."
COUNTERS = (
    "gslb_dns_queries_total",
    "gslb_dns_answers_total",
    "gslb_snapshot_rebuild_duration_seconds_count",
    "gslb_snapshot_rebuild_duration_seconds_bucket",
    "gslb_snapshot_rebuild_duration_seconds_sum",
)


@pytest.fixture(scope="module")
def node() -> Iterator[GslbProcess]:
    with GslbProcess(EXAMPLE_ZONES, extra_args=["--workers", "2"]) as server:
        assert wait_for(lambda: "workers ready" in server.log), server.log
        yield server


@dataclass
class Sent:
    """What the tests asked and were answered, as the metrics label it."""

    queries: collections.Counter[tuple[str, str, str]] = field(
        default_factory=collections.Counter
    )  # pool, qtype, rcode
    answers: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)  # member, pool

    def record(self, response: dns.message.Message, qtype: str, pool: str = "") -> None:
        self.queries[pool, qtype, dns.rcode.to_text(response.rcode())] += 1
        if pool:
            owner = dns.name.from_text(WWW)
            self.answers.update(
                (r.to_text(), pool) for rrset in response.answer if rrset.name == owner for r in rrset
            )


def from_many_ports(
    server: GslbProcess, sent: Sent, qname: str, qtype: str, pool: str = "", stopped: int | None = None
) -> int:
    """Ask from CLIENTS source ports at once; every query must be answered. With ``stopped`` (a worker's
    PID), that worker is stopped while the queries go out: the number answered meanwhile is returned."""
    with clients() as socks:
        queries: dict[socket.socket, dns.message.Message] = {
            s: dns.message.make_query(qname, qtype) for s in socks
        }
        if stopped is not None:
            os.kill(stopped, signal.SIGSTOP)
            assert wait_for(
                lambda: Path(f"/proc/{stopped}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
            )
        try:
            for sock, query in queries.items():
                sock.sendto(query.to_wire(), (server.host, server.port))
            meanwhile = receive(queries, timeout=0.3 if stopped is not None else 3.0)
        finally:
            if stopped is not None:
                os.kill(stopped, signal.SIGCONT)
        later = receive({s: q for s, q in queries.items() if s not in meanwhile}, timeout=3.0)
    responses = [*meanwhile.values(), *later.values()]
    assert len(responses) == CLIENTS, f"{CLIENTS - len(responses)} queries for {qname} {qtype} unanswered"
    for response in responses:
        sent.record(response, qtype, pool)
    return len(meanwhile)


def traffic(server: GslbProcess, sent: Sent, both: int) -> None:
    """Pool answers, NXDOMAIN, NODATA and REFUSED over UDP from many ports, pool and static answers over
    TCP (a new connection each, so from a new port each); one round with worker PID ``both`` stopped."""
    meanwhile = from_many_ports(server, sent, WWW, "A", "www", stopped=both)
    assert 0 < meanwhile < CLIENTS, f"one worker answered all {CLIENTS} clients"
    from_many_ports(server, sent, WWW, "A", "www")
    from_many_ports(server, sent, WWW, "AAAA", "www")
    from_many_ports(server, sent, "nope.gslb.example.test.", "A")
    from_many_ports(server, sent, WWW, "MX")  # NODATA at a pool's name: no pool answered
    from_many_ports(server, sent, "www.example.org.", "A")  # REFUSED: not our zone
    for _ in range(12):
        sent.record(ask(server.host, server.port, WWW, "A", tcp=True), "A", "www")
    for _ in range(5):
        sent.record(ask(server.host, server.port, "gslb.example.test.", "SOA", tcp=True), "SOA")


def counted(before: Samples, after: Samples) -> Sent:
    """What the scrapes say was answered between them, in the labels ``Sent`` records."""
    queries = grown(before, after, "gslb_dns_queries_total")
    answers = grown(before, after, "gslb_dns_answers_total")
    return Sent(
        collections.Counter({(pool, qtype, rcode): int(n) for (pool, qtype, rcode), n in queries.items()}),
        collections.Counter({(member, pool): int(n) for (member, pool), n in answers.items()}),
    )


def never_backwards(earlier: Samples, later: Samples) -> None:
    for name in COUNTERS:
        old, new = series(earlier, name), series(later, name)
        assert set(old) <= set(new), (name, set(old) - set(new))
        shrunk = {labels: (value, new[labels]) for labels, value in old.items() if new[labels] < value}
        assert not shrunk, (name, shrunk)


def readyz(server: GslbProcess) -> tuple[int, dict[str, dict[str, object]]]:
    reply = ApiClient(server.api_url).get("/readyz")
    document = reply.json()
    return reply.status, document["checks"]


def test_the_supervisor_shows_every_query_its_workers_answered(node: GslbProcess) -> None:
    before = scrape(node)
    sent = Sent()
    traffic(node, sent, both=workers(node)[0])
    after = scrape(node)
    assert counted(before, after) == sent
    assert {member for member, _ in sent.answers} == {
        "192.0.2.10",
        "198.51.100.10",
        "203.0.113.10",
        "2001:db8:10::10",
    }
    assert set(series(after, "gslb_snapshot_revision")) == {("worker-0",), ("worker-1",)}
    assert series(after, "gslb_snapshot_rebuild_duration_seconds_count")[("full",)] >= 2  # one per worker
    assert series(after, "gslb_snapshot_age_seconds")[()] > 0
    assert counted(after, scrape(node)) == Sent()  # a scrape counts nothing itself


def test_counters_never_go_backwards_when_a_worker_is_killed_and_restarted(node: GslbProcess) -> None:
    before = scrape(node)
    sent = Sent()
    traffic(node, sent, both=workers(node)[0])
    reported = scrape(node)  # each worker's counts as of now: all the dead one will leave
    assert counted(before, reported) == sent
    assert readyz(node)[0] == 200

    killed = workers(node)[1]
    restarts = len(log_lines(node, "ready", 1))
    os.kill(killed, signal.SIGKILL)
    assert wait_for(lambda: f"worker=1 pid={killed} status=SIGKILL" in node.log, timeout=10)
    # Until it listens again the node is not ready, and it shows all the dead worker had reported.
    status, checks = readyz(node)
    assert status == 503 and checks["listeners"] == {
        "ok": False,
        "detail": "1 of 2 workers listening (not worker-1)",
    }
    meanwhile = scrape(node)
    assert counted(before, meanwhile) == sent
    never_backwards(reported, meanwhile)

    assert wait_for(lambda: len(log_lines(node, "ready", 1)) == restarts + 1, timeout=30), node.log
    restarted = workers(node)[1]
    assert restarted != killed
    assert wait_for(lambda: readyz(node)[0] == 200)
    assert readyz(node)[1]["listeners"] == {"ok": True, "detail": "2 of 2 workers listening"}
    # The restarted worker counts from zero; the other is stopped for one round, so it answers some.
    traffic(node, sent, both=workers(node)[0])
    after = scrape(node)
    never_backwards(meanwhile, after)
    assert counted(before, after) == sent
    full = "gslb_snapshot_rebuild_duration_seconds_count"
    assert series(after, full)[("full",)] == series(reported, full)[("full",)] + 1  # the new worker's first
    assert set(series(after, "gslb_snapshot_revision")) == {("worker-0",), ("worker-1",)}


def test_a_scrape_waits_for_a_stopped_worker_at_most_a_second(node: GslbProcess) -> None:
    """A worker that cannot answer (stopped) shows its previous counts; the scrape still answers."""
    first = scrape(node)
    stopped = workers(node)[1]
    os.kill(stopped, signal.SIGSTOP)
    try:
        started = time.monotonic()
        late = scrape(node)
        took = time.monotonic() - started
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert 0.9 < took < 3.0, took
    never_backwards(first, late)
    assert counted(first, late) == Sent()
    assert "workers did not report their counts in time" in node.log
    never_backwards(late, scrape(node))
