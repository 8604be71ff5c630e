"""A PostgreSQL outage, on a throwaway cluster (harness/postgres.py): the cluster itself stops and
comes back with its data; a store's change announcements (gslb/store/listen.py) fall back to
polling while it is down and resume, with the marker moved, when it returns; and two nodes on it
lose no answer through the outage and converge, without a restart, when it ends."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import dns.exception
import dns.rcode
import psycopg
import pytest

from gslb.model import Site
from gslb.store import Store, open_store
from harness.gslb import GslbProcess
from harness.postgres import PostgresServer, which_postgres
from tests.integration import waiting
from tests.integration.apiclient import ApiClient
from tests.integration.conftest import ApiTokens
from tests.integration.dnsclient import ask

WWW = "www.gslb.example.test."
SETTLE = 10.0  # seconds for a listener to notice a lost or returned server (its retries back off to 5 s)
wait_for = partial(waiting.wait_for, timeout=SETTLE, interval=0.01)


@pytest.fixture
def cluster() -> Iterator[PostgresServer]:
    if which_postgres() is None:
        message = "initdb and postgres are not installed (Debian package 'postgresql')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with PostgresServer() as server:
        yield server


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_the_cluster_stops_by_its_pid_and_comes_back_with_its_data(cluster: PostgresServer) -> None:
    with psycopg.connect(libpq(cluster.url), autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (n integer)")
        connection.execute("INSERT INTO kept VALUES (7)")
    pid = cluster.pid
    cluster.stop()
    assert not cluster.accepting()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    cluster.start()
    with psycopg.connect(libpq(cluster.url), autocommit=True) as connection:
        row = connection.execute("SELECT n FROM kept").fetchone()
    assert row == (7,)


def test_announcements_fall_back_to_polling_during_an_outage_and_resume(cluster: PostgresServer) -> None:
    open_store(cluster.url).dispose()
    with Store.open(cluster.url) as reader, Store.open(cluster.url) as writer:
        assert wait_for(lambda: reader.change_marker() is not None)
        before = reader.change_marker()
        assert before is not None
        cluster.stop()
        assert wait_for(lambda: reader.change_marker() is None)  # readers now ask the revision
        cluster.start()
        assert wait_for(lambda: reader.change_marker() is not None)
        back = reader.change_marker()
        assert back is not None and back > before  # what was missed is asked for once
        writer.put_site(Site("ams"), "test")
        assert wait_for(lambda: reader.change_marker() != back)
        assert reader.revision() == writer.revision()


def answered(server: GslbProcess, seconds: float) -> tuple[int, int]:
    """Ask ``server`` for www every 10 ms for ``seconds``: (asked, answered NOERROR with an address)."""
    asked = answers = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        asked += 1
        with contextlib.suppress(dns.exception.Timeout, OSError):
            response = ask(server.host, server.port, WWW)
            answers += response.rcode() == dns.rcode.NOERROR and bool(response.answer)
        time.sleep(0.01)
    return asked, answers


def ttl_of(server: GslbProcess) -> int | None:
    response = ask(server.host, server.port, WWW)
    return response.answer[0].ttl if response.answer else None


def test_two_nodes_ride_out_an_outage_and_converge_when_it_ends(
    cluster: PostgresServer, all_zones: Path, api_tokens: ApiTokens
) -> None:
    """The shared database stops under two nodes: both keep answering from their last snapshot (none
    lost), a write is refused with 503 and a problem document, /readyz says not ready; once it is back,
    with no restart, a write through node A is in node B's answers (its announcements resumed)."""
    environ = api_tokens.environ()
    with (
        GslbProcess(all_zones, ["--db", cluster.url], host="127.0.0.1", environ=environ) as first,
        GslbProcess(all_zones, ["--db", cluster.url], host="127.0.0.2", environ=environ) as second,
    ):
        api = ApiClient(first.api_url, api_tokens.admin)
        assert api.patch("/api/v1/pools/www", {"ttl": 41}).status == 200
        assert wait_for(lambda: ttl_of(second) == 41)
        cluster.stop()
        for node in (first, second):
            asked, answers = answered(node, 1.5)
            assert answers == asked > 100
        refused = api.patch("/api/v1/pools/www", {"ttl": 42})
        assert refused.problem(503, None)["type"].endswith("/store-unavailable")
        assert wait_for(lambda: ApiClient(first.api_url).get("/readyz").status == 503)
        cluster.start()
        assert wait_for(lambda: ApiClient(first.api_url).get("/readyz").status == 200, timeout=20.0)
        assert api.patch("/api/v1/pools/www", {"ttl": 43}).status == 200
        assert wait_for(lambda: ttl_of(second) == 43)
        assert ttl_of(first) == 43
